"""Post and reply text: a small markdown subset rendered from escaped text, and @mentions.

Rendering starts from fully escaped text, so no tag or attribute the author typed can reach a client; only the
constructs below are turned back into markup, and links only for http(s) URLs.
"""

import re
from html import escape

MENTION_RE = re.compile(r"(?<![\w@])@([^\W\d_]\w{2,19})")
MAX_MENTIONS = 10

_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")
_ITALIC = re.compile(r"(?<!\*)\*([^*\n]+)\*(?!\*)")
_LINK = re.compile(r"\[([^\]\n]{1,200})\]\((https?://[^\s)]{1,500})\)")
_ESCAPED_MENTION = re.compile(r"(?<![\w@;/])@([^\W\d_]\w{2,19})")


def mentioned_usernames(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for match in MENTION_RE.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)[:MAX_MENTIONS]


def _inline(line: str) -> str:
    codes: list[str] = []

    def stash(match: re.Match) -> str:
        codes.append(f"<code>{match.group(1)}</code>")
        return f"\x00{len(codes) - 1}\x00"

    line = _CODE.sub(stash, line)  # code spans are literal: no markup inside them
    line = _LINK.sub(r'<a href="\2" rel="nofollow noopener noreferrer" target="_blank">\1</a>', line)
    line = _BOLD.sub(r"<strong>\1</strong>", line)
    line = _ITALIC.sub(r"<em>\1</em>", line)
    line = _ESCAPED_MENTION.sub(r'<span class="mention">@\1</span>', line)
    return re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], line)


def render_html(text: str) -> str:
    paragraphs = re.split(r"\n\s*\n", text.strip())
    rendered = []
    for paragraph in paragraphs:
        lines = [_inline(escape(line, quote=True)) for line in paragraph.splitlines()]
        rendered.append("<p>" + "<br>".join(lines) + "</p>")
    return "".join(rendered)


def excerpt(text: str, length: int = 120) -> str:
    flat = re.sub(r"\s+", " ", re.sub(r"[*`]|\[([^\]]*)\]\([^)]*\)", r"\1", text)).strip()
    return flat if len(flat) <= length else flat[: length - 1] + "…"
