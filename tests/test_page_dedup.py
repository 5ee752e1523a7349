"""Whole-site duplicates on the command reference of tests/generator_sites: pages that share
option sections stay; a print page that concatenates them goes, and so does its copy."""

from __future__ import annotations

from docs2qa.generation.ingest.page_dedup import find_duplicates
from generator_sites import cli_reference
from generator_sites.sites import _markdown


def test_shared_option_sections_are_not_containment_but_print_pages_are():
    docs = [(f"{page[0]}.md", _markdown(page)) for page in cli_reference.PAGES]
    printed = "\n\n".join(text for _, text in docs)
    # The same print page under a second URL: its chapters' text is then on three pages, which
    # must still read as one page's own text, not as text shared across the site.
    docs += [("print.md", printed), ("print/index.md", printed + "\n\nPrinted from the harbour mirror.")]
    dropped = {url: reason for url, (reason, _) in find_duplicates(docs).items()}
    assert dropped == {"print.md": "contains_other_pages", "print/index.md": "contains_other_pages"}
