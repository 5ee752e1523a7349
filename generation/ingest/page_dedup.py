"""Whole-site duplicates among converted documents: near-identical pages, and pages that
contain other pages (mdBook's print.html, "all on one page" views).

Word 5-gram shingles, hashed; one inverted index gives, for every pair of pages that share
shingles, how many they share, so resemblance (Jaccard) and containment are exact over the
shingles, with no all-pairs loop. Pages share shingles only through their content (convert
already removed the chrome), so the index stays small. Containment is judged on a page's own
text only: pages of a CLI reference repeat the same option sections, and holding those is
not holding another page.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, defaultdict

SHINGLE = 5
NEAR_DUPLICATE = 0.9  # Jaccard of shingle sets
CONTAINED = 0.9  # share of a page's own shingles found inside another page
SHARED_PAGES = 3  # a shingle on this many pages (copies counted once) is shared text, not a page's own
MIN_SHINGLES = 20  # pages shorter than this are too small to judge
_WORD_RE = re.compile(r"\w+")


def shingles(text: str) -> set[int]:
    words = _WORD_RE.findall(text.lower())
    return {zlib.crc32(" ".join(words[i : i + SHINGLE]).encode()) for i in range(max(0, len(words) - SHINGLE + 1))}


def find_duplicates(docs: list[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """{url: (reason, detail)} for the pages to drop, given (url, markdown) in a stable order.

    A page that contains two or more other pages is an aggregate ("contains_other_pages"); of
    near-identical pages the one with the shorter URL (then the first) is kept ("near_duplicate").
    """
    sets = [shingles(text) for _, text in docs]
    index: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for h in s:
            index[h].append(i)
    near = _near_pairs(sets, index)
    contains = _containments(sets, index, _copies(len(docs), near))
    out: dict[str, tuple[str, str]] = {}
    for big, parts in contains.items():
        if len(parts) >= 2:
            names = ", ".join(docs[p][0] for p in sorted(parts)[:3]) + (" ..." if len(parts) > 3 else "")
            out[docs[big][0]] = ("contains_other_pages", f"repeats {len(parts)} other pages ({names})")
    for a, b in sorted(near):
        keep, drop = sorted((a, b), key=lambda i: (len(docs[i][0]), docs[i][0]))
        if docs[keep][0] in out or docs[drop][0] in out:
            continue
        out[docs[drop][0]] = (
            "near_duplicate",
            f"{len(sets[a] & sets[b])} of its 5-word shingles are on {docs[keep][0]}",
        )
    return out


def _near_pairs(sets: list[set[int]], index: dict[int, list[int]]) -> list[tuple[int, int]]:
    """Pairs of pages whose shingle sets nearly coincide (Jaccard)."""
    shared: Counter = Counter()
    for postings in index.values():
        if 1 < len(postings) <= 50:  # a shingle on many pages is boilerplate, not evidence
            for a in range(len(postings)):
                for b in range(a + 1, len(postings)):
                    shared[postings[a], postings[b]] += 1
    return [
        (a, b)
        for (a, b), n in shared.items()
        if min(len(sets[a]), len(sets[b])) >= MIN_SHINGLES and n / (len(sets[a]) + len(sets[b]) - n) >= NEAR_DUPLICATE
    ]


def _copies(count: int, near: list[tuple[int, int]]) -> list[int]:
    """Each page's group of near-identical copies, named by its first member: copies of one
    page (a print page and its mirror) count as one page when shingles are counted."""
    group = list(range(count))

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for a, b in near:
        ra, rb = root(a), root(b)
        group[max(ra, rb)] = min(ra, rb)
    return [root(i) for i in range(count)]


def _containments(sets: list[set[int]], index: dict[int, list[int]], group: list[int]) -> dict[int, list[int]]:
    """{page: the smaller pages whose own text it holds}.

    A page's own text is its shingles found on at most one other page. Text on SHARED_PAGES
    or more pages is shared: option sections repeated across a CLI reference's command pages,
    a notice on every page. A command page that repeats other commands' option blocks holds
    their shared text, not their own; a print page holds each chapter's own text, which is
    found nowhere else.
    """
    own = [0] * len(sets)
    own_shared: Counter = Counter()
    for postings in index.values():
        if len(postings) == 1:  # most shingles: a page's own, and no evidence about any pair
            own[postings[0]] += 1
            continue
        pages = {group[i] for i in postings}
        if len(pages) >= SHARED_PAGES:
            continue
        for i in postings:
            own[i] += 1
        if len(pages) == 2:
            for a in range(len(postings)):
                for b in range(a + 1, len(postings)):
                    if group[postings[a]] != group[postings[b]]:
                        own_shared[postings[a], postings[b]] += 1
    contains: dict[int, list[int]] = defaultdict(list)
    for (a, b), n in own_shared.items():
        if own[b] >= MIN_SHINGLES and n / own[b] >= CONTAINED and len(sets[a]) > len(sets[b]):
            contains[a].append(b)
        elif own[a] >= MIN_SHINGLES and n / own[a] >= CONTAINED and len(sets[b]) > len(sets[a]):
            contains[b].append(a)
    return contains


_SEPARATORS = (" | ", " - ", " — ", " – ", " · ", " :: ", ": ")


def site_affixes(titles: list[str]) -> tuple[set[str], set[str]]:
    """Title prefixes and suffixes (with their separator) that most pages of the site share:
    the site's name ("Install - Acme Docs"), not the page's."""
    prefixes: Counter = Counter()
    suffixes: Counter = Counter()
    for title in titles:
        for sep in _SEPARATORS:
            if sep in title:
                head, _, _ = title.partition(sep)
                _, _, tail = title.rpartition(sep)
                prefixes[head + sep] += 1
                suffixes[sep + tail] += 1
    need = max(2, len(titles) // 2)
    return ({p for p, n in prefixes.items() if n >= need}, {s for s, n in suffixes.items() if n >= need})


def strip_affixes(title: str, affixes: tuple[set[str], set[str]]) -> str:
    prefixes, suffixes = affixes
    for s in sorted(suffixes, key=len, reverse=True):
        if title.endswith(s) and len(title) > len(s):
            title = title[: -len(s)]
            break
    for p in sorted(prefixes, key=len, reverse=True):
        if title.startswith(p) and len(title) > len(p):
            title = title[len(p) :]
            break
    return title.strip()
