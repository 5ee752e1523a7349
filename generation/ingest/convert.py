"""HTML -> Markdown (lxml finds the content, beautifulsoup4 + markdownify render it). Pages
served as Markdown take the other path: markdown_source.py.

Both return (markdown, heading_ids, title). `heading_ids` has one entry per ATX heading of
the returned Markdown, in order, as markdown_blocks.parse_blocks sees them (the chunker
uses the same parser, so the two always line up): the site's own anchor where the page
has one, else a GitHub-style slug.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from docs2qa.errors import Docs2qaError
from docs2qa.generation.ingest import fast_markdownify
from docs2qa.generation.ingest.config import ConvertConfig
from docs2qa.generation.ingest.main_content import (
    HEADINGS,
    find_main,
    is_noise,
    strip_chrome,
    visible_text_len,
)
from docs2qa.generation.ingest.markdown_blocks import (
    CONTROL_RE,
    MARK,
    MARK_RE,
    absolute_link,
    fence_closes,
    fence_open,
    parse_blocks,
    split_lines,
)
from docs2qa.generation.ingest.soup_from_lxml import soup_for

_ANCHOR_ATTR = "data-docs2qa-anchor"
_PERMALINK_CLASSES = {
    "headerlink",
    "anchor",
    "anchorjs-link",
    "header-anchor",
    "heading-anchor",
    "hash-link",
    "anchor-link",
    "permalink",
    "heading-link",
}
_PERMALINK_TEXT = {"", "¶", "#", "§", "🔗", "link", "permalink"}
_LANG_CLASS_RE = re.compile(r"^(?:language|lang|highlight(?:-source)?)-([\w+#.\-]+)$", re.I)
_NOT_A_LANGUAGE = {"default", "none", "nohighlight"}
_LAYOUT_CELL_CONTENT = ("table", "pre", "blockquote", *HEADINGS)
_WS_RE = re.compile(r"\s+")
# Deeper elements are unwrapped (their text kept): libxml2 stops at 256 levels unless told
# otherwise, and markdownify recurses a few Python frames per level.
MAX_DEPTH = 80
_WRAPPERS = {
    "div",
    "span",
    "section",
    "article",
    "main",
    "font",
    "center",
    "small",
    "big",
    "b",
    "i",
    "u",
    "em",
    "strong",
    "tt",
    "nobr",
    "blockquote",
}
# Text that would start a Markdown block when it begins a line (after a <br> in a DocBook
# literallayout, say): a heading, a fence, a quote, a list item, a setext underline, a table row.
_BLOCK_START_RE = re.compile(
    r"^([ \t]*)(#{1,6}(?=\s|$)|~{3,}|`{3,}|>|[-+*](?=\s|$)|\d{1,9}[.)](?=\s|$)|=+[ \t]*$|-+[ \t]*$|\|)", re.M
)


@dataclass
class Converted:
    markdown: str
    heading_ids: list[str]
    title: str
    visible_chars: int = 0  # visible text of the whole page, chrome included (whitespace excluded)
    kept_chars: int = 0  # text of the converted main content (whitespace excluded)
    title_from_tag: bool = False  # the page has no h1 in its content: the title is <title>'s text
    page_title: str = ""  # <title>, for learning the site's own title affixes


# ----------------------------------------------------------------------------------- HTML


def html_to_markdown(html: str | bytes, url: str, cfg: ConvertConfig) -> tuple[str, list[str], str]:
    c = convert_html(html, url, cfg)
    return c.markdown, c.heading_ids, c.title


def warm_up() -> None:
    """Load what converting needs (lxml, bs4, markdownify, their per-name tables) by converting
    a tiny page: worker processes forked after this start with it all in memory."""
    convert_html("<main><h1>x</h1><p>x</p><pre>x</pre><table><tr><td>x</td></tr></table></main>", "", ConvertConfig())


def convert_html(html: str | bytes, url: str, cfg: ConvertConfig) -> Converted:
    """One lxml pass finds the content and cuts away chrome; bs4 objects are then made only for
    what will be converted (straight from the lxml nodes), and markdownify renders them."""
    doc = _parse(html)
    if doc is None:
        return Converted("", [], "")
    _flatten_deep(doc)
    visible = visible_text_len(doc)
    _unfold_widgets(doc)
    page_title = _WS_RE.sub(" ", doc.findtext(".//title") or "").strip()
    root = None
    if cfg.main_selector:
        _mark_headings(doc)
        soup, _ = soup_for(doc)
        root = _select_main(soup, cfg)
        if root is not None:
            _drop_noise(root, cfg, generic=True)
    if root is None:
        main, how = find_main(doc)
        for pre in list(main.iter("pre")):  # first: code's many token spans need no look after
            _flatten_pre(pre)
        strip_chrome(main, how)
        _mark_headings(main)
        _, root = soup_for(main)
        _drop_noise(root, cfg, generic=False)
    h1 = _first(root, ("h1",))
    title = _WS_RE.sub(" ", h1.get_text(" ", strip=True)).strip() if h1 is not None else ""
    markdown = _converter(url).convert_root(root)
    markdown, ids = _finish(markdown)
    return Converted(
        markdown,
        ids,
        title or page_title,
        visible,
        sum(map(len, markdown.split())),
        title_from_tag=not title and bool(page_title),
        page_title=page_title,
    )


def _select_main(soup, cfg: ConvertConfig):
    try:
        return soup.select_one(cfg.main_selector)
    except Exception as exc:  # soupsieve raises its own SelectorSyntaxError
        raise Docs2qaError(
            f"convert.main_selector {cfg.main_selector!r} is not a valid CSS selector: {exc}",
            "use a CSS selector such as 'div.content' or '#main'",
        ) from exc


def _decode(html: str | bytes) -> str:
    if isinstance(html, str):
        return html
    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        from bs4.dammit import UnicodeDammit

        return UnicodeDammit(html, is_html=True).unicode_markup or html.decode("latin-1")


def _parse(html: str | bytes):
    """The page as an lxml tree (no depth limit), or None when there is nothing to parse."""
    import lxml.html
    from lxml import etree

    text = re.sub(r"^\s*<\?xml[^>]*>", "", _decode(html)).replace(MARK, "")
    text = CONTROL_RE.sub("", text)
    if not text.strip():
        return None
    try:
        return lxml.html.document_fromstring(text, parser=lxml.html.HTMLParser(huge_tree=True))
    except (ValueError, etree.ParserError):
        return None


_DEEP_XPATH = "count(/*" + "/*" * MAX_DEPTH + ")"


def _flatten_deep(doc) -> None:
    from lxml import etree

    if not doc.xpath(_DEEP_XPATH):  # the common case, answered in C
        return

    deep, kept = [], [False]  # whether each open element stays (counts towards the depth)
    depth = 0
    for event, el in etree.iterwalk(doc, events=("start", "end")):
        if event == "end":
            depth -= kept.pop()
            continue
        # Wrappers go first; past three times the limit anything does, text kept in order.
        drop = depth >= MAX_DEPTH and isinstance(el.tag, str) and (el.tag in _WRAPPERS or depth >= 3 * MAX_DEPTH)
        if drop:
            deep.append(el)
        kept.append(not drop)
        depth += not drop
    for el in reversed(deep):
        el.drop_tag()


def _unfold_widgets(doc) -> None:
    """What a browser shows of a page's widgets, written out for a reader of text: code lines that
    are elements, tab panels with their labels, callout titles that are hidden from screen readers
    only, captions without their text for screen readers. Before the content is looked for, so
    both ways of finding it get the same page."""
    for pre in doc.iter("pre"):
        _break_code_lines(pre)
    for caption in doc.iter("figcaption"):
        # An untitled terminal frame of Expressive Code is captioned "Terminal window" for screen
        # readers only: it would read as a line of the page above the code.
        for el in caption.xpath(".//*[@class]"):
            if _SCREEN_READER_ONLY.intersection(el.get("class").split()) and el.getparent() is not None:
                el.drop_tree()
    for tablist in doc.xpath("//*[@role='tablist']"):
        _label_tab_panels(tablist)
    for el in doc.xpath("//*[@aria-hidden='true'][../@aria-label]"):
        # Starlight's callout title: <aside aria-label="Caution"><p aria-hidden="true">Caution</p>;
        # the label is read out from the aside, the text is what the page shows.
        text = _WS_RE.sub(" ", el.text_content()).strip()
        if text and text == _WS_RE.sub(" ", el.getparent().get("aria-label", "")).strip():
            del el.attrib["aria-hidden"]


_LINE_TAGS = {"div", "p"}
_SCREEN_READER_ONLY = {"sr-only", "visually-hidden", "visuallyhidden", "screen-reader-text"}


def _break_code_lines(pre) -> None:
    """Expressive Code (Astro Starlight) writes each line of a code block as an element, <div
    class="ec-line">, in the <code> with nothing between them: a browser shows them one under the
    other, text_content() glues them into one line. A newline goes after every line that lacks one."""
    code = pre.find("code")
    lines = [c for c in (code if code is not None else pre) if isinstance(c.tag, str)]
    if not any(line.tag in _LINE_TAGS for line in lines):
        return
    for line in lines[:-1]:
        tail = line.tail or ""
        if line.tag in _LINE_TAGS and not tail.startswith("\n") and not line.text_content().endswith("\n"):
            line.tail = "\n" + tail


def _label_tab_panels(tablist) -> None:
    """Tabs (Starlight's <starlight-tabs>, Docusaurus's tabs) keep each panel's label in a list of
    their own, apart from the panels. Each label goes to the top of its panel as a paragraph and the
    list goes: "curl, then its code; Python, then its code". A panel is found by the ids that tie
    it to its tab (aria-controls, the tab's href, the panel's aria-labelledby), else by order among
    the panels of the nearest element around the list that has any; unless every tab finds one,
    nothing changes."""
    from lxml import etree

    tabs = tablist.xpath(".//*[@role='tab']")
    box = tablist.getparent()
    panels: list[Any] = []  # lxml elements
    while box is not None and not panels:
        panels = box.xpath(".//*[@role='tabpanel']")
        box = box.getparent()
    outer = set(panels)
    panels = [p for p in panels if not any(a in outer for a in p.iterancestors())]  # not nested tabs'
    if not tabs or not panels:
        return
    by_id = {p.get("id"): p for p in panels if p.get("id")}
    by_label = {p.get("aria-labelledby"): p for p in panels if p.get("aria-labelledby")}
    chosen = []
    for tab in tabs:
        href = tab.get("href") or ""
        target = by_id.get(tab.get("aria-controls") or (href[1:] if href.startswith("#") else ""))
        chosen.append(target if target is not None else by_label.get(tab.get("id")))
    if None in chosen or len(set(map(id, chosen))) < len(chosen):
        if len(tabs) != len(panels):
            return
        chosen = panels
    for tab, panel in zip(tabs, chosen, strict=True):
        label = _WS_RE.sub(" ", tab.text_content()).strip()
        if label:
            p = etree.Element("p")
            p.text, p.tail, panel.text = label, panel.text, None
            panel.insert(0, p)
    tablist.drop_tree()


def _flatten_pre(pre) -> None:
    """Highlighted code is a tag per token; only its text (and the language) is converted, so
    bs4 need not build those tags."""
    from lxml import etree

    if len(pre) == 0:
        return
    for br in pre.iter("br"):
        br.tail = "\n" + (br.tail or "")
    text = pre.text_content()
    code = pre.find("code")
    keep = (
        {k: v for k, v in code.attrib.items() if k in ("class", "data-lang", "data-language")}
        if code is not None
        else {}
    )
    tail = pre.tail
    del pre[:]  # in C: a Python loop over the token spans cost more than the rest of the page
    if keep:
        pre.text = None
        etree.SubElement(pre, "code", keep).text = text
    else:
        pre.text = text
    pre.tail = tail


def _soup_holds(el: Any, names: tuple[str, ...]) -> bool:
    return el.find(names) is not None


def _drop_noise(root, cfg: ConvertConfig, generic: bool = True) -> None:
    doomed = []
    # The same noise rules strip_chrome applies to the lxml tree (main_content.is_noise).
    for el in root.find_all(True) if generic else ():
        attrs = el.attrs
        names = " ".join([attrs.get("id", ""), *attrs.get("class", ())]) if attrs else ""
        if is_noise(el.name, attrs, names, functools.partial(_soup_holds, el)):
            doomed.append(el)
    for selector in cfg.drop_selectors:
        try:
            doomed.extend(root.select(selector))
        except Exception as exc:
            raise Docs2qaError(f"convert.drop_selectors entry {selector!r} is not a valid CSS selector: {exc}") from exc
    for el in doomed:
        if not el.decomposed:
            el.decompose()


_CARD_BLOCKS = (*HEADINGS, "p", "div", "article", "section", "ul", "ol", "table", "pre", "blockquote")


def _is_permalink(a) -> bool:
    href = a.get("href", "")
    if not href.startswith("#"):
        return False
    classes = set((a.get("class") or "").split())
    return bool(classes & _PERMALINK_CLASSES) or _WS_RE.sub("", a.text_content()) in _PERMALINK_TEXT


def _mark_headings(root) -> None:
    """Find each heading's anchor id (own id, an <a> in or just before it, a permalink, a
    wrapping <section id>) and stash it on the tag; permalink icons are removed, a heading's and
    a term's (<dt>) alike (lxml tree)."""
    for h in root.iter(*HEADINGS):
        anchor = h.get("id", "")
        self_link = ""
        for a in list(h.iter("a")):
            anchor = anchor or a.get("id", "") or a.get("name", "")
            href = a.get("href", "")
            if href.startswith("#") and len(href) > 1:
                self_link = self_link or unquote(href[1:])
            if _is_permalink(a):
                a.drop_tree()
        if not anchor:
            prev = h.getprevious()
            if prev is not None and prev.tag in ("a", "span") and not prev.text_content().strip():
                anchor = prev.get("id", "") or prev.get("name", "")
        anchor = anchor or self_link
        if not anchor:
            parent = h.getparent()
            if parent is not None and parent.tag in ("section", "div") and parent.get("id"):
                first = next((c for c in parent if isinstance(c.tag, str)), None)
                if first is h:
                    anchor = parent.get("id")
        if anchor:
            h.set(_ANCHOR_ATTR, anchor.strip())
    # A term or signature's permalink is chrome too: Sphinx puts one in every glossary term and
    # API object (<dt>), and "E.164¶" read as the term (held-out marram site's glossary).
    for dt in root.iter("dt"):
        for a in list(dt.iter("a")):
            if _is_permalink(a):
                a.drop_tree()


def _converter(url: str, base=None):
    """A converter for the page at `url`; `base` is markdownify's class to build on (tests
    compare the fast walk with markdownify's own)."""
    converter = _converter_class(base or fast_markdownify.base_class())(
        heading_style="atx",
        bullets="-",
        escape_asterisks=False,
        escape_underscores=False,
        escape_misc=False,
        wrap=True,  # with no width: collapses the HTML source's line breaks inside paragraphs
        wrap_width=None,
        strip_document=None,
    )
    converter.url = url
    return converter


@functools.lru_cache(maxsize=4)
def _converter_class(base):
    from markdownify import chomp

    class Converter(base):
        """markdownify with docs2qa's rules for headings, links, images, code and tables."""

        url = ""

        def process_tag(self, node, parent_tags=None):
            # Code and tables are rendered from the element itself; converting their
            # children first (as markdownify does) would be wasted work.
            if node.name == "pre":
                return self._pre(node, parent_tags or set())
            if node.name == "table":
                return self._table(node, parent_tags or set())
            return super().process_tag(node, parent_tags)

        def convert_hN(self, n, el, text, parent_tags):
            if "_inline" in parent_tags:
                return text
            text = _WS_RE.sub(" ", text).strip()
            if not text:
                return ""
            return f"\n\n{'#' * min(n, 6)} {text}{MARK}{el.get(_ANCHOR_ATTR, '')}{MARK}\n\n"

        def convert_p(self, el, text, parent_tags):
            out = super().convert_p(el, text, parent_tags)
            # A paragraph whose text looks like Markdown syntax ('# ', '~~~') must stay text.
            return _escape_block_starts(out) if out else out

        def process_text(self, el, parent_tags=None):
            out = super().process_text(el, parent_tags)
            # After a <br> the text begins a line (DocBook literallayout, addresses, poems).
            if out and "_noformat" not in parent_tags:
                prev = el.previous_sibling
                if prev is not None and getattr(prev, "name", None) == "br":
                    out = _escape_block_starts(out)
            return out

        def convert_a(self, el, text, parent_tags):
            if "_noformat" in parent_tags or any(h in parent_tags for h in HEADINGS):
                return text
            if el.find(_CARD_BLOCKS) is not None:
                # A card: a link around a heading and a paragraph (VitePress's home features,
                # landing-page tiles). `[## Title\n\nText](url)` is no Markdown; its blocks stay.
                return text
            prefix, suffix, text = chomp(text)
            if not text:
                return ""
            previous = el.previous_sibling
            if not prefix and previous is not None and previous.name == "a":
                # Links side by side with nothing between them (Starlight's hero buttons): a
                # browser shows two buttons, `[A](x)[B](y)` would read as one word "AB".
                prefix = " "
            href = (el.get("href") or "").strip()
            if not href or href.lower().startswith(("javascript:", "data:", "vbscript:")):
                return prefix + text + suffix
            href = absolute_link(href, self.url)
            if text == href:
                return f"{prefix}<{href}>{suffix}"
            # A link's title attribute is a tooltip, not text of the page: it is left out.
            return f"{prefix}[{text}]({href}){suffix}"

        def convert_label(self, el, text, parent_tags):
            # Tab labels sit side by side with nothing between them (VitePress code groups:
            # <input><label>PostgreSQL</label><input><label>MySQL</label>): keep them words apart.
            return f"{text.strip()} " if text.strip() else text

        def convert_img(self, el, text, parent_tags):
            alt = _WS_RE.sub(" ", el.get("alt") or "").strip()
            src = (el.get("src") or el.get("data-src") or "").strip()
            if "_inline" in parent_tags or not src or src.startswith("data:"):
                return alt
            if not alt:
                return ""  # a decorative image says nothing to a reader of text
            return "![{}]({})".format(alt.replace("]", r"\]"), absolute_link(src, self.url))

        def convert_td(self, el, text, parent_tags):
            return text

        convert_th = convert_td

        def _pre(self, el, parent_tags):
            for br in [d for d in el.descendants if d.name == "br"]:
                br.replace_with("\n")
            code = el.get_text().strip("\n").rstrip()
            if not code.strip():
                return ""
            if "_inline" in parent_tags:
                return self.convert_code(el, _WS_RE.sub(" ", code), parent_tags - {"_noformat"})
            longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=0)
            fence = "`" * max(3, longest + 1)
            return f"\n\n{fence}{_code_language(el)}\n{code}\n{fence}\n\n"

        def _table(self, el, parent_tags):
            rows = [[c for c in tr.contents if c.name in ("td", "th")] for tr in _own_rows(el, [])]
            rows = [r for r in rows if r]
            cells = [c for r in rows for c in r]
            if not cells:
                return ""
            if "_inline" in parent_tags:  # a table inside a table cell: flatten it
                return " " + " ".join(self._cell_text(c, parent_tags) for c in cells) + " "
            if len(cells) == 1 or _first(el, _LAYOUT_CELL_CONTENT) is not None:
                # A layout table: its cells are page content, not data.
                parts = []
                for cell in cells:
                    cell.name = "div"
                    parts.append(super().process_tag(cell, parent_tags).strip())
                return "\n\n" + "\n\n".join(p for p in parts if p) + "\n\n"
            grid = []
            for row in rows:
                line = []
                for cell in row:
                    line.append(self._cell_text(cell, parent_tags))
                    span = cell.get("colspan", "1")
                    line.extend([""] * (min(int(span), 50) - 1 if span.isdigit() and int(span) > 1 else 0))
                grid.append(line)
            width = max(len(r) for r in grid)
            grid = [r + [""] * (width - len(r)) for r in grid]
            lines = ["| " + " | ".join(grid[0]) + " |", "|" + "|".join(["---"] * width) + "|"]
            lines += ["| " + " | ".join(r) + " |" for r in grid[1:]]
            caption = _first(el, ("caption",))
            head = _WS_RE.sub(" ", caption.get_text(" ", strip=True)) + "\n\n" if caption is not None else ""
            return "\n\n" + head + "\n".join(lines) + "\n\n"

        def _cell_text(self, cell, parent_tags):
            text = " ".join(super().process_tag(cell, parent_tags | {"_inline"}).split())
            return re.sub(r"(?<!\\)\|", r"\|", text)

    return Converter


# bs4's find/find_all build a filter per call and cost more than the rest of a table's
# conversion; these plain walks return the same elements.
def _first(root, names: tuple[str, ...]):
    """The first descendant named one of `names`, in document order (bs4's find)."""
    return next((d for d in root.descendants if d.name in names), None)


def _own_rows(el, out: list) -> list:
    """The <tr>s of table `el` in document order, not those of tables nested in it."""
    for child in el.contents:
        name = child.name
        if name is None or name == "table":
            continue
        if name == "tr":
            out.append(child)
        _own_rows(child, out)
    return out


def _escape_block_starts(text: str) -> str:
    return _BLOCK_START_RE.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def _code_language(pre) -> str:
    candidates = [pre]
    code = _first(pre, ("code",))
    if code is not None:
        candidates.insert(0, code)
    parent = pre.parent
    for _ in range(3):  # Sphinx puts highlight-<lang> on a wrapper two levels up
        if parent is None:
            break
        candidates.append(parent)
        parent = parent.parent
    for el in candidates:
        for attr in ("data-lang", "data-language"):
            value = (el.get(attr) or "").strip()
            if value and value.lower() not in _NOT_A_LANGUAGE:
                return value.lower()
        for cls in el.get("class", ()):
            m = _LANG_CLASS_RE.match(cls)
            if m and m.group(1).lower() not in _NOT_A_LANGUAGE:
                return m.group(1).lower()
    return ""


def _tidy_lines(lines: list[str]) -> list[str]:
    """Trailing whitespace off, blank runs collapsed to one, outside code kept verbatim."""
    out: list[str] = []
    fence = None
    for line in lines:
        line = line.rstrip()
        if fence is None:
            opened = fence_open(line)
            if opened:
                fence = opened[1]
            elif not line and (not out or not out[-1]):
                continue
        elif fence_closes(line, fence):
            fence = None
        out.append(line)
    if fence is not None:  # an unclosed fence would swallow the rest of the page downstream
        while out and not out[-1]:
            out.pop()
        out.append(fence)
    while out and not out[-1]:
        out.pop()
    return out


def _finish(markdown: str) -> tuple[str, list[str]]:
    markdown = CONTROL_RE.sub("", markdown.replace("\r", ""))
    text = "\n".join(_tidy_lines(markdown.split("\n")))
    lines, _ = split_lines(text)
    explicit: dict[int, str] = {}
    headings: list[int] = []  # first lines of the heading blocks
    for block in parse_blocks(text):
        if block.kind == "heading":
            m = MARK_RE.search(lines[block.first_line])
            if m and m.group(1):
                explicit[block.first_line] = m.group(1)
            headings.append(block.first_line)
    text = MARK_RE.sub("", text)
    # Only anchors the page really has: a made-up slug would be a link to nowhere.
    return (text + "\n" if text else ""), [explicit.get(line, "") for line in headings]
