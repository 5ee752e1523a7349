"""Convert: golden HTML/Markdown pairs (one per group of rules) plus focused rule checks."""

import json
from pathlib import Path

import pytest

from docs2qa.errors import Docs2qaError
from docs2qa.generation.ingest.config import ConvertConfig
from docs2qa.generation.ingest.convert import html_to_markdown
from docs2qa.generation.ingest.markdown_blocks import iter_atx_headings
from docs2qa.generation.ingest.markdown_source import normalise_markdown

GOLDEN = Path(__file__).parent / "golden"
HTML_CASES = sorted(p.stem for p in GOLDEN.glob("*.html"))


@pytest.mark.parametrize("name", HTML_CASES)
def test_html_golden(name):
    meta = json.loads((GOLDEN / f"{name}.json").read_text())
    md, ids, title = html_to_markdown(
        (GOLDEN / f"{name}.html").read_bytes(), meta["url"], ConvertConfig(**meta["convert"])
    )
    assert md == (GOLDEN / f"{name}.md").read_text()
    assert ids == meta["heading_ids"]
    assert title == meta["title"]
    assert len(ids) == len(iter_atx_headings(md))


def test_markdown_golden():
    meta = json.loads((GOLDEN / "harbour.json").read_text())
    src = (GOLDEN / "harbour.src.md").read_bytes().decode()
    assert "\r\n" in src  # the fixture exercises CRLF handling
    md, ids, title = normalise_markdown(src, meta["url"])
    assert md == (GOLDEN / "harbour.md").read_text()
    assert ids == meta["heading_ids"]
    assert title == meta["title"]


def test_golden_cases_exist():
    assert len(HTML_CASES) >= 4


def convert(body: str, url: str = "https://site.invalid/docs/page.html", **cfg):
    return html_to_markdown(f"<html><body><main>{body}</main></body></html>", url, ConvertConfig(**cfg))


def test_output_has_no_stray_whitespace():
    md, _, _ = convert("<p>a  </p>\n\n\n<p>  b</p><div><div></div></div><p>c</p>")
    assert md == "a\n\nb\n\nc\n"
    assert all(line == line.rstrip() for line in md.split("\n"))


def test_heading_ids_follow_atx_headings_only():
    md, ids, _ = convert(
        "<h2>One</h2><pre><code># not a heading\n## nor this</code></pre><h2>One</h2>"
        "<ul><li><h3>In a list</h3></li></ul>"
    )
    assert [h[1] for h in iter_atx_headings(md)] == ["One", "One"]
    assert ids == ["", ""]  # no anchor on the page: the chunk links to the page itself


def test_html_anchors_are_only_the_pages_own():
    _, ids, _ = convert('<h2>Alpha</h2><h2 id="alpha">Other</h2><section id="s3"><h2>Third</h2></section>')
    assert ids == ["", "alpha", "s3"]


def test_code_language_sources():
    for html, lang in [
        ('<pre class="language-rust">fn x() {}</pre>', "rust"),
        ('<pre><code class="lang-go">go x</code></pre>', "go"),
        ('<div class="highlight-ruby"><div class="highlight"><pre>x</pre></div></div>', "ruby"),
        ('<pre data-lang="SQL">select 1</pre>', "sql"),
        ('<div class="highlight-default"><pre>x</pre></div>', ""),
    ]:
        md, _, _ = convert(html)
        assert md.startswith("```" + lang + "\n"), (html, md)


def test_links_and_images_are_absolute():
    md, _, _ = convert(
        '<p><a href="sub/x.html#frag">x</a> <a href="/root">r</a> <a href="javascript:void(0)">js</a>'
        ' <a href="mailto:a@b.invalid">m</a> <img src="../i.png" alt="pic"></p>',
        url="https://site.invalid/docs/page.html",
    )
    assert md == (
        "[x](https://site.invalid/docs/sub/x.html#frag) [r](https://site.invalid/root) js"
        " [m](mailto:a@b.invalid) ![pic](https://site.invalid/i.png)\n"
    )


def test_main_selector_and_drop_selectors():
    html = '<body><div id="doc"><p>keep</p><p class="ad">drop</p></div><p>outside</p></body>'
    md, _, _ = html_to_markdown(html, "https://x.invalid/", ConvertConfig(main_selector="#doc", drop_selectors=[".ad"]))
    assert md == "keep\n"


def test_bad_selector_is_a_clear_error():
    with pytest.raises(Docs2qaError, match="main_selector"):
        html_to_markdown("<p>x</p>", "https://x.invalid/", ConvertConfig(main_selector="div[[["))


def test_article_header_with_title_is_kept():
    md, _, title = html_to_markdown(
        "<body><article><header><h1>Kept title</h1></header><p>Body</p></article></body>",
        "https://x.invalid/",
        ConvertConfig(),
    )
    assert md == "# Kept title\n\nBody\n"
    assert title == "Kept title"


def test_title_falls_back_to_title_tag():
    _, _, title = html_to_markdown(
        "<html><head><title> Page  name </title></head><body><p>x</p></body></html>",
        "https://x.invalid/",
        ConvertConfig(),
    )
    assert title == "Page name"


def test_normalise_markdown_rules():
    src = "# Title {#custom}\r\n\r\nSub\r\n---\r\ntext  \r\n\r\n\r\n\r\n[a](b.md)\r\n```\r\n[c](d.md)\r\n```"
    md, ids, title = normalise_markdown(src, "https://x.invalid/docs/p.md")
    assert md == "# Title\n\n## Sub\ntext\n\n[a](https://x.invalid/docs/b.md)\n```\n[c](d.md)\n```\n"
    assert ids == ["custom", "sub"]
    assert title == "Title"


def test_normalise_closes_an_unclosed_fence():
    md, _, _ = normalise_markdown("text\n\n```python\nx = 1\n", "")
    assert md == "text\n\n```python\nx = 1\n```\n"


def test_thematic_break_is_not_front_matter():
    md, _, title = normalise_markdown("---\n\nHello\n\n---\n", "")
    assert md == "---\n\nHello\n\n---\n"
    assert title == ""


def test_link_title_attributes_are_not_inlined():
    md, _, _ = convert('<p>See <a href="x.html" title="Opens the guide">the guide</a>.</p>')
    assert md == "See [the guide](https://site.invalid/docs/x.html).\n"


def test_literal_text_that_looks_like_markdown_stays_text():
    # DocBook literallayout: a paragraph with a <br> per line.
    md, ids, _ = convert(
        '<h2 id="s">Shell</h2><div class="literallayout"><p>$ lantern check<br>'
        "# checking the offset<br>~~~~~~~~<br>---<br>&gt; done<br>1. first</p></div>"
        "<p># not a heading either</p>"
    )
    assert [h[1] for h in iter_atx_headings(md)] == ["Shell"] and ids == ["s"]
    assert "```" not in md and "\n~~~" not in md
    for line in (
        "\\# checking the offset",
        "\\~~~~~~~~",
        "\\---",
        "\\> done",
        "\\1. first",
        "\\# not a heading either",
    ):
        assert line in md, (line, md)


def test_title_is_the_pages_own_not_the_site_header():
    page = (
        "<html><head><title>Tides - Acme Book</title></head>"
        "<body><div id='menu-bar'><h1 class='menu-title'>Acme Book</h1></div>"
        "<main><h2>Tides</h2><p>" + "Tides rise and fall twice a day. " * 5 + "</p></main></body></html>"
    )
    _, _, title = html_to_markdown(page, "https://x.invalid/", ConvertConfig())
    assert title == "Tides - Acme Book"  # <title>; the site's suffix is removed site-wide (page_dedup)


def test_page_without_landmarks_keeps_its_text_not_its_first_child():
    links = "".join(f'<li><a href="p{i}.html">Chapter {i}</a></li>' for i in range(12))
    page = (
        f"<html><body><div>Acme Tools</div><ul>{links}</ul><h1>Gauges</h1>"
        + "<p>"
        + "A gauge measures the water level. " * 4
        + "</p>"
        + "<h2>Calibration</h2><p>"
        + "Calibrate each gauge against the datum. " * 4
        + "</p>"
        + "<p><small>Copyright 2025 Acme</small></p></body></html>"
    )
    md, _, title = html_to_markdown(page, "https://x.invalid/", ConvertConfig())
    assert title == "Gauges"
    assert "Calibrate each gauge" in md and "A gauge measures" in md and "## Calibration" in md
    assert "Chapter 3" not in md and "Copyright" not in md
    assert "Acme Tools" in md  # unsure (not links, not named): kept


# Astro Starlight 0.29 (Expressive Code 0.38): markup as its components write it.
STARLIGHT_CODE = (
    '<div class="expressive-code"><figure class="frame is-terminal"><figcaption class="header"><span class="title">'
    '</span><span class="sr-only">Terminal window</span></figcaption><pre data-language="sh"><code>'
    '<div class="ec-line"><div class="code"><span style="--0:#D6DEEB">belfry login</span></div></div>'
    '<div class="ec-line"><div class="code">\n</div></div>'
    '<div class="ec-line"><div class="code"><span style="--0:#D6DEEB">belfry </span><span>deploy</span></div></div>'
    '</code></pre><div class="copy"><button title="Copy to clipboard" data-copied="Copied!" '
    'data-code="belfry login\x7f\x7fbelfry deploy"><div></div></button></div></figure></div>'
    '<div class="expressive-code"><figure class="frame has-title"><figcaption class="header"><!-- -->'
    '<span class="title">belfry.yaml</span></figcaption><pre data-language="yaml"><code>'
    '<div class="ec-line"><div class="code">version: 2</div></div>'
    '<div class="ec-line"><div class="code">jobs: {}</div></div></code></pre></figure></div>'
)


def test_starlight_code_frames_keep_lines_and_file_title_not_their_chrome():
    md, _, _ = convert(STARLIGHT_CODE)
    assert md == "```sh\nbelfry login\n\nbelfry deploy\n```\n\nbelfry.yaml\n\n```yaml\nversion: 2\njobs: {}\n```\n"


STARLIGHT_TABS = (
    '<starlight-tabs><div class="tablist-wrapper not-content"><ul role="tablist">'
    '<li role="presentation" class="tab"><a role="tab" href="#tab-panel-4" id="tab-4" aria-selected="true">'
    "curl</a></li>"
    '<li role="presentation" class="tab"><a role="tab" href="#tab-panel-5" id="tab-5" aria-selected="false" '
    'tabindex="-1">Python</a></li></ul></div>'
    '<div id="tab-panel-4" aria-labelledby="tab-4" role="tabpanel"><pre><code>curl -X POST …</code></pre></div>'
    '<div id="tab-panel-5" aria-labelledby="tab-5" role="tabpanel" hidden><pre><code>session.post(…)</code></pre></div>'
    "</starlight-tabs>"
)
# Docusaurus: tabs and panels tied by order only, the panels one level further down.
DOCUSAURUS_TABS = (
    '<div class="tabs-container"><ul role="tablist" class="tabs"><li role="tab" aria-selected="true" '
    'class="tabs__item">npm</li><li role="tab" class="tabs__item">Yarn</li></ul><div class="margin-top--md">'
    '<div role="tabpanel"><p>npm install lantern</p></div><div role="tabpanel" hidden=""><p>yarn add lantern</p></div>'
    "</div></div>"
)


@pytest.mark.parametrize("tabs", [STARLIGHT_TABS, DOCUSAURUS_TABS], ids=["starlight", "docusaurus"])
def test_every_tab_panel_is_kept_under_its_label(tabs):
    md, _, _ = convert(tabs)
    by_selector, _, _ = convert(tabs, main_selector="main")
    assert md == by_selector
    if tabs is STARLIGHT_TABS:
        assert md == "curl\n\n```\ncurl -X POST …\n```\n\nPython\n\n```\nsession.post(…)\n```\n"
    else:
        assert md == "npm\n\nnpm install lantern\n\nYarn\n\nyarn add lantern\n"


def test_starlight_callouts_are_content_sidebars_are_not():
    body = (
        '<p>Before.</p><aside aria-label="Retries repeat work" class="starlight-aside starlight-aside--caution">'
        '<p class="starlight-aside__title" aria-hidden="true"><svg viewBox="0 0 24 24"><path d="M0 0"></path></svg>'
        'Retries repeat work</p><div class="starlight-aside__content"><p>Make jobs idempotent.</p></div></aside>'
        '<aside class="right-sidebar-container"><p>On this page</p></aside><p>After.</p>'
    )
    for cfg in ({}, {"main_selector": "main"}):
        md, _, _ = convert(body, **cfg)
        assert md == "Before.\n\nRetries repeat work\n\nMake jobs idempotent.\n\nAfter.\n", cfg


def test_links_side_by_side_stay_apart():
    md, _, _ = convert('<div class="actions"><a href="/a.html">Get started</a><a href="/b.html">CLI</a></div>')
    assert md == "[Get started](https://site.invalid/a.html) [CLI](https://site.invalid/b.html)\n"


def test_starlight_code_frames_read_the_same_through_main_selector():
    assert convert(STARLIGHT_CODE, main_selector="main") == convert(STARLIGHT_CODE)


@pytest.mark.parametrize("selector", [None, "article"])
def test_a_section_named_after_its_heading_is_content_whatever_the_heading_says(selector):
    """Sphinx names a section after its heading: an FAQ entry "Is Marram GDPR compliant?" is
    section#is-marram-gdpr-compliant (held-out marram site), not a consent banner; a banner's
    own name still marks it."""
    body = (
        '<div id="gdpr-consent"><p>We use cookies.</p></div><article><h1>FAQ</h1>'
        '<section id="is-acme-gdpr-compliant"><h2>Is Acme GDPR compliant?</h2><p>Yes, Acme signs a DPA.</p></section>'
        '<section class="cookie-banner"><p>Accept all cookies</p></section>'
        '<section id="gdpr-notice"><p>Manage cookies</p></section></article>'
    )
    text, _, _ = convert(body, main_selector=selector) if selector else convert(body)
    assert "Yes, Acme signs a DPA." in text and "Is Acme GDPR compliant?" in text
    assert "cookies" not in text


@pytest.mark.parametrize("selector", [None, "article"])
def test_a_term_permalink_is_chrome_like_a_headings(selector):
    """Sphinx puts a permalink in every glossary term and API signature (<dt>): the held-out
    marram site's glossary read "E.164¶ : The international phone number format ..."."""
    body = (
        '<article><h1>Glossary</h1><dl class="glossary"><dt id="term-E.164">E.164<a class="headerlink" '
        'href="#term-E.164" title="Link to this term">¶</a></dt><dd><p>The phone number format.</p></dd>'
        '<dt id="term-key">API key <a href="#term-scope">see scope</a></dt><dd><p>A secret.</p></dd></dl></article>'
    )
    text, _, _ = convert(body, main_selector=selector) if selector else convert(body)
    assert "¶" not in text and "E.164" in text and "The phone number format." in text
    assert "see scope" in text  # a link to another term is the term's own text
