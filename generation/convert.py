"""HTML -> Markdown (beautifulsoup4 + markdownify), and normalisation of pages served as Markdown.

Both return (markdown, heading_ids, title). `heading_ids` has one entry per ATX heading of
the returned Markdown, in order, as markdown_blocks.parse_blocks sees them (the chunker
uses the same parser, so the two always line up): the site's own anchor where the page
has one, else a GitHub-style slug.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urljoin

from docs2qa.config import ConvertConfig
from docs2qa.errors import Docs2qaError
from docs2qa.generation.markdown_blocks import (
    EXPLICIT_ID_RE,
    HR_RE,
    LIST_RE,
    fence_closes,
    fence_open,
    github_slug,
    parse_atx,
    parse_blocks,
    split_lines,
)

# Private-use marker that carries a heading's anchor through markdownify to the output line.
_MARK = "\ue000"
_MARK_RE = re.compile(f"{_MARK}([^{_MARK}]*){_MARK}")
_ANCHOR_ATTR = "data-docs2qa-anchor"
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_NOISE_TAGS = {
    "nav", "header", "footer", "aside", "script", "style", "noscript", "form", "iframe", "svg",
    "template", "button", "select", "input", "textarea", "link", "meta", "dialog",
}
# An article's own <header> often holds its title (<article><header><h1>), and some sites wrap
# the whole page in a <form>; those are content, not chrome.
_KEEP_IF_HOLDS = {"header": ("h1", "h2", "h3", "h4", "h5", "h6"), "form": ("h1",)}
_BANNER_RE = re.compile(
    r"(cookie|consent)[-_ ]?(banner|notice|bar|popup|modal|dialog|law|policy|consent|message|box)"
    r"|onetrust|cookiebot|gdpr|cc-window|cc-banner|cookie-?law|truste",
    re.I,
)
_PERMALINK_CLASSES = {"headerlink", "anchor", "anchorjs-link", "header-anchor", "heading-anchor",
                      "hash-link", "anchor-link", "permalink", "heading-link"}
_PERMALINK_TEXT = {"", "¶", "#", "§", "🔗", "link", "permalink"}
_LANG_CLASS_RE = re.compile(r"^(?:language|lang|highlight(?:-source)?)-([\w+#.\-]+)$", re.I)
_NOT_A_LANGUAGE = {"default", "none", "nohighlight"}
_LAYOUT_CELL_CONTENT = ("table", "pre", "blockquote", *_HEADING_TAGS)
_WS_RE = re.compile(r"\s+")


def _hidden_or_banner(attrs, id_and_class: str) -> bool:
    """Hidden elements and cookie/consent banners: never content, in lxml or bs4 trees alike."""
    return ("hidden" in attrs or attrs.get("aria-hidden") == "true"
            or "display:none" in attrs.get("style", "").replace(" ", "")
            or bool(_BANNER_RE.search(id_and_class)))


# ----------------------------------------------------------------------------------- HTML


def html_to_markdown(html: str | bytes, url: str, cfg: ConvertConfig) -> tuple[str, list[str], str]:
    from bs4 import BeautifulSoup

    if isinstance(html, str) and _MARK in html:
        html = html.replace(_MARK, "")
    pre = None if cfg.main_selector else _lxml_main_content(html)
    if pre is None:
        soup = BeautifulSoup(html, "lxml")
        root = _main_content(soup, cfg)
        _drop_noise(root, cfg)
        fallback_titles = ()
    else:
        # lxml already cut the page down to its main content, without the chrome: bs4 (by far
        # the slowest step) only builds a tree for what will be converted.
        fragment, fallback_titles = pre
        soup = BeautifulSoup(fragment, "lxml")
        root = soup.body.find(True, recursive=False) if soup.body is not None else None
        root = root if root is not None else soup
        _drop_noise(root, cfg, generic=False)
    _mark_headings(root)
    title = _title(root, soup) or next((t for t in fallback_titles if t), "")
    markdown = _converter(url).process_tag(root, parent_tags=set())
    markdown, ids = _finish(markdown)
    return markdown, ids, title


def _main_content(soup, cfg: ConvertConfig):
    if cfg.main_selector:
        try:
            found = soup.select_one(cfg.main_selector)
        except Exception as exc:  # soupsieve raises its own SelectorSyntaxError
            raise Docs2qaError(f"convert.main_selector {cfg.main_selector!r} is not a valid CSS selector: {exc}",
                               "use a CSS selector such as 'div.content' or '#main'") from exc
        if found is not None:
            return found
    for found in (soup.find("main"), soup.find(attrs={"role": "main"}), soup.find("article"), soup.body):
        if found is not None:
            return found
    return soup


def _decode(html: str | bytes) -> str:
    if isinstance(html, str):
        return html
    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        from bs4.dammit import UnicodeDammit

        return UnicodeDammit(html, is_html=True).unicode_markup or html.decode("latin-1")


def _lxml_main_content(html: str | bytes) -> tuple[str, tuple[str, ...]] | None:
    """The main content element as HTML, chrome removed; also the page's h1 and <title> texts.

    None when lxml cannot parse the page (bs4 then does all of it)."""
    import lxml.html
    from lxml import etree

    text = re.sub(r"^\s*<\?xml[^>]*>", "", _decode(html))
    if not text.strip():
        return None
    try:
        doc = lxml.html.document_fromstring(text)
    except (ValueError, etree.ParserError):
        return None
    root = next((el for el in (doc.find(".//main"), next(iter(doc.xpath("//*[@role='main']")), None),
                               doc.find(".//article"), doc.find("body")) if el is not None), doc)
    doomed = []
    for el in root.iter():
        tag = el.tag
        if not isinstance(tag, str):
            doomed.append(el)  # comments, processing instructions
            continue
        attrs = el.attrib
        if tag in _NOISE_TAGS:
            keep = _KEEP_IF_HOLDS.get(tag)
            if keep and any(el.find(f".//{h}") is not None for h in keep):
                continue
            doomed.append(el)
        elif attrs and _hidden_or_banner(attrs, attrs.get("id", "") + " " + attrs.get("class", "")):
            doomed.append(el)
    for el in doomed:
        if el is not root and el.getparent() is not None:
            el.drop_tree()  # keeps the element's tail text
    for pre in root.iter("pre"):
        _flatten_pre(pre)
    h1 = doc.find(".//h1")
    titles = (h1.text_content() if h1 is not None else "", doc.findtext(".//title") or "")
    return lxml.html.tostring(root, encoding="unicode"), tuple(_WS_RE.sub(" ", t).strip() for t in titles)


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
    keep = {k: v for k, v in code.attrib.items() if k in ("class", "data-lang", "data-language")} if code is not None else {}
    tail = pre.tail
    for child in list(pre):
        pre.remove(child)
    if keep:
        pre.text = None
        etree.SubElement(pre, "code", keep).text = text
    else:
        pre.text = text
    pre.tail = tail


def _drop_noise(root, cfg: ConvertConfig, generic: bool = True) -> None:
    doomed = []
    for el in (root.find_all(True) if generic else ()):
        name = el.name
        attrs = el.attrs
        if name in _NOISE_TAGS:
            if name in _KEEP_IF_HOLDS and el.find(_KEEP_IF_HOLDS[name]) is not None:
                continue
            doomed.append(el)
        elif attrs and _hidden_or_banner(attrs, " ".join([attrs.get("id", ""), *attrs.get("class", ())])):
            doomed.append(el)
    for selector in cfg.drop_selectors:
        try:
            doomed.extend(root.select(selector))
        except Exception as exc:
            raise Docs2qaError(f"convert.drop_selectors entry {selector!r} is not a valid CSS selector: {exc}") from exc
    for el in doomed:
        if not el.decomposed:
            el.decompose()


def _is_permalink(a) -> bool:
    href = a.get("href", "")
    if not href.startswith("#"):
        return False
    classes = set(a.get("class", ()))
    return bool(classes & _PERMALINK_CLASSES) or a.get_text(strip=True) in _PERMALINK_TEXT


def _mark_headings(root) -> None:
    """Find each heading's anchor id (own id, an <a> in or just before it, a permalink, a
    wrapping <section id>) and stash it on the tag; permalink icons are removed."""
    for h in root.find_all(_HEADING_TAGS):
        anchor = h.get("id", "")
        self_link = ""
        for a in h.find_all("a"):
            anchor = anchor or a.get("id", "") or a.get("name", "")
            href = a.get("href", "")
            if href.startswith("#") and len(href) > 1:
                self_link = self_link or unquote(href[1:])
            if _is_permalink(a):
                a.decompose()
        if not anchor:
            prev = h.find_previous_sibling()
            if prev is not None and prev.name in ("a", "span") and not prev.get_text(strip=True):
                anchor = prev.get("id", "") or prev.get("name", "")
        anchor = anchor or self_link
        if not anchor:
            parent = h.parent
            if parent is not None and parent.name in ("section", "div") and parent.get("id"):
                first = parent.find(True, recursive=False)
                if first is h:
                    anchor = parent["id"]
        if anchor:
            h[_ANCHOR_ATTR] = anchor.strip()


def _title(root, soup) -> str:
    h1 = root.find("h1") or soup.find("h1")
    if h1 is not None:
        text = _WS_RE.sub(" ", h1.get_text(" ", strip=True)).strip()
        if text:
            return text
    if soup.title is not None and soup.title.string:
        return _WS_RE.sub(" ", soup.title.string).strip()
    return ""


def _converter(url: str):
    from markdownify import MarkdownConverter, chomp

    class Converter(MarkdownConverter):
        """markdownify with docs2qa's rules for headings, links, images, code and tables."""

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
            return f"\n\n{'#' * min(n, 6)} {text}{_MARK}{el.get(_ANCHOR_ATTR, '')}{_MARK}\n\n"

        def convert_p(self, el, text, parent_tags):
            out = super().convert_p(el, text, parent_tags)
            # A paragraph that starts with '# ' must not become a heading.
            return re.sub(r"^(\n*)(#{1,6}(?:\s|$))", r"\1\\\2", out) if out else out

        def convert_a(self, el, text, parent_tags):
            if "_noformat" in parent_tags or any(h in parent_tags for h in _HEADING_TAGS):
                return text
            prefix, suffix, text = chomp(text)
            if not text:
                return ""
            href = (el.get("href") or "").strip()
            if not href or href.lower().startswith(("javascript:", "data:", "vbscript:")):
                return prefix + text + suffix
            href = _absolute(href, url)
            if text == href and not el.get("title"):
                return f"{prefix}<{href}>{suffix}"
            title = el.get("title")
            title_part = ' "%s"' % title.replace('"', r"\"") if title else ""
            return f"{prefix}[{text}]({href}{title_part}){suffix}"

        def convert_img(self, el, text, parent_tags):
            alt = _WS_RE.sub(" ", el.get("alt") or "").strip()
            src = (el.get("src") or el.get("data-src") or "").strip()
            if "_inline" in parent_tags or not src or src.startswith("data:"):
                return alt
            if not alt:
                return ""  # a decorative image says nothing to a reader of text
            return "![%s](%s)" % (alt.replace("]", r"\]"), _absolute(src, url))

        def convert_td(self, el, text, parent_tags):
            return text

        convert_th = convert_td

        def _pre(self, el, parent_tags):
            for br in el.find_all("br"):
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
            rows = [[c for c in tr.find_all(("td", "th"), recursive=False)]
                    for tr in el.find_all("tr") if tr.find_parent("table") is el]
            rows = [r for r in rows if r]
            cells = [c for r in rows for c in r]
            if not cells:
                return ""
            if "_inline" in parent_tags:  # a table inside a table cell: flatten it
                return " " + " ".join(self._cell_text(c, parent_tags) for c in cells) + " "
            if len(cells) == 1 or el.find(_LAYOUT_CELL_CONTENT) is not None:
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
            caption = el.find("caption")
            head = _WS_RE.sub(" ", caption.get_text(" ", strip=True)) + "\n\n" if caption is not None else ""
            return "\n\n" + head + "\n".join(lines) + "\n\n"

        def _cell_text(self, cell, parent_tags):
            text = super().process_tag(cell, parent_tags | {"_inline"})
            text = _WS_RE.sub(" ", text).strip()
            return re.sub(r"(?<!\\)\|", r"\|", text)

    return Converter(
        heading_style="atx",
        bullets="-",
        escape_asterisks=False,
        escape_underscores=False,
        escape_misc=False,
        wrap=True,  # with no width: collapses the HTML source's line breaks inside paragraphs
        wrap_width=None,
        strip_document=None,
    )


def _code_language(pre) -> str:
    candidates = [pre]
    code = pre.find("code")
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


def _absolute(href: str, url: str) -> str:
    if not url:
        return href
    out = urljoin(url, href)
    # Markdown link destinations end at a space or an unbalanced ')'.
    return out.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


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
    markdown = _CONTROL_RE.sub("", markdown.replace("\r", ""))
    text = "\n".join(_tidy_lines(markdown.split("\n")))
    lines, _ = split_lines(text)
    explicit: dict[int, str] = {}
    headings: list[tuple[int, str]] = []
    for block in parse_blocks(text):
        if block.kind == "heading":
            m = _MARK_RE.search(lines[block.first_line])
            if m and m.group(1):
                explicit[block.first_line] = m.group(1)
            headings.append((block.first_line, _MARK_RE.sub("", block.text)))
    text = _MARK_RE.sub("", text)
    return (text + "\n" if text else ""), _assign_ids(headings, explicit)


def _assign_ids(headings: list[tuple[int, str]], explicit: dict[int, str]) -> list[str]:
    seen = set(explicit.values())
    return [explicit.get(line) or github_slug(text, seen) for line, text in headings]


# ------------------------------------------------------------------------------ Markdown

_SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_CODE_SPAN_RE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)")
_LINK_DEST_RE = re.compile(r"(\]\()[ \t]*(<[^>\n]*>|[^)\s]+)")
_REF_DEF_RE = re.compile(r"^( {0,3}\[[^\]]+\]:[ \t]*)(<[^>]*>|\S+)")
_HTML_ATTR_RE = re.compile(r"""(\b(?:href|src)=)(["'])([^"']*)\2""", re.I)


def normalise_markdown(text: str, url: str) -> tuple[str, list[str], str]:
    """Tidy a page the site serves as Markdown, without a trip through HTML."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text).replace(_MARK, "")
    text, title = _front_matter(text)
    lines: list[str] = []
    paragraph: list[bool] = []  # whether each output line is paragraph text (setext candidates)
    explicit: dict[int, str] = {}
    fence = None
    for raw in text.split("\n"):
        line = raw.rstrip()
        if fence is not None:
            if fence_closes(line, fence):
                fence = None
            lines.append(line)
            paragraph.append(False)
            continue
        opened = fence_open(line)
        if opened:
            fence = opened[1]
            lines.append(line)
            paragraph.append(False)
            continue
        if not line:
            if lines and lines[-1]:
                lines.append("")
                paragraph.append(False)
            continue
        setext = _SETEXT_RE.match(line)
        if setext and paragraph and paragraph[-1]:
            k = len(lines)
            while k > 0 and paragraph[k - 1]:
                k -= 1
            content = " ".join(s.strip() for s in lines[k:])
            del lines[k:], paragraph[k:]
            line = ("#" if setext.group(1)[0] == "=" else "##") + " " + content
        atx = parse_atx(line)
        if atx:
            m = EXPLICIT_ID_RE.search(line)
            if m:
                explicit[len(lines)] = m.group(1)
            lines.append(("#" * atx[0] + " " + atx[1]).rstrip())
            paragraph.append(False)
            continue
        line = _absolute_links(line, url)
        lines.append(line)
        paragraph.append(_is_paragraph_line(line, paragraph[-1] if paragraph else False))
    if fence is not None:
        while lines and not lines[-1]:
            lines.pop()
        lines.append(fence)
    while lines and not lines[-1]:
        lines.pop()
    out = "\n".join(lines)
    headings = [(b.first_line, b.text) for b in parse_blocks(out) if b.kind == "heading"]
    ids = _assign_ids(headings, {k: v for k, v in explicit.items() if any(k == h[0] for h in headings)})
    if not title:
        title = next((b.text for b in parse_blocks(out) if b.kind == "heading" and b.level == 1), "")
    return (out + "\n" if out else ""), ids, title


def _is_paragraph_line(line: str, continues: bool) -> bool:
    stripped = line.lstrip()
    if len(line) - len(stripped) >= 4 and not continues:
        return False  # indented code
    return not (
        stripped.startswith((">", "|", "<"))
        or LIST_RE.match(line)
        or HR_RE.match(line)
    )


def _front_matter(text: str) -> tuple[str, str]:
    if not text.startswith("---\n"):
        return text, ""
    end = re.search(r"^(---|\.\.\.)[ \t]*$", text[4:], re.M)
    if not end:
        return text, ""
    import yaml

    try:
        data = yaml.safe_load(text[4:4 + end.start()])
    except yaml.YAMLError:
        return text, ""
    if not isinstance(data, dict):
        return text, ""  # a thematic break, not front matter
    title = data.get("title")
    return text[4 + end.end():].lstrip("\n"), (str(title).strip() if title else "")


def _absolute_links(line: str, url: str) -> str:
    if not url or ("](" not in line and "]:" not in line and "=" not in line):
        return line
    spans: list[str] = []

    def protect(m: re.Match) -> str:
        spans.append(m.group(0))
        return f"{_MARK}{len(spans) - 1}{_MARK}"

    line = _CODE_SPAN_RE.sub(protect, line)
    line = _LINK_DEST_RE.sub(lambda m: m.group(1) + _absolute_dest(m.group(2), url), line)
    line = _REF_DEF_RE.sub(lambda m: m.group(1) + _absolute_dest(m.group(2), url), line)
    line = _HTML_ATTR_RE.sub(lambda m: m.group(1) + m.group(2) + urljoin(url, m.group(3)) + m.group(2), line)
    return _MARK_RE.sub(lambda m: spans[int(m.group(1))], line)


def _absolute_dest(dest: str, url: str) -> str:
    if dest.startswith("<") and dest.endswith(">"):
        return "<" + urljoin(url, dest[1:-1]) + ">"
    if dest.lower().startswith(("javascript:", "data:")):
        return dest
    return _absolute(dest, url)
