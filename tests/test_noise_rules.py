"""One set of noise rules (main_content.is_noise) for both ways convert finds the content:
the lxml landmark path and the bs4 main_selector path drop and keep the same things."""

from __future__ import annotations

from docs2qa.generation.ingest.config import ConvertConfig
from docs2qa.generation.ingest.convert import html_to_markdown

PAGE = """<html><body><main class="doc">
<form><h1>Title in a form</h1></form>
<nav><a href="/a">A</a> <a href="/b">B</a></nav>
<p>Visible paragraph that is the page's own content, long enough to be prose.</p>
<div hidden>hidden text</div>
<div style="display: none">undisplayed text</div>
<div class="cookie-banner">We use cookies</div>
<header><h2>Kept header</h2></header>
<aside>aside text</aside>
<script>var x = 1;</script>
<p>Second paragraph.</p>
</main></body></html>"""


def test_both_paths_apply_the_same_noise_rules():
    by_landmark = html_to_markdown(PAGE, "https://docs.example/p", ConvertConfig())
    by_selector = html_to_markdown(PAGE, "https://docs.example/p", ConvertConfig(main_selector="main.doc"))
    assert by_landmark == by_selector
    markdown = by_selector[0]
    assert "# Title in a form" in markdown and "## Kept header" in markdown and "Second paragraph." in markdown
    for gone in ("hidden text", "undisplayed text", "We use cookies", "aside text", "var x", "/a)"):
        assert gone not in markdown
