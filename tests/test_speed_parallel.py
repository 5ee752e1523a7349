"""Workers of convert/chunk start as copies of the parent (fork, on Linux): what the parent
loaded - the libraries, the tokenizer - is there without importing or loading it again, and
results come back in input order, the same as in one process."""

import os
import sys

import pytest

from docs2qa.generation.ingest import parallel
from docs2qa.generation.ingest import tokenizer as tk


def _seen(item):
    return item, "parent-loaded" in tk._LOADED, os.getpid()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is used on Linux only")
def test_workers_inherit_what_the_parent_loaded(monkeypatch):
    monkeypatch.setitem(tk._LOADED, "parent-loaded", object())
    items = list(range(parallel.INLINE_BELOW * 3))
    out = list(parallel.ordered_map(_seen, items, 2))
    assert [i for i, _, _ in out] == items
    assert all(inherited for _, inherited, _ in out)
    assert os.getpid() not in {pid for _, _, pid in out}  # really other processes
    assert [i for i, _, _ in parallel.ordered_map(_seen, items, 1)] == items
