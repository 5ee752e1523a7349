"""A small line-based Markdown block parser.

It is not a full CommonMark parser: it finds exactly what convert and chunk need — ATX
headings, fenced code, GFM tables, lists, paragraphs and blank runs — with character
offsets into the source, and it is fence-aware so a `# comment` inside code is never a
heading. Convert (heading ids) and chunk (sections, split points) share it, so both agree
on which lines are headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ATX_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_ATX_CLOSING_RE = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
FENCE_RE = re.compile(r"^([ \t]*)(`{3,}|~{3,})(.*)$")
LIST_RE = re.compile(r"^([ \t]*)([-*+]|\d{1,9}[.)])([ \t]+|$)")
HR_RE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
TABLE_DELIM_RE = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
EXPLICIT_ID_RE = re.compile(r"[ \t]*\{#([A-Za-z0-9_:.\-]+)[^}]*\}[ \t]*$")
# Private-use marker: carries a heading's anchor through markdownify to the output line (HTML),
# and shields code spans while links are made absolute (Markdown). Never left in the output.
MARK = "\ue000"
MARK_RE = re.compile(f"{MARK}([^{MARK}]*){MARK}")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(slots=True)
class Block:
    kind: str  # heading | code | table | list | paragraph | blank
    start: int  # char offset of the first line
    end: int  # char offset just past the last line's content (its newline excluded)
    first_line: int  # line index
    last_line: int  # line index, inclusive
    level: int = 0  # heading level
    text: str = ""  # heading text
    lang: str = ""  # code language
    fence: str = ""  # code fence marker, e.g. ``` or ~~~~
    indent: str = ""  # code fence indentation
    closed: bool = True  # False for a code fence that runs to the end of the document
    items: list[int] = field(default_factory=list)  # list: line index of each top-level item


def fence_open(line: str) -> tuple[str, str, str] | None:
    """(indent, marker, language) when `line` opens a fenced code block."""
    m = FENCE_RE.match(line)
    if not m:
        return None
    indent, marker, info = m.groups()
    if marker[0] == "`" and "`" in info:  # ```x``` at a line start is inline code, not a fence
        return None
    lang = info.strip().split()[0] if info.strip() else ""
    return indent, marker, lang.lstrip("{.").rstrip("}")


def fence_closes(line: str, marker: str) -> bool:
    s = line.strip()
    return len(s) >= len(marker) and s == marker[0] * len(s)


def heading_text(raw: str) -> str:
    """Text of an ATX heading's content: closing #'s and a `{#id}` suffix removed."""
    raw = _ATX_CLOSING_RE.sub("", raw or "")
    return EXPLICIT_ID_RE.sub("", raw).strip()


def parse_atx(line: str) -> tuple[int, str] | None:
    m = ATX_RE.match(line)
    if not m:
        return None
    return len(m.group(1)), heading_text(m.group(2) or "")


def split_lines(text: str) -> tuple[list[str], list[int]]:
    """Lines without their newline, and the char offset where each starts."""
    lines = text.split("\n")
    starts = []
    pos = 0
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1
    return lines, starts


def _is_table_start(lines: list[str], i: int) -> bool:
    return (
        "|" in lines[i]
        and i + 1 < len(lines)
        and "-" in lines[i + 1]
        and TABLE_DELIM_RE.match(lines[i + 1]) is not None
    )


def _starts_block(lines: list[str], i: int) -> bool:
    line = lines[i]
    return (
        not line.strip()
        or ATX_RE.match(line) is not None
        or fence_open(line) is not None
        or _is_table_start(lines, i)
        or ((item := LIST_RE.match(line)) is not None and len(item.group(1)) <= 3 and not HR_RE.match(line))
    )


def parse_blocks(text: str) -> list[Block]:
    lines, starts = split_lines(text)
    blocks: list[Block] = []
    n = len(lines)
    i = 0

    def add(kind: str, a: int, b: int, **kw) -> None:
        blocks.append(Block(kind, starts[a], starts[b] + len(lines[b]), a, b, **kw))

    while i < n:
        line = lines[i]
        if not line.strip():
            j = i
            while j + 1 < n and not lines[j + 1].strip():
                j += 1
            add("blank", i, j)
            i = j + 1
            continue
        atx = parse_atx(line)
        if atx:
            add("heading", i, i, level=atx[0], text=atx[1])
            i += 1
            continue
        fence = fence_open(line)
        if fence:
            j, closed = _fence_end(lines, i, fence[1])
            add("code", i, j, lang=fence[2], fence=fence[1], indent=fence[0], closed=closed)
            i = j + 1
            continue
        if _is_table_start(lines, i) or line.lstrip().startswith("|"):
            j = i
            while j + 1 < n and lines[j + 1].strip() and "|" in lines[j + 1]:
                j += 1
            add("table", i, j)
            i = j + 1
            continue
        m = LIST_RE.match(line)
        if m and not HR_RE.match(line) and len(m.group(1)) <= 3:
            j, items = _list_end(lines, i, len(m.group(1)))
            add("list", i, j, items=items)
            i = j + 1
            continue
        j = i
        while j + 1 < n and not _starts_block(lines, j + 1):
            j += 1
        add("paragraph", i, j)
        i = j + 1
    return blocks


def _fence_end(lines: list[str], i: int, marker: str) -> tuple[int, bool]:
    for j in range(i + 1, len(lines)):
        if fence_closes(lines[j], marker):
            return j, True
    return len(lines) - 1, False


def _list_end(lines: list[str], i: int, base_indent: int) -> tuple[int, list[int]]:
    """Last line of the list starting at `i`, and the line of each top-level item.

    A list goes on through indented lines, nested fences (taken whole), further items and
    lazy continuation lines, and across blank lines only when what follows is still
    indented or another item.
    """
    n = len(lines)
    items = [i]
    last = i
    j = i + 1
    while j < n:
        line = lines[j]
        if not line.strip():
            k = j
            while k < n and not lines[k].strip():
                k += 1
            if k >= n:
                break
            nxt = lines[k]
            indent = len(nxt) - len(nxt.lstrip())
            m = LIST_RE.match(nxt)
            if indent > base_indent or (m and len(m.group(1)) == base_indent and not HR_RE.match(nxt)):
                j = k
                continue
            break
        indent = len(line) - len(line.lstrip())
        m = LIST_RE.match(line)
        if m and not HR_RE.match(line) and len(m.group(1)) <= base_indent:
            if len(m.group(1)) < base_indent:
                break
            items.append(j)
            last = j
            j += 1
            continue
        fence = fence_open(line)
        if fence and indent > base_indent:
            end, _ = _fence_end(lines, j, fence[1])
            last = j = end
            j += 1
            continue
        if indent <= base_indent and (ATX_RE.match(line) or fence or _is_table_start(lines, j) or HR_RE.match(line)):
            break
        if indent <= base_indent and not lines[j - 1].strip():
            break  # after a blank line only indented content continues the list
        last = j
        j += 1
    return last, items


def iter_atx_headings(text: str) -> list[tuple[int, str, int]]:
    """(level, text, line index) of every ATX heading, skipping fenced code."""
    return [(b.level, b.text, b.first_line) for b in parse_blocks(text) if b.kind == "heading"]


def github_slug(text: str, seen: set[str] | None = None) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to '-', deduped."""
    plain = strip_inline_markdown(text).lower()
    slug = re.sub(r"[^\w\- ]", "", plain).replace(" ", "-") or "section"
    if seen is None:
        return slug
    return dedupe(slug, seen)


def dedupe(slug: str, seen: set[str]) -> str:
    """github-slugger: the 2nd 'foo' is 'foo-1', the 3rd 'foo-2' (skipping taken names)."""
    if slug not in seen:
        seen.add(slug)
        return slug
    k = 1
    while f"{slug}-{k}" in seen:
        k += 1
    seen.add(f"{slug}-{k}")
    return f"{slug}-{k}"


_INLINE_SUBS = [
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images -> alt
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links -> text
    (re.compile(r"\[([^\]]*)\]\[[^\]]*\]"), r"\1"),  # reference links -> text
    (re.compile(r"<[^>]+>"), ""),  # inline html tags
]


def strip_inline_markdown(text: str) -> str:
    for pattern, repl in _INLINE_SUBS:
        text = pattern.sub(repl, text)
    return text.strip()


def absolute_link(href: str, url: str) -> str:
    """`href` resolved against the page's url, escaped to stay one Markdown link destination."""
    if not url:
        return href
    from urllib.parse import urljoin

    out = urljoin(url, href)
    # Markdown link destinations end at a space or an unbalanced ')'.
    return out.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
