"""Find a page's own content in an lxml tree, whatever generator made it.

Landmarks first (main, [role=main], article). Without one the whole body is the candidate.
Either way site chrome is removed by structure (nav/header/footer/aside...), by well-known
class/id names (nav, menu, sidebar, toc, breadcrumb, footer, pagination, search, cookie...),
and, without a landmark, by link density at the edges of the page (a banner or a link list
before the first paragraph or after the last one). Each rule has a guard so that, when
unsure, more is kept rather than less: a named block holding most of the page's text is
kept unless it is mostly links, and a link list introduced by a heading is content.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
NOISE_TAGS = {
    "nav",
    "header",
    "footer",
    "aside",
    "script",
    "style",
    "noscript",
    "form",
    "iframe",
    "svg",
    "template",
    "button",
    "select",
    "input",
    "textarea",
    "link",
    "meta",
    "dialog",
}
# An article's own <header> often holds its title (<article><header><h1>), and some sites wrap
# the whole page in a <form>; those are content, not chrome.
KEEP_IF_HOLDS = {"header": HEADINGS, "form": ("h1",)}
# An <aside> is a sidebar, except a callout in the text: Astro Starlight writes its notes as
# <aside class="starlight-aside starlight-aside--caution">. Words of the class/id names.
CALLOUT_WORDS = {"admonition", "callout", "note", "tip", "hint", "important", "warning", "caution", "danger"}
BANNER_RE = re.compile(
    r"(cookie|consent)[-_ ]?(banner|notice|bar|popup|modal|dialog|law|policy|consent|message|box)"
    r"|onetrust|cookiebot|gdpr|cc-window|cc-banner|cookie-?law|truste",
    re.I,
)
# Words of class/id names that mark chrome in the common generators' themes (see
# shared/notes/docs-generators.md). Matched as whole words of the name ("md-sidebar",
# "navFooter", "wy-nav-side"), or as the end of one ("sphinxsidebar").
CHROME_WORDS = {
    "nav",
    "navbar",
    "navigation",
    "navheader",
    "navfooter",
    "navlinks",
    "subnav",
    "sidenav",
    "topnav",
    "menu",
    "menubar",
    "sidebar",
    "toc",
    "breadcrumb",
    "breadcrumbs",
    "header",
    "footer",
    "banner",
    "masthead",
    "topbar",
    "pagination",
    "pager",
    "search",
    "searchbox",
    "cookie",
    "cookies",
    "related",
    "skiplink",
    "versioninfo",
    "prevnext",
}
CHROME_SUFFIXES = ("sidebar", "navbar", "navigation", "breadcrumbs", "searchbox")
# Hugo Docsy renders its "Was this page helpful?" block (classes "feedback--title", ...) and
# "Last modified ..." line (td-page-meta__lastmod) inside the page's content element. A skip
# link is "VPSkipLink" in VitePress (read as the words VP, Skip, Link), "skip-link" elsewhere; on
# a VitePress home page (no <main>) it sits in the body the content is taken from.
CHROME_PHRASES = (
    "edit-this-page",
    "book-summary",
    "on-this-page",
    "skip-to",
    "skiplink",
    "skip-link",
    "feedback--",
    "page-meta__lastmod",
)
_WORD_RE = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# Blocks whose text is mostly link text are navigation when they sit at the page's edges.
LINK_DENSITY = 0.6
# A paragraph with this much text of its own (outside links) is content.
PROSE_CHARS = 40
FOOTER_RE = re.compile(r"©|&copy;|\bcopyright\b|all rights reserved", re.I)
FOOTER_CHARS = 300


def hidden_or_banner(attrs, id_and_class: str) -> bool:
    """Hidden elements and cookie/consent banners: never content, in lxml or bs4 trees alike.
    A tab panel is hidden only until its tab is picked (Starlight and Docusaurus render every
    panel but the first with `hidden`): it is content."""
    hidden = "hidden" in attrs or "display:none" in attrs.get("style", "").replace(" ", "")
    return (
        (hidden and attrs.get("role") != "tabpanel")
        or attrs.get("aria-hidden") == "true"
        or bool(BANNER_RE.search(id_and_class))
    )


def is_noise(tag: str, attrs, id_and_class: str, holds: Callable[[tuple[str, ...]], bool]) -> bool:
    """The noise rules, for lxml (strip_chrome) and bs4 (convert's main_selector path) alike:
    a noise tag unless it holds what makes it content (`holds(names)`: a descendant with one
    of these tag names) or is a callout, a hidden element, a cookie banner."""
    if tag in NOISE_TAGS:
        if tag == "aside" and is_callout(id_and_class) and not chrome_name(id_and_class):
            return False
        keep = KEEP_IF_HOLDS.get(tag)
        return not (keep and holds(keep))
    if tag == "section" and holds(HEADINGS):
        # A heading's section is named after it (Sphinx: "is-marram-gdpr-compliant" of an FAQ
        # entry on the held-out marram site), not after a banner: only its classes can be.
        classes = attrs.get("class") or ""
        id_and_class = " ".join(classes) if isinstance(classes, list) else classes
    return bool(attrs) and hidden_or_banner(attrs, id_and_class)


@functools.lru_cache(maxsize=1024)
def is_callout(id_and_class: str) -> bool:
    return any(word.lower() in CALLOUT_WORDS for word in _WORD_RE.findall(id_and_class))


def chrome_phrase(id_and_class: str) -> bool:
    lowered = id_and_class.lower()
    return any(p in lowered for p in CHROME_PHRASES)


@functools.lru_cache(maxsize=4096)  # themes repeat the same few class strings on every page
def chrome_name(id_and_class: str) -> bool:
    if chrome_phrase(id_and_class):
        return True
    for word in _WORD_RE.findall(id_and_class):
        word = word.lower()
        if word in CHROME_WORDS or word.endswith(CHROME_SUFFIXES):
            return True
    return False


def find_main(doc):
    """(content element, how it was found: 'landmark' | 'body')."""
    for el in (doc.find(".//main"), next(iter(doc.xpath("//*[@role='main']")), None), sole_article(doc)):
        if el is not None:
            return el, "landmark"
    body = doc.find("body")
    return (body if body is not None else doc), "body"


def sole_article(doc):
    """The page's <article>, if it has one. Several side by side are cards, not the content: a
    VitePress home page has no <main>, and each of its feature boxes is an <article class="box">,
    so the first of them held one card's two lines and the rest of the page was lost."""
    articles = doc.xpath("//article[not(ancestor::article or ancestor::aside or ancestor::nav or ancestor::footer)]")
    return articles[0] if len(articles) == 1 else None


def text_len(el) -> int:
    return sum(map(len, el.text_content().split()))  # non-space characters; split is C, a regex was not


def link_len(el) -> int:
    return sum(text_len(a) for a in el.iter("a"))


def _titled(el) -> bool:
    """Holds a heading whose text is not a link (a page title, not a logo link)."""
    for h in el.iter(*HEADINGS):
        own = text_len(h)
        if own and link_len(h) < own:
            return True
    return False


def _lxml_holds(el: Any, names: tuple[str, ...]) -> bool:
    return any(el.find(f".//{h}") is not None for h in names)


def strip_chrome(root, how: str) -> None:
    """Remove chrome from `root` in place (tail text of removed elements is kept)."""
    total = max(1, text_len(root))
    doomed = []
    skip: set = set()  # a doomed element's descendants need no look
    in_heading: set = set()  # names inside a heading style it ("a.header" in mdBook)
    for el in root.iter():
        if el in skip:
            continue
        tag = el.tag
        if not isinstance(tag, str):
            doomed.append(el)  # comments, processing instructions
            continue
        if el is root:
            continue
        attrs = el.attrib
        names = (attrs.get("id", "") + " " + attrs.get("class", "")) if attrs else ""
        if _is_code_label(el):
            doomed.append(el)
            continue
        if tag in HEADINGS:
            # "section-header" on a heading names its style, not the site's header; a chrome
            # phrase names the heading itself (Docsy's "Feedback" heading, "feedback--title").
            if names.strip() and chrome_phrase(names):
                doomed.append(el)
                skip.update(el.iterdescendants())
            else:
                in_heading.update(el.iterdescendants())
            continue
        if tag == "figcaption" and not is_noise(tag, attrs, names, functools.partial(_lxml_holds, el)):
            # A figure's caption is content whatever its class says: Expressive Code (Astro
            # Starlight) titles a code block with the file it belongs in, <figcaption class="header">.
            in_heading.update(el.iterdescendants())  # named for their style, as in a heading
            continue
        if is_noise(tag, attrs, names, functools.partial(_lxml_holds, el)):
            pass  # hidden, a banner or a noise tag: whatever its names, as in the main_selector path
        elif (
            tag in NOISE_TAGS
            or not names.strip()
            or el in in_heading
            or not (chrome_name(names) and _chrome_by_name_ok(el, total))
        ):
            continue
        doomed.append(el)
        skip.update(el.iterdescendants())
    for el in doomed:
        if el.getparent() is not None:
            el.drop_tree()
    if how == "body":
        _prune_link_edges(root)


def _is_code_label(el) -> bool:
    """The language tag a theme prints over a code block (VitePress: `<span class="lang">sh</span>`
    just before the `<pre>`): a caption of the block, which keeps its language in the fence."""
    if el.tag != "span" or "lang" not in el.get("class", "").split():
        return False
    following = el.getnext()
    return following is not None and following.tag == "pre"


def _inside(el, ancestor) -> bool:
    parent = el.getparent()
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.getparent()
    return False


def _chrome_by_name_ok(el, total: int) -> bool:
    """A chrome-named block is dropped unless it looks like the content after all."""
    if el.tag in ("body", "html"):
        return False
    n = text_len(el)
    if n == 0:
        return True
    mostly_links = link_len(el) > n * 0.5
    if _titled(el) and not mostly_links:
        return False  # e.g. <div class="header"><h1>Class Foo</h1></div>
    return mostly_links or n < total * 0.5


_BLOCKS = {"div", "ul", "ol", "table", "p", "section", "td", "tr", "tbody", "dl", "span", "center", "font"}
_PROSE_TAGS = {"p", "pre", "blockquote", "dd", "li", "td"}


def _is_prose(el) -> bool:
    if el.tag == "pre":
        return True
    if el.tag not in _PROSE_TAGS:
        return False
    n = text_len(el)
    return n - link_len(el) >= PROSE_CHARS and not _is_footer_line(el, n)


def _is_footer_line(el, n: int) -> bool:
    """A short block with a copyright notice: the page footer of a site without landmarks."""
    return n < FOOTER_CHARS and bool(FOOTER_RE.search(el.text_content()))


def _prune_link_edges(root) -> None:
    """Drop link-dense blocks that lie before the first or after the last prose block."""
    elements = [el for el in root.iter() if isinstance(el.tag, str)]
    prose = [i for i, el in enumerate(elements) if _is_prose(el)]
    if not prose:
        return
    first, last = prose[0], prose[-1]
    position = {id(el): i for i, el in enumerate(elements)}
    ends = list(range(len(elements)))  # index of each element's last descendant
    for i in range(len(elements) - 1, -1, -1):
        children = [c for c in elements[i] if isinstance(c.tag, str)]
        if children:
            ends[i] = ends[position[id(children[-1])]]
    doomed: list[Any] = []  # lxml elements
    for i, el in enumerate(elements):
        if el is root or el.tag not in _BLOCKS or (doomed and i <= ends[position[id(doomed[-1])]]):
            continue
        if not (ends[i] < first or i > last):
            continue
        n = text_len(el)
        if n and i > last and _is_footer_line(el, n):
            doomed.append(el)
            continue
        if n == 0 or link_len(el) < n * LINK_DENSITY or sum(1 for _ in el.iter("a")) < 2:
            continue
        prev = el.getprevious()
        if prev is not None and prev.tag in HEADINGS and i > last:
            continue  # "See also" under its own heading is content
        doomed.append(el)
    for el in doomed:
        if el.getparent() is not None:
            el.drop_tree()


def visible_text_len(doc) -> int:
    """Characters of visible text of the whole page (chrome included), whitespace excluded."""
    body = doc.find("body")
    target = body if body is not None else doc
    skip = sum(text_len(el) for el in target.iter("script", "style", "noscript", "template"))
    return max(0, text_len(target) - skip)
