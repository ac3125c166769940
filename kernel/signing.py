"""Signed links: a capability in the URL (a download, an image WeChat fetches) that only this service can mint."""

import hashlib
import hmac

from flask import current_app


def link_signature(*parts: object) -> str:
    """HMAC-SHA256 of the parts with SECRET_KEY; name the purpose first so one link's signature fits no other."""
    message = ":".join(str(part) for part in parts).encode()
    return hmac.new(current_app.config["SECRET_KEY"].encode(), message, hashlib.sha256).hexdigest()
