"""Heading-aware, token-budgeted chunking of a Document's Markdown.

A page is cut into sections at its ATX headings. Sections under `min_tokens` merge into a
neighbour (one with the same parent first); sections over `max_tokens` are split at block
boundaries, then — only when a single block is too big — inside it: code at line
boundaries with the fence reopened, tables at row boundaries with the header repeated,
prose at lines, sentences and finally token boundaries. Every chunk starts with the
heading lines that place it (its ancestors' and its own), so it stands alone, and its
final text is counted with the real tokenizer, never above `max_tokens`.

`start`/`end` are the span of doc.markdown the chunk's own content comes from; heading
context and overlap text repeated from earlier are not part of the span, so spans are
disjoint and increasing.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from dataclasses import dataclass, field

from docs2qa.generation.ingest.config import ChunkConfig
from docs2qa.generation.ingest.markdown_blocks import TABLE_DELIM_RE, Block, fence_open, github_slug, parse_blocks
from docs2qa.records import Chunk, Document, chunk_id

_PROSE = {"paragraph", "list", "item", "line", "sentence", "words"}
_SENTENCE_END_RE = re.compile(r"[.!?][\"')\]]*\s+")


@dataclass(slots=True)
class _Section:
    level: int  # 0 for content before the first heading
    path: list[str]
    anchor: str
    heading_line: str  # own heading as Markdown ("" for an untitled preamble)
    ancestors: list[str]  # heading lines of the enclosing sections, outermost first
    heading_start: int = -1  # char offset of its heading block, -1 for the preamble
    units: list[_Unit] = field(default_factory=list)
    tokens: int = 0


@dataclass(slots=True)
class _Unit:
    """A piece of source that is placed whole into a chunk (until it must be refined)."""

    start: int
    end: int
    text: str
    kind: str  # heading | code | table | list | item | paragraph | line | sentence | words | codepart | tablepart
    section: int
    note: str = ""
    tokens: int = -1
    # For code/table parts: text = header + body lines + footer, body lines being source spans.
    header: str = ""
    footer: str = ""
    rows: list[tuple[int, int]] = field(default_factory=list)


@dataclass(slots=True)
class _Group:
    sections: list[int]
    tokens: int


def chunk_document(doc: Document, counter, cfg: ChunkConfig) -> list[Chunk]:
    text = doc.markdown
    sections = _sections(doc, parse_blocks(text))
    if not sections:
        return []
    all_units = [u for s in sections for u in s.units]
    for unit, n in zip(all_units, counter.count_many([u.text for u in all_units])):
        unit.tokens = n
    for s in sections:
        s.tokens = sum(u.tokens for u in s.units) + len(s.units)
    packer = _Packer(text, sections, counter, cfg)
    chunks: list[Chunk] = []
    for group in _merge(sections, packer, cfg):
        units = [u for i in group.sections for u in sections[i].units]
        # Pack on summed estimates, then count every piece exactly (from its parts' counts,
        # see TokenCounter.count_joined); only a group whose estimate was off is packed again,
        # verifying each piece as it goes.
        pieces = list(packer.pack(units, verify=False))
        counts = counter.count_joined([parts for _, parts in pieces])
        if any(n > cfg.max_tokens for n in counts):
            units = [_Unit(u.start, u.end, u.text, u.kind, u.section, tokens=u.tokens) for u in units]
            pieces = list(packer.pack(units, verify=True))
            counts = counter.count_joined([parts for _, parts in pieces])
        for (piece, parts), n in zip(pieces, counts):
            body_text = "".join(parts)
            first = sections[piece[0].section]
            notes = list(dict.fromkeys(u.note for u in piece if u.note))
            start, end = piece[0].start, piece[-1].end
            chunks.append(
                Chunk(
                    chunk_id=chunk_id(doc.page_id, start, end, body_text),
                    page_id=doc.page_id,
                    url=doc.url,
                    anchor_url=first.anchor,
                    title=doc.title,
                    heading_path=list(first.path),
                    text=body_text,
                    token_count=n,
                    start=start,
                    end=end,
                    body_sha256=doc.body_sha256,
                    fetched_at=doc.fetched_at,
                    note="; ".join(notes),
                )
            )
    return chunks


# ------------------------------------------------------------------------------ sections


def _sections(doc: Document, blocks: list[Block]) -> list[_Section]:
    text = doc.markdown
    n_headings = sum(1 for b in blocks if b.kind == "heading")
    ids = list(doc.heading_ids[:n_headings])
    if len(ids) < n_headings:  # ids missing (not from convert): slug the rest like convert does
        seen = set(ids)
        ids += [github_slug(b.text, seen) for b in blocks if b.kind == "heading"][len(ids) :]
    preamble_line = f"# {doc.title}" if doc.title else ""
    sections = [_Section(0, [doc.title] if doc.title else [], doc.url, preamble_line, [])]
    stack: list[tuple[int, str, str]] = []  # (level, text, heading line)
    k = 0
    for block in blocks:
        if block.kind == "blank":
            continue
        if block.kind == "heading":
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            line = text[block.start : block.end].strip()
            anchor = f"{doc.url}#{ids[k]}" if ids[k] else doc.url
            k += 1
            section = _Section(
                block.level,
                [t for _, t, _ in stack] + [block.text],
                anchor,
                line,
                [h for _, _, h in stack],
                heading_start=block.start,
            )
            stack.append((block.level, block.text, line))
            sections.append(section)
        sections[-1].units.append(_block_unit(text, block, len(sections) - 1))
    if not sections[0].units:
        sections.pop(0)
        for s in sections:
            for u in s.units:
                u.section -= 1
    return sections


def _block_unit(text: str, block: Block, section: int) -> _Unit:
    body = text[block.start : block.end]
    if block.kind == "code" and not block.closed:
        body = body + "\n" + block.indent + block.fence  # keep every chunk's fences balanced
    return _Unit(block.start, block.end, body, block.kind, section)


def _related(head: _Section, other: _Section) -> bool:
    """Is `other` a sibling or a descendant of `head` (same parent chain)?"""
    parent = head.path[:-1]
    return other.path[: len(parent)] == parent


def _merge(sections: list[_Section], packer: _Packer, cfg: ChunkConfig) -> list[_Group]:
    def room(g: _Group) -> int:
        return cfg.max_tokens - packer.prefix_tokens(sections[g.sections[0]], at_heading=True) - 2

    groups: list[_Group] = []
    for i, s in enumerate(sections):
        if groups:
            g = groups[-1]
            small = g.tokens < cfg.min_tokens or s.tokens < cfg.min_tokens
            if small and g.tokens + s.tokens <= room(g) and _related(sections[g.sections[0]], s):
                g.sections.append(i)
                g.tokens += s.tokens
                continue
        groups.append(_Group([i], s.tokens))
    # Whatever is still too small joins any neighbour it fits with, the previous one first.
    i = 0
    while i < len(groups) and len(groups) > 1:
        g = groups[i]
        if g.tokens < cfg.min_tokens:
            if i > 0 and groups[i - 1].tokens + g.tokens <= room(groups[i - 1]):
                groups[i - 1].sections += g.sections
                groups[i - 1].tokens += g.tokens
                del groups[i]
                continue
            if i + 1 < len(groups) and g.tokens + groups[i + 1].tokens <= room(g):
                g.sections += groups[i + 1].sections
                g.tokens += groups[i + 1].tokens
                del groups[i + 1]
                continue
        i += 1
    return groups


# ------------------------------------------------------------------------------- packing


class _Packer:
    def __init__(self, text: str, sections: list[_Section], counter, cfg: ChunkConfig):
        self.text = text
        self.sections = sections
        self.counter = counter
        self.max = cfg.max_tokens
        self.overlap = cfg.overlap_tokens
        self._prefix_cache: dict[tuple[int, bool], str] = {}

    # A chunk begins with its ancestors' heading lines, plus its own heading when the chunk
    # starts inside the section rather than at its heading.
    def prefix(self, section: _Section, at_heading: bool) -> str:
        key = (id(section), at_heading)
        cached = self._prefix_cache.get(key)
        if cached is None:
            lines = list(section.ancestors)
            if not at_heading and section.heading_line:
                lines.append(section.heading_line)
            cached = "\n\n".join(lines)
            # Context must not crowd out content: keep only the nearest heading if it is long.
            if cached and self.counter.count(cached) > self.max // 4:
                cached = lines[-1] if self.counter.count(lines[-1]) <= self.max // 4 else ""
            self._prefix_cache[key] = cached
        return cached

    def prefix_tokens(self, section: _Section, at_heading: bool) -> int:
        p = self.prefix(section, at_heading)
        return self.counter.count(p) + 1 if p else 0

    def prefix_for(self, unit: _Unit) -> str:
        section = self.sections[unit.section]
        return self.prefix(section, at_heading=unit.kind == "heading" and unit.start == section.heading_start)

    def gap(self, a: _Unit, b: _Unit) -> str:
        raw = self.text[a.end : b.start]
        if "\n" not in raw:
            return raw if a.end <= b.start else "\n"
        return "\n\n" if raw.count("\n") > 1 else "\n"

    def render(self, prefix: str, overlap: str, units: list[_Unit], prev: _Unit | None) -> list[str]:
        """The piece's text as parts that alternate text and separator (joined, its text)."""
        parts = [prefix, "\n\n"] if prefix else []
        if overlap and prev is not None:  # overlap_text gives an overlap only after a previous unit
            parts += [overlap, self.gap(prev, units[0])]
        parts.append(units[0].text)
        for a, b in itertools.pairwise(units):
            parts.append(self.gap(a, b))
            parts.append(b.text)
        return parts

    def count(self, parts: list[str]) -> int:
        return self.counter.count_joined([parts])[0]

    def tokens(self, unit: _Unit) -> int:
        if unit.tokens < 0:
            unit.tokens = self.counter.count(unit.text)
        return unit.tokens

    def _too_big_alone(self, unit: _Unit) -> bool:
        prefix = self.prefix_for(unit)
        return self.tokens(unit) + (self.counter.count(prefix) + 1 if prefix else 0) > self.max

    def overlap_text(self, prev: _Unit | None, nxt: _Unit) -> str:
        """Trailing context of the previous piece, when it is prose of the same section."""
        if not self.overlap or prev is None or prev.kind not in _PROSE or prev.section != nxt.section:
            return ""
        text = prev.text
        offsets = self.counter.offsets(text)
        if len(offsets) <= self.overlap:
            tail = text
        else:
            cut = offsets[-self.overlap][0]
            space = re.search(r"\s", text[cut:])  # start on a word boundary
            tail = text[cut + space.end() :] if space else ""
        return tail.strip()

    def pack(self, units: list[_Unit], verify: bool = True):
        """Yield (units, parts of the text) pieces; with `verify`, each is counted and kept in budget."""
        queue = deque(units)
        prev: _Unit | None = None
        while queue:
            first = queue[0]
            prefix = self.prefix_for(first)
            overlap = self.overlap_text(prev, first)
            fixed = (self.counter.count(prefix) + 1 if prefix else 0) + (
                self.counter.count(overlap) + 1 if overlap else 0
            )
            piece: list[_Unit] = []
            estimate = fixed
            while queue:
                n = self.tokens(queue[0])
                if estimate + n + (1 if piece else 0) <= self.max:
                    estimate += n + (1 if piece else 0)
                    piece.append(queue.popleft())
                    continue
                if piece and self._too_big_alone(queue[0]):
                    # It will be split anyway: split it now and fill this piece with its start,
                    # rather than leave a small piece (e.g. a lone heading) behind.
                    # Its later parts start pieces of their own, behind its own heading context:
                    # a budget that leaves that out let every part come back whole.
                    unit = queue.popleft()
                    own_prefix = self.prefix_for(unit)
                    own = self.counter.count(own_prefix) + 1 if own_prefix else 0
                    queue.extendleft(reversed(self.refine(unit, self.max - max(fixed, own) - 2)))
                    continue
                break
            # Don't end a piece on a bare heading whose content went to the next piece.
            while len(piece) > 1 and piece[-1].kind == "heading" and queue:
                queue.appendleft(piece.pop())
            if not piece:
                if overlap:
                    prev = None  # the overlap is optional; try again without it
                    continue
                unit = queue.popleft()
                queue.extendleft(reversed(self.refine(unit, self.max - fixed - 2)))
                continue
            parts = self.render(prefix, overlap, piece, prev)
            if not verify:
                yield piece, parts
                prev = piece[-1]
                continue
            # Estimates add up per-unit counts; the exact count of the joined parts decides.
            while self.count(parts) > self.max and len(piece) > 1:
                queue.appendleft(piece.pop())
                parts = self.render(prefix, overlap, piece, prev)
            if self.count(parts) > self.max:
                if overlap:
                    queue.appendleft(piece.pop())
                    prev = None
                    continue
                unit = piece.pop()
                budget = max(8, self.max - fixed - 2 - (self.count(parts) - self.max))
                queue.extendleft(reversed(self.refine(unit, min(budget, self.tokens(unit) * 3 // 4))))
                continue
            yield piece, parts
            prev = piece[-1]

    # ---------------------------------------------------------------------- refinement

    def refine(self, unit: _Unit, budget: int) -> list[_Unit]:
        """Split a unit that cannot fit into smaller units, coarsest boundaries first."""
        budget = max(8, budget)
        parts = self._refine(unit, budget)
        if len(parts) == 1 and parts[0].text == unit.text:  # no progress: cut by tokens, smaller
            parts = self._words(unit, max(4, min(budget, self.tokens(unit)) // 2), (unit.start, unit.end))
        uncounted = [p for p in parts if p.tokens < 0]  # counted in one batch, not one by one
        for p, n in zip(uncounted, self.counter.count_many([p.text for p in uncounted])):
            p.tokens = n
        return parts

    def _refine(self, unit: _Unit, budget: int) -> list[_Unit]:
        kind = unit.kind
        if kind == "code":
            return self._code_parts(unit, budget)
        if kind in ("codepart", "tablepart") and len(unit.rows) > 1:
            half = len(unit.rows) // 2
            return [self._wrapped(unit, unit.rows[:half]), self._wrapped(unit, unit.rows[half:])]
        if kind == "codepart":
            return self._words(unit, budget, unit.rows[0], wrap=True)
        if kind == "table":
            return self._table_parts(unit, budget)
        if kind == "tablepart":
            return self._words(unit, budget, unit.rows[0], note="a table row longer than the budget was split as text")
        if kind == "list":
            parts = self._list_items(unit)
            if len(parts) > 1:
                return parts
        if kind in ("list", "item", "paragraph"):
            parts = self._lines(unit)
            if len(parts) > 1:
                return parts
        if kind in ("list", "item", "paragraph", "line"):
            parts = self._sentences(unit)
            if len(parts) > 1:
                return parts
        return self._words(unit, budget, (unit.start, unit.end))

    def _sub(self, unit: _Unit, start: int, end: int, kind: str, note: str = "") -> _Unit:
        return _Unit(start, end, self.text[start:end], kind, unit.section, note or unit.note)

    def _list_items(self, unit: _Unit) -> list[_Unit]:
        block = parse_blocks(self.text[unit.start : unit.end])
        if len(block) != 1 or block[0].kind != "list":
            return [unit]
        line_starts = [0]
        for m in re.finditer("\n", self.text[unit.start : unit.end]):
            line_starts.append(m.end())
        starts = [unit.start + line_starts[i] for i in block[0].items] + [unit.end + 1]
        return [self._sub(unit, a, self._rstrip(a, b - 1), "item") for a, b in itertools.pairwise(starts)]

    def _rstrip(self, start: int, end: int) -> int:
        while end > start and self.text[end - 1] in " \t\n":
            end -= 1
        return end

    def _lines(self, unit: _Unit) -> list[_Unit]:
        """Lines, keeping any fenced code inside (e.g. in a list item) together as one unit."""
        out: list[_Unit] = []
        pos = unit.start
        lines = self.text[unit.start : unit.end].split("\n")
        i = 0
        while i < len(lines):
            line = lines[i]
            length = len(line)
            opened = fence_open(line)
            if opened:
                j = i + 1
                while j < len(lines) and not (
                    lines[j].strip()
                    and set(lines[j].strip()) == {opened[1][0]}
                    and len(lines[j].strip()) >= len(opened[1])
                ):
                    j += 1
                j = min(j, len(lines) - 1)
                length = sum(len(x) + 1 for x in lines[i : j + 1]) - 1
                sub = self._sub(unit, pos, pos + length, "code")
                if j == len(lines) - 1 and not (lines[j].strip().startswith(opened[1]) and j > i):
                    sub.text += "\n" + opened[0] + opened[1]
                out.append(sub)
                pos += length + 1
                i = j + 1
                continue
            if line.strip():
                out.append(self._sub(unit, pos, pos + length, "line"))
            pos += length + 1
            i += 1
        return out

    def _sentences(self, unit: _Unit) -> list[_Unit]:
        text = self.text[unit.start : unit.end]
        cuts = [0] + [m.end() for m in _SENTENCE_END_RE.finditer(text)] + [len(text)]
        out = []
        for a, b in itertools.pairwise(cuts):
            end = unit.start + len(text[:b].rstrip())
            if end > unit.start + a:
                out.append(self._sub(unit, unit.start + a, end, "sentence"))
        return out

    def _words(
        self, unit: _Unit, budget: int, span: tuple[int, int], wrap: bool = False, note: str = ""
    ) -> list[_Unit]:
        start, end = span
        header, footer = (unit.header, unit.footer) if wrap else ("", "")
        room = budget - ((self.counter.count(header) + self.counter.count(footer) + 2) if wrap else 0)
        note = note or unit.note or "a line longer than the budget was split at token boundaries"
        out = []
        for a, b in self.counter.split_by_tokens(self.text[start:end], max(4, room)):
            sub = _Unit(
                start + a,
                start + b,
                "",
                "codepart" if wrap else "words",
                unit.section,
                note,
                header=header,
                footer=footer,
                rows=[(start + a, start + b)],
            )
            sub.text = header + self.text[start + a : start + b] + footer if wrap else self.text[start + a : start + b]
            if not wrap:
                stripped = sub.text.strip()
                if not stripped:
                    continue
                lead = len(sub.text) - len(sub.text.lstrip())
                sub.start += lead
                sub.end = sub.start + len(stripped)
                sub.text = stripped
            out.append(sub)
        return out or [unit]

    def _wrapped(self, unit: _Unit, rows: list[tuple[int, int]]) -> _Unit:
        body = self.text[rows[0][0] : rows[-1][1]]
        return _Unit(
            rows[0][0],
            rows[-1][1],
            unit.header + body + unit.footer,
            unit.kind,
            unit.section,
            unit.note,
            header=unit.header,
            footer=unit.footer,
            rows=rows,
        )

    def _row_spans(self, start: int, end: int) -> list[tuple[int, int]]:
        spans, pos = [], start
        for line in self.text[start:end].split("\n"):
            spans.append((pos, pos + len(line)))
            pos += len(line) + 1
        return spans

    def _greedy(self, unit: _Unit, rows: list[tuple[int, int]], budget: int, kind: str) -> list[_Unit]:
        """Pack rows/lines into parts under `budget`, each wrapped in the unit's header/footer."""
        fixed = self.counter.count(unit.header) + self.counter.count(unit.footer) + 2
        counts = self.counter.count_many([self.text[a:b] for a, b in rows])
        parts: list[list[tuple[int, int]]] = [[]]
        used = fixed
        for span, n in zip(rows, counts):
            if parts[-1] and used + n + 1 > budget:
                parts.append([])
                used = fixed
            parts[-1].append(span)
            used += n + 1
        template = _Unit(
            unit.start, unit.end, "", kind, unit.section, unit.note, header=unit.header, footer=unit.footer
        )
        return [self._wrapped(template, p) for p in parts if p]

    def _code_parts(self, unit: _Unit, budget: int) -> list[_Unit]:
        rows = self._row_spans(unit.start, unit.end)
        open_line = self.text[rows[0][0] : rows[0][1]]
        opened = fence_open(open_line)
        indent, marker = (opened[0], opened[1]) if opened else ("", "```")
        last = self.text[rows[-1][0] : rows[-1][1]].strip()
        closed = len(rows) > 1 and last and set(last) == {marker[0]} and len(last) >= len(marker)
        body = rows[1:-1] if closed else rows[1:]
        if not body:
            return self._words(unit, budget, (unit.start, unit.end))
        unit.header = open_line + "\n"
        unit.footer = "\n" + indent + marker
        parts = self._greedy(unit, body, budget, "codepart")
        note = f"code block too long for one chunk: split at line boundaries into {len(parts)} parts, fence reopened"
        for p in parts:
            p.note = note
        # The first and last parts also cover the source fences.
        parts[0].start = unit.start
        if closed:
            parts[-1].end = unit.end
        return parts

    def _table_parts(self, unit: _Unit, budget: int) -> list[_Unit]:
        rows = self._row_spans(unit.start, unit.end)
        has_header = len(rows) > 2 and TABLE_DELIM_RE.match(self.text[rows[1][0] : rows[1][1]]) is not None
        if has_header:
            unit.header = self.text[rows[0][0] : rows[1][1]] + "\n"
            body = rows[2:]
        else:
            body = rows
        if not body or (len(body) < 2 and not has_header):
            return self._words(unit, budget, (unit.start, unit.end))
        parts = self._greedy(unit, body, budget, "tablepart")
        note = f"table too long for one chunk: split at row boundaries into {len(parts)} parts" + (
            ", header row repeated" if has_header else ""
        )
        for p in parts:
            p.note = note
        parts[0].start = unit.start
        return parts
