"""The readable text of an HTML page, through inscriptis: block layout, lists, tables and `<pre>`
kept as a browser lays them out; what is not the page's content left out.

Navigation, banners, footers, asides, forms, scripts and styles repeat on every page of a
manual: indexed, they fill each page's first chunk with the same words and make every page
match queries about "next", "previous" or the site's name.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ragindex.errors import SourceError

# never text: code, styling, embedded objects, and the parts of a page that are not its content
_DROPPED_TAGS = (
    "head",
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "iframe",
    "object",
    "nav",
    "aside",
    "form",
    "button",
    "select",
    "dialog",
)
# what assistive technology announces as navigation, banner, footer, sidebar or search
_DROPPED_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search")
# the navigation bars of the generators most manuals come from: DocBook XSL (navheader,
# navfooter), Publican (docnav), Sphinx (related, sphinxsidebar); breadcrumbs anywhere
_NAVIGATION_CLASSES = (
    "navheader",
    "navfooter",
    "docnav",
    "related",
    "sphinxsidebar",
    "breadcrumb",
    "breadcrumbs",
)
# Publican's (and many sites') download / product banner, the id standing for role="banner"
_NAVIGATION_IDS = ("banner",)
# a <header> or <footer> is the page's banner or footer only outside these (ARIA's rule);
# inside an article it holds the article's own title or notes, which are content
_SECTIONING = ("article", "aside", "main", "nav", "section")
# ...and even a page-level one is kept when it holds a heading that is not a link (a site's
# name is a link home) or more text than a banner's line: the UDHR's pages put the whole
# preamble in a <header>
_BANNER_CHARS = 200
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def html_text(html: str) -> str:
    """The page's title, then its visible content as a browser would lay it out."""
    from inscriptis import Inscriptis
    from inscriptis.model.config import ParserConfig
    from lxml.etree import ParserError
    from lxml.html import document_fromstring

    # lxml refuses a text string that declares its own encoding: the bytes are decoded already
    html = _XML_DECLARATION.sub("", html, count=1)
    if not html.strip():
        return ""
    try:
        tree = document_fromstring(html)
    except (ParserError, ValueError) as error:
        raise SourceError(f"HTML could not be parsed ({error})") from None
    title = " ".join((tree.findtext(".//title") or "").split())
    for element in _boilerplate(tree):
        element.drop_tree()
    config = ParserConfig(css=_layout())
    lines = [line.rstrip() for line in Inscriptis(tree, config).get_text().splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return f"{title}\n\n{text}" if title and not text.lstrip().startswith(title) else text


@lru_cache(maxsize=1)
def _layout() -> Any:
    """inscriptis' strict profile with two fixes. An element it has no rule for (`<code>`,
    `<kbd>`, `<span>`) inherits its parent's white-space handling, as in a browser: without
    this, the `<code>` that most generators put inside `<pre>` has its line breaks collapsed.
    And definition lists and sections are blocks: DocBook's tables of contents and variable
    lists are `<dl>`s, which would otherwise run together on one line."""
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.html_properties import Display
    from inscriptis.model.html_element import HtmlElement

    inheriting = HtmlElement(display=Display.inline)
    inheriting.whitespace = None  # None: take the parent's

    class Layout(dict[str, Any]):
        def get(self, tag: str, default: Any = None) -> Any:
            return super().get(tag, inheriting)

    layout = Layout(CSS_PROFILES["strict"])
    for tag in ("dl", "dt", "section", "details", "summary", "fieldset", "caption", "hr"):
        layout.setdefault(tag, HtmlElement(display=Display.block))
    layout.setdefault("dd", HtmlElement(display=Display.block, padding_inline=4))
    return layout


def _boilerplate(tree: Any) -> list[Any]:
    """The elements to leave out, outermost first (a dropped element takes its children)."""
    sectioning = " or ".join(f"ancestor::{tag}" for tag in _SECTIONING)
    classes = " or ".join(
        f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"
        for name in _NAVIGATION_CLASSES
    )
    roles = " or ".join(f"@role='{role}'" for role in _DROPPED_ROLES)
    tags = " or ".join(f"self::{tag}" for tag in _DROPPED_TAGS)
    ids = " or ".join(f"@id='{name}'" for name in _NAVIGATION_IDS)
    query = (
        f"//*[{tags} or {roles} or {classes} or {ids} or @hidden or @aria-hidden='true'"
        f" or ((self::header or self::footer) and not({sectioning}))]"
    )
    found: list[Any] = [
        element
        for element in tree.xpath(query)
        if element.tag not in ("header", "footer") or not _holds_content(element)
    ]
    # inside-out removal would detach children of elements already dropped; keep outermost
    chosen = set(found)
    return [
        element
        for element in found
        if not any(parent in chosen for parent in element.iterancestors())
    ]


def _holds_content(element: Any) -> bool:
    for heading in element.xpath(".//h1|.//h2|.//h3|.//h4|.//h5|.//h6"):
        if heading.text_content().strip() and not heading.xpath(".//a"):
            return True
    link_chars = sum(len(link.text_content().strip()) for link in element.iter("a"))
    return len(" ".join(element.text_content().split())) - link_chars > _BANNER_CHARS
