"""Post and reply text: a markdown subset rendered by markdown-it-py with HTML disabled, then cleaned by nh3 against
an allow-list, and @mentions.

What an author types as HTML stays text (markdown-it escapes it); the rendered subset is paragraphs and line
breaks, bold, italic, inline code, code blocks, quotes, lists and http(s) links; nh3 then keeps only those tags,
only `href` on links (http and https), and only the mention class, whatever the renderer produced.
"""

import functools
import re

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_inline import StateInline

MENTION_RE = re.compile(r"(?<![\w@])@([^\W\d_]\w{2,19})")
MAX_MENTIONS = 10
_MENTION_AT = re.compile(r"@([^\W\d_]\w{2,19})")

ALLOWED_TAGS = {"p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "span"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {"a": {"href"}, "ol": {"start"}}  # and span's mention class


def _mention(state: StateInline, silent: bool) -> bool:
    """@name (not inside a word or an e-mail address) becomes a mention."""
    start = state.pos
    if state.src[start] != "@" or (start > 0 and (state.src[start - 1].isalnum() or state.src[start - 1] in "_@")):
        return False
    found = _MENTION_AT.match(state.src, start)
    if not found:
        return False
    if not silent:
        token = state.push("mention", "span", 0)
        token.content = found.group(1)
    state.pos = found.end()
    return True


def _markdown() -> MarkdownIt:
    md = MarkdownIt("zero", {"html": False, "breaks": True, "linkify": False, "typographer": False})
    md.enable(["emphasis", "backticks", "link", "escape", "newline", "entity", "blockquote", "list", "fence", "code"])
    md.inline.ruler.before("emphasis", "mention", _mention)
    md.add_render_rule(
        "mention",
        lambda self, tokens, idx, options, env: f'<span class="mention">@{escapeHtml(tokens[idx].content)}</span>',
    )
    return md


_MD = _markdown()


def mentioned_usernames(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for match in MENTION_RE.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)[:MAX_MENTIONS]


_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https"},
    link_rel="nofollow noopener noreferrer",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    allowed_classes={"span": {"mention"}},
)


@functools.lru_cache(maxsize=256)
def render_html(text: str) -> str:
    """Markdown to safe HTML. A pure function of the text, so the posts and floors being read right now are
    rendered once per process, not once per view."""
    return _CLEANER.clean(_MD.render(text)).strip()


_MARKUP = re.compile(r"[*`]|\[([^\]]*)\]\([^)]*\)")  # emphasis and code marks; a link keeps its text
_SPACE = re.compile(r"\s+")


@functools.lru_cache(maxsize=256)
def excerpt(text: str, length: int = 120) -> str:
    """The text's start as one plain line. Cached like `render_html`: every list shows the same posts' excerpts."""
    flat = _SPACE.sub(" ", _MARKUP.sub(r"\1", text)).strip()
    return flat if len(flat) <= length else flat[: length - 1] + "…"
