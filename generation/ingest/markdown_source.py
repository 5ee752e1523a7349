"""Tidy a page the site serves as Markdown, without a trip through HTML (the HTML path: convert.py).

Line endings, control characters and YAML front matter (its title kept) are normalised,
setext headings become ATX, links become absolute (code spans untouched), and each heading
gets its anchor: the explicit `{#id}`, else the GitHub slug the site's renderer would give it.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

from docs2qa.generation.ingest.markdown_blocks import (
    CONTROL_RE,
    EXPLICIT_ID_RE,
    HR_RE,
    LIST_RE,
    MARK,
    MARK_RE,
    absolute_link,
    fence_closes,
    fence_open,
    github_slug,
    parse_atx,
    parse_blocks,
)

_SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_CODE_SPAN_RE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)")
_LINK_DEST_RE = re.compile(r"(\]\()[ \t]*(<[^>\n]*>|[^)\s]+)")
_REF_DEF_RE = re.compile(r"^( {0,3}\[[^\]]+\]:[ \t]*)(<[^>]*>|\S+)")
_HTML_ATTR_RE = re.compile(r"""(\b(?:href|src)=)(["'])([^"']*)\2""", re.I)


def normalise_markdown(text: str, url: str) -> tuple[str, list[str], str]:
    """Tidy a page the site serves as Markdown, without a trip through HTML."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    text = CONTROL_RE.sub("", text).replace(MARK, "")
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
    return not (stripped.startswith((">", "|", "<")) or LIST_RE.match(line) or HR_RE.match(line))


def _front_matter(text: str) -> tuple[str, str]:
    if not text.startswith("---\n"):
        return text, ""
    end = re.search(r"^(---|\.\.\.)[ \t]*$", text[4:], re.M)
    if not end:
        return text, ""
    import yaml

    try:
        data = yaml.safe_load(text[4 : 4 + end.start()])
    except yaml.YAMLError:
        return text, ""
    if not isinstance(data, dict):
        return text, ""  # a thematic break, not front matter
    title = data.get("title")
    return text[4 + end.end() :].lstrip("\n"), (str(title).strip() if title else "")


def _absolute_links(line: str, url: str) -> str:
    if not url or ("](" not in line and "]:" not in line and "=" not in line):
        return line
    spans: list[str] = []

    def protect(m: re.Match) -> str:
        spans.append(m.group(0))
        return f"{MARK}{len(spans) - 1}{MARK}"

    line = _CODE_SPAN_RE.sub(protect, line)
    line = _LINK_DEST_RE.sub(lambda m: m.group(1) + _absolute_dest(m.group(2), url), line)
    line = _REF_DEF_RE.sub(lambda m: m.group(1) + _absolute_dest(m.group(2), url), line)
    line = _HTML_ATTR_RE.sub(lambda m: m.group(1) + m.group(2) + urljoin(url, m.group(3)) + m.group(2), line)
    return MARK_RE.sub(lambda m: spans[int(m.group(1))], line)


def _absolute_dest(dest: str, url: str) -> str:
    if dest.startswith("<") and dest.endswith(">"):
        return "<" + urljoin(url, dest[1:-1]) + ">"
    if dest.lower().startswith(("javascript:", "data:")):
        return dest
    return absolute_link(dest, url)


def _assign_ids(headings: list[tuple[int, str]], explicit: dict[int, str]) -> list[str]:
    seen = set(explicit.values())
    return [explicit.get(line) or github_slug(text, seen) for line, text in headings]
