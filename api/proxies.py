"""Client addresses behind reverse proxies, trusting X-Forwarded-For only from configured proxies.

Rate limits key on the client address, so a header anyone can send must not choose it. Like nginx's
`real_ip_recursive`, the forwarded chain is read from the right, skipping trusted proxies; the first address that
is not a trusted proxy is the client. With no TRUSTED_PROXIES (the default) the headers are ignored.
"""

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str) -> list[Network]:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()]


class TrustedProxies:
    def __init__(self, app, networks: Iterable[Network]) -> None:
        self.app = app
        self.networks = list(networks)

    def _trusted(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in net for net in self.networks)

    def __call__(self, environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR", "")
        if self.networks and self._trusted(peer):
            hops = [h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
            client = peer
            for hop in reversed(hops):
                if _ip(hop) is None:  # garbage in the chain: stop at the last proxy we trust
                    break
                client = hop
                if not self._trusted(hop):
                    break
            environ["REMOTE_ADDR"] = client
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None
