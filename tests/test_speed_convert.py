"""Convert's fast paths give what bs4 and markdownify give by themselves.

The bs4 tree made straight from lxml nodes (generation/ingest/soup_from_lxml.py) must equal, node by
node, bs4's own parse of the serialised element; markdownify's walk with per-name tables
(generation/ingest/fast_markdownify.py) must write the same Markdown as markdownify's. Inputs: every
HTML page in tests/, the generator-imitation sites, benchmark pages and a page of edge cases.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import lxml.html
import pytest
from bs4 import BeautifulSoup
from markdownify import MarkdownConverter

from docs2qa.generation.ingest import convert as cv
from docs2qa.generation.ingest.fast_markdownify import base_class
from docs2qa.generation.ingest.main_content import find_main, strip_chrome
from docs2qa.generation.ingest.soup_from_lxml import soup_for
from generator_sites.sites import GENERATORS, build

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS.parent / "benchmarks"))

EDGES = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title> Edge  cases </title>
<style>.x { color: red }</style><script>var a = "<p>";</script></head>
<body class="page  wide" data-x="1"><!-- a comment --><!----><?php echo 1 ?>
<main id="m"><h1 id="top">Title <a class="headerlink" href="#top">¶</a></h1>
<p>One&nbsp;two &amp; three<br>
# not a heading<br>~~~ not a fence</p>   \n  <p>\u00a0</p>
<template><p>in a template</p></template><textarea>  keep
  this  </textarea>
<pre>   </pre><pre>\n  code <!-- c --> here\n</pre><pre><code class="language-py">x = 1</code></pre>
<ol start="3"><li>three</li> <li>four<ul><li>nested</li></ul></li></ol>
<ul><li>a</li><li><p>b</p>\n<p>c</p></li></ul>
<table><caption>Cap</caption><tr><th headers="h1 h2">H</th><td colspan="2">v</td></tr>
<tr><td>1</td><td>2 | 3</td><td><table><tr><td>inner</td></tr></table></td></tr></table>
<p>Text with <a href="x.html" rel="nofollow noopener" accesskey="k" title="t">a link</a>, <code>code</code>,
<em> em </em>, <strong>strong</strong>, <img src="i.png" alt="an image">.</p>
<blockquote><p>quoted</p>text</blockquote><dl><dt>term</dt><dd>definition</dd></dl>
<div>   <span> </span>  <b>bold</b>\t<i>it</i>  </div>&#13;tail&#13;
<h2>Second<span></span></h2><hr><p>last</p></main>
<footer>© 2025</footer></body></html>"""


def _pages(tmp_path_factory) -> list[tuple[str, bytes]]:
    import bench_convert_chunk as bench

    pages = [(f"https://t.invalid/{p.relative_to(TESTS)}", p.read_bytes()) for p in sorted(TESTS.rglob("*.html"))]
    root = tmp_path_factory.mktemp("sites")
    for name in sorted(GENERATORS):
        build(name, root / name)
        pages += [
            (f"https://{name}.invalid/{p.relative_to(root / name)}", p.read_bytes())
            for p in sorted((root / name).rglob("*.htm*"))
        ]
    rng = random.Random(3)
    pages += [(f"https://bench.invalid/p{i}.html", bench.make_page(i, rng).encode()) for i in range(4)]
    return [*pages, ("https://edge.invalid/page.html", EDGES.encode())]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    return _pages(tmp_path_factory)


def _content(body: bytes):
    """The lxml element convert hands to bs4, prepared as convert_html prepares it."""
    doc = cv._parse(body)
    cv._flatten_deep(doc)
    main, how = find_main(doc)
    for pre in list(main.iter("pre")):
        cv._flatten_pre(pre)
    strip_chrome(main, how)
    cv._mark_headings(main)
    return doc, main


def _bs4_parse(el, whole: bool):
    """What convert did before: serialise, let bs4 parse, find the element again."""
    soup = BeautifulSoup(lxml.html.tostring(el, encoding="unicode"), "lxml")
    if whole:
        return soup
    root = soup.body if soup.body is not None else soup
    return root if el.tag == "body" else (root.find(True, recursive=False) or root)


LINKS = ("parent", "previous_element", "next_element", "previous_sibling", "next_sibling")
_BOOLEAN_ATTRIBUTES = {"defer", "async", "checked", "disabled", "selected", "hidden", "readonly", "required"}


def _describe(root, include_root_links: bool) -> list:
    """Each node of `root`'s subtree: class, text or name and fields, links as node indexes."""
    nodes = [root, *root.descendants]
    index = {id(n): i for i, n in enumerate(nodes)}

    def ref(node):
        if node is None:
            return None
        return index.get(id(node), ("outside", getattr(node, "name", None)))

    out = []
    for k, node in enumerate(nodes):
        fields = {key: value for key, value in vars(node).items() if key not in LINKS}
        if isinstance(node, BeautifulSoup):  # the document: its parser state is not the tree
            fields = {"contents": node.contents, "attrs": {}}
        links = {key: ref(getattr(node, key)) for key in LINKS}
        if k == 0 and not include_root_links:
            links = {"parent": links["parent"]}
        if k == len(nodes) - 1 and not include_root_links:  # the reference also holds the element's tail
            links.pop("next_element", None)
        if node.name is None:
            out.append((type(node), str(node), fields, links))
        else:
            # lxml's serializer writes a boolean attribute given as defer="defer" bare, so the old
            # serialise-and-reparse path read it as "": the direct tree keeps the page's own value.
            # (A Docusaurus page's <script defer="defer"> in <head>; never part of the content.)
            fields["attrs"] = {
                key: (type(v), "" if v == key and key in _BOOLEAN_ATTRIBUTES else v)
                for key, v in fields["attrs"].items()
            }
            fields.pop("contents")
            out.append((type(node), node.name, fields, links, len(node.contents)))
    return out


def test_soup_from_lxml_is_bs4s_own_tree(pages):
    for url, body in pages:
        _, main = _content(body)
        _, got_root = soup_for(main)
        want_root = _bs4_parse(main, whole=False)
        assert _describe(got_root, False) == _describe(want_root, False), url
        chain = lambda tag: [(t.name, dict(t.attrs)) for t in tag.parents]  # noqa: E731
        assert chain(got_root) == chain(want_root), url
        whole = cv._parse(body)
        got, _ = soup_for(whole)
        assert _describe(got, True) == _describe(_bs4_parse(whole, whole=True), True), url


def _trees(body: bytes):
    """Two equal bs4 trees of the page's content (conversion changes a tree it walks)."""
    return soup_for(_content(body)[1])[1], soup_for(_content(body)[1])[1]


def test_fast_walk_writes_markdownifys_markdown(pages):
    for url, body in pages:
        fast_tree, stock_tree = _trees(body)
        fast = cv._converter(url).convert_root(fast_tree)
        stock = cv._converter(url, base=MarkdownConverter).process_tag(stock_tree, parent_tags=set())
        assert fast == stock, url


@pytest.mark.parametrize(
    "options", [{"wrap": True}, {"wrap": True, "escape_misc": True, "heading_style": "atx", "bullets": "*+-"}]
)
def test_fast_walk_alone_equals_markdownify(pages, options):
    """Without docs2qa's rules (pre and tables walked too, escaping on): the walk itself."""
    for url, body in pages:
        fast_tree, stock_tree = _trees(body)
        assert base_class()(**options).convert_root(fast_tree) == MarkdownConverter(**options).process_tag(
            stock_tree, parent_tags=set()
        ), url


def test_fast_walk_inside_a_pre_keeps_newlines():
    html = "<div><pre><div>a\n\n\n</div><div>\n\n\nb</div></pre><div>c\n\n\n</div><div>\n\n\nd</div></div>"
    want = MarkdownConverter(wrap=True).convert_soup(BeautifulSoup(html, "lxml"))
    assert base_class()(wrap=True).convert_root(BeautifulSoup(html, "lxml")) == want
    inner = BeautifulSoup(html, "lxml").pre.div  # a root inside a <pre>
    assert base_class()(wrap=True).convert_root(inner) == MarkdownConverter(wrap=True).process_tag(
        BeautifulSoup(html, "lxml").pre.div, parent_tags=set()
    )


def test_fast_walk_refuses_options_it_does_not_follow():
    with pytest.raises(ValueError, match="wrap=True"):
        base_class()(wrap=False)
