"""Whole-site duplicates among converted documents: near-identical pages, and pages that
contain other pages (mdBook's print.html, "all on one page" views).

Word 5-gram shingles, hashed; one inverted index gives, for every pair of pages that share
shingles, how many they share, so resemblance (Jaccard) and containment are exact over the
shingles, with no all-pairs loop. Pages share shingles only through their content (convert
already removed the chrome), so the index stays small.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, defaultdict

SHINGLE = 5
NEAR_DUPLICATE = 0.9  # Jaccard of shingle sets
CONTAINED = 0.9  # share of a page's shingles found inside another page
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
    shared: Counter = Counter()
    for postings in index.values():
        if 1 < len(postings) <= 50:  # a shingle on many pages is boilerplate, not evidence
            for a in range(len(postings)):
                for b in range(a + 1, len(postings)):
                    shared[postings[a], postings[b]] += 1
    contains: dict[int, list[int]] = defaultdict(list)
    near: list[tuple[int, int]] = []
    for (a, b), n in shared.items():
        la, lb = len(sets[a]), len(sets[b])
        if min(la, lb) < MIN_SHINGLES:
            continue
        if n / (la + lb - n) >= NEAR_DUPLICATE:
            near.append((a, b))
        elif n / lb >= CONTAINED and la > lb:
            contains[a].append(b)
        elif n / la >= CONTAINED and lb > la:
            contains[b].append(a)
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
