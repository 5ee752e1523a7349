"""Ten imitated documentation generators: the page structures and chrome of Sphinx, MkDocs
Material, Docusaurus, mdBook (with print.html and a meta-refresh stub), rustdoc-style (no
landmark), Javadoc, DocBook (xsltproc chunked HTML), GitBook-like (with .md twins), Hugo and a
hand-written site without landmarks. Text is invented (content.py); structure follows each
generator's templates as described in shared/notes/docs-generators.md.

`build(name, folder, pages)` writes the site of `pages` (content.py's guide by default, or
cli_reference.py's command pages) and returns a Site: which page files must be kept with which
title, and which extra files must be dropped (with the reason).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from .content import PAGES, SITE

E = html.escape


@dataclass
class Site:
    kept: dict[str, str] = field(default_factory=dict)  # file -> expected title
    dropped: dict[str, str] = field(default_factory=dict)  # file -> reason
    anchors: bool = True  # headings carry the page's own ids


def _screen(text) -> str:
    return '<pre class="screen">' + E(text) + "</pre>"


def _literallayout(text) -> str:
    """DocBook renders <literallayout> as a paragraph with a <br> per line."""
    return '<div class="literallayout"><p>' + "<br>\n".join(E(line) for line in text.split("\n")) + "</p></div>"


def _blocks(blocks, code_html, screen_html=_screen) -> str:
    out = []
    for block in blocks:
        kind = block[0]
        if kind == "p":
            out.append(f"<p>{E(block[1])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li><p>{E(i)}</p></li>" for i in block[1]) + "</ul>")
        elif kind == "code":
            out.append(code_html(block[1], block[2]))
        elif kind == "screen":
            out.append(screen_html(block[1]))
        elif kind == "table":
            head, *rows = block[1]
            out.append("<table><thead><tr>" + "".join(f"<th>{E(c)}</th>" for c in head) + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{E(c)}</td>" for c in r) + "</tr>" for r in rows)
                       + "</tbody></table>")
    return "\n".join(out)


def _pygments(lang, text):
    lines = "\n".join(f'<span class="n">{E(line)}</span>' for line in text.split("\n"))
    return f'<div class="highlight-{lang} notranslate"><div class="highlight"><pre><span></span>{lines}</pre></div></div>'


def _plain_code(lang, text):
    return f'<pre><code class="language-{lang}">{E(text)}</code></pre>'


def _sections(page, heading, code_html=_plain_code, wrap=None) -> str:
    parts = []
    for title, anchor, blocks in page[2]:
        body = heading(title, anchor) + _blocks(blocks, code_html)
        parts.append(wrap(anchor, body) if wrap else body)
    return "\n".join(parts)


def _nav_list(pages, href, cls="") -> str:
    items = "".join(f'<li class="{cls}"><a href="{href(p[0])}">{E(p[1])}</a></li>' for p in pages)
    return f"<ul>{items}<li><a href='changelog.html'>Changelog archive</a></li>" \
           f"<li><a href='https://forum.invalid/'>Community forum</a></li></ul>"


FOOTER = "Copyright 2025 Lanternfish Foundation. Privacy notice. Report an issue."


def _head(title, extra="") -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{E(title)}</title>'
            f'<meta name="viewport" content="width=device-width">{extra}'
            '<link rel="stylesheet" href="_static/site.css"><script src="_static/site.js"></script></head>')


# ------------------------------------------------------------------------------ generators


def sphinx(folder: Path, pages=PAGES) -> Site:
    site = Site()
    for i, page in enumerate(pages):
        body = _sections(page, lambda t, a: f'<h2>{E(t)}<a class="headerlink" href="#{a}" title="Link to this heading">¶</a></h2>',
                         _pygments, wrap=lambda a, b: f'<section id="{a}">{b}</section>')
        prev_next = (f'<div class="related" role="navigation" aria-label="Related"><h3>Navigation</h3><ul>'
                     f'<li><a href="genindex.html">Index</a></li><li><a href="#">Previous chapter</a></li>'
                     f'<li><a href="#">Next chapter</a></li></ul></div>')
        html_ = (_head(f"{page[1]} — {SITE} 3.1.4 documentation") + "<body>" + prev_next
                 + '<div class="document"><div class="documentwrapper"><div class="bodywrapper">'
                 + '<div class="body" role="main">'
                 + f'<section id="{page[0]}"><h1>{E(page[1])}<a class="headerlink" href="#{page[0]}">¶</a></h1>'
                 + body + "</section></div></div></div>"
                 + '<div class="sphinxsidebar" role="navigation" aria-label="Main"><div class="sphinxsidebarwrapper">'
                 + f'<h3>Table of Contents</h3>{_nav_list(pages, lambda s: s + ".html")}'
                 + '<div id="searchbox" role="search"><h3>Quick search</h3><form><input type="text" name="q"></form></div>'
                 + "</div></div></div>" + prev_next
                 + f'<div class="footer">{FOOTER}</div></body></html>')
        (folder / f"{page[0]}.html").write_text(html_)
        site.kept[f"{page[0]}.html"] = page[1]
    search = (_head(f"Search — {SITE}", '<meta name="robots" content="noindex">')
              + '<body><div class="body" role="main"><h1>Search</h1><p>Searching for multiple words only shows '
              + "matches that contain all words. " * 8 + "</p></div></body></html>")
    (folder / "search.html").write_text(search)
    site.dropped["search.html"] = "noindex"
    return site


def mkdocs_material(folder: Path, pages=PAGES) -> Site:
    site = Site()
    for page in pages:
        body = _sections(page, lambda t, a: f'<h2 id="{a}">{E(t)}<a class="headerlink" href="#{a}" title="Permanent link">¶</a></h2>')
        toc = "".join(f'<li class="md-nav__item"><a class="md-nav__link" href="#{s[1]}">{E(s[0])}</a></li>' for s in page[2])
        html_ = (_head(f"{page[1]} - {SITE}") + '<body dir="ltr"><a href="#requirements" class="md-skip">Skip to content</a>'
                 + f'<header class="md-header"><nav class="md-header__inner"><div class="md-header__title">{SITE}</div>'
                 + '<div class="md-search"><input placeholder="Search the docs"></div>'
                 + '<div class="md-source">lanternfish/lanternfish</div></nav></header>'
                 + '<div class="md-container"><main class="md-main"><div class="md-main__inner md-grid">'
                 + f'<div class="md-sidebar md-sidebar--primary"><nav class="md-nav md-nav--primary">{_nav_list(pages, lambda s: "../" + s + "/")}</nav></div>'
                 + f'<div class="md-sidebar md-sidebar--secondary"><nav class="md-nav md-nav--secondary"><label>On this page</label><ul>{toc}</ul></nav></div>'
                 + f'<div class="md-content"><article class="md-content__inner md-typeset"><h1 id="{page[0]}">{E(page[1])}</h1>'
                 + body + "</article></div></div></main>"
                 + f'<footer class="md-footer"><nav class="md-footer__inner"><a>Previous chapter</a><a>Next chapter</a></nav><div class="md-copyright">{FOOTER}</div></footer>'
                 + "</div></body></html>")
        (folder / page[0]).mkdir()
        (folder / page[0] / "index.html").write_text(html_)
        site.kept[f"{page[0]}/index.html"] = page[1]
    return site


def docusaurus(folder: Path, pages=PAGES) -> Site:
    site = Site()
    for page in pages:
        body = _sections(page, lambda t, a: f'<h2 class="anchor anchorWithStickyNavbar_xyz" id="{a}">{E(t)}'
                                            f'<a href="#{a}" class="hash-link" aria-label="Direct link" title="Direct link">​</a></h2>')
        toc = "".join(f'<li><a href="#{s[1]}" class="table-of-contents__link">{E(s[0])}</a></li>' for s in page[2])
        canonical = f'<link rel="canonical" href="https://lanternfish.invalid/docs/{page[0]}.html">'
        html_ = (_head(f"{page[1]} | {SITE}", canonical) + '<body class="navigation-with-keyboard"><div id="__docusaurus">'
                 + '<div role="region" aria-label="Skip to main content"><a class="skipToContent_fXgn" href="#__docusaurus_skipToContent_fallback">Skip to content</a></div>'
                 + f'<nav aria-label="Main" class="navbar navbar--fixed-top"><a class="navbar__brand"><b class="navbar__title">{SITE}</b></a>'
                 + '<a class="navbar__item">Version 3.1.4</a><button class="navbar__toggle" aria-label="Toggle navigation">Toggle navigation</button></nav>'
                 + '<div class="main-wrapper mainWrapper_z2l0"><div class="docsWrapper_hBAB"><div class="docRoot_UBD9">'
                 + f'<aside class="theme-doc-sidebar-container"><nav aria-label="Docs sidebar" class="menu thin-scrollbar">{_nav_list(pages, lambda s: s + ".html", "menu__list-item")}</nav></aside>'
                 + '<main class="docMainContainer_TBSr"><div class="container padding-top--md"><div class="row"><div class="col docItemCol_VOVn">'
                 + '<nav class="theme-doc-breadcrumbs" aria-label="Breadcrumbs"><ul class="breadcrumbs"><li><a>Docs home</a></li></ul></nav>'
                 + f'<article><div class="theme-doc-markdown markdown"><header><h1>{E(page[1])}</h1></header>' + body + "</div>"
                 + '<footer class="theme-doc-footer docusaurus-mt-lg"><a class="theme-edit-this-page" href="#">Edit this page</a></footer></article>'
                 + '<nav class="pagination-nav docusaurus-mt-lg" aria-label="Docs pages"><a class="pagination-nav__link">Previous chapter</a><a>Next chapter</a></nav></div>'
                 + f'<div class="col col--3"><div class="tableOfContents_bqdL thin-scrollbar theme-doc-toc-desktop"><ul class="table-of-contents">{toc}</ul></div></div>'
                 + f"</div></div></main></div></div></div><footer class=\"footer footer--dark\"><div class=\"footer__copyright\">{FOOTER}</div></footer></div></body></html>")
        (folder / f"{page[0]}.html").write_text(html_)
        site.kept[f"{page[0]}.html"] = page[1]
    # A versioned copy of the first page points at the current one with rel=canonical.
    (folder / "next").mkdir()
    first = (folder / f"{pages[0][0]}.html").read_text().replace("Version 3.1.4", "Version 3.2 (next)")
    (folder / "next" / f"{pages[0][0]}.html").write_text(first)
    site.dropped[f"next/{pages[0][0]}.html"] = "non_canonical"
    return site


def mdbook(folder: Path, pages=PAGES) -> Site:
    site = Site()

    def chapter(page):
        body = _sections(page, lambda t, a: f'<h2 id="{a}"><a class="header" href="#{a}">{E(t)}</a></h2>', _plain_code)
        return f'<h1 id="{page[0]}"><a class="header" href="#{page[0]}">{E(page[1])}</a></h1>' + body

    def shell(title, main):
        return (_head(f"{title} - {SITE}") + '<body class="light"><div id="body-container">'
                + '<nav id="sidebar" class="sidebar" aria-label="Table of contents"><div class="sidebar-scrollbox">'
                + f'<ol class="chapter">' + "".join(f'<li class="chapter-item"><a href="{p[0]}.html">{E(p[1])}</a></li>' for p in pages)
                + "<li><a href='changelog.html'>Changelog archive</a></li></ol></div></nav>"
                + '<div id="page-wrapper" class="page-wrapper"><div class="page">'
                + f'<div id="menu-bar" class="menu-bar sticky"><div class="left-buttons"><button id="sidebar-toggle" class="icon-button">Toggle navigation</button></div>'
                + f'<h1 class="menu-title">{SITE}</h1><div class="right-buttons"><a href="print.html" title="Print this book">Print</a></div></div>'
                + '<div id="search-wrapper" class="hidden"><form id="searchbar-outer"><input id="searchbar" placeholder="Search the docs"></form></div>'
                + f'<div id="content" class="content"><main>{main}</main>'
                + '<nav class="nav-wrapper" aria-label="Page navigation"><a rel="prev" class="mobile-nav-chapters previous">Previous chapter</a>'
                + '<a rel="next" class="mobile-nav-chapters next">Next chapter</a></nav></div></div>'
                + '<nav class="nav-wide-wrapper" aria-label="Page navigation"><a class="nav-chapters previous">Previous chapter</a></nav>'
                + "</div></div></body></html>")

    for page in pages:
        # mdBook pages whose chapter starts below h1 get the book title from the menu bar.
        (folder / f"{page[0]}.html").write_text(shell(page[1], chapter(page)))
        site.kept[f"{page[0]}.html"] = page[1]
    (folder / "print.html").write_text(shell(SITE, "".join(f'<div id="chapter_begin" style="break-before: page;"></div>{chapter(p)}' for p in pages)))
    site.dropped["print.html"] = "contains_other_pages"
    (folder / "install.html").write_text(  # an old URL kept as a redirect stub
        '<!DOCTYPE HTML><html><head><meta charset="utf-8"><title>Redirecting...</title>'
        '<meta http-equiv="refresh" content="0; URL=installation.html"><link rel="canonical" href="installation.html">'
        '</head><body><p>Redirecting to... <a href="installation.html">installation.html</a>.</p></body></html>')
    site.dropped["install.html"] = "redirect_stub"
    return site


def rustdoc_old(folder: Path, pages=PAGES) -> Site:
    """Old rustdoc/book pages: content straight in <body>, no landmark at all."""
    site = Site()
    for page in pages:
        body = _sections(page, lambda t, a: f'<h2 id="{a}" class="section-header"><a href="#{a}">{E(t)}</a></h2>')
        html_ = (_head(f"{page[1]} - {SITE}") + '<body class="rustdoc">'
                 + f'<nav class="sidebar"><a class="logo-container" href="index.html">{SITE}</a>'
                 + f'<p class="location">Version 3.1.4</p><div class="block items">{_nav_list(pages, lambda s: s + ".html")}</div></nav>'
                 + '<div id="versioninfo">Version 3.1.4 built from commit 1a2b3c</div>'
                 + '<form class="search-form"><input class="search-input" placeholder="Search the docs"></form>'
                 + f'<h1 class="fqn">{E(page[1])}</h1>' + body
                 + f'<p class="footer-note">{FOOTER}</p>'
                 + "</body></html>")
        (folder / f"{page[0]}.html").write_text(html_)
        site.kept[f"{page[0]}.html"] = page[1]
    return site


def javadoc(folder: Path, pages=PAGES) -> Site:
    site = Site()
    for page in pages:
        body = _sections(page, lambda t, a: f'<h2>{E(t)}</h2>',
                         wrap=lambda a, b: f'<section class="detail" id="{a}">{b}</section>')
        html_ = (_head(f"{page[1]} ({SITE} 3.1.4 API)") + '<body class="class-declaration-page"><div class="flex-box">'
                 + '<header role="banner" class="flex-header"><nav role="navigation"><div class="top-nav" id="navbar-top">'
                 + '<ul class="nav-list"><li><a href="overview-summary.html">Overview</a></li><li>Package</li><li class="nav-bar-cell1-rev">Class</li></ul></div>'
                 + '<div class="sub-nav"><ul class="sub-nav-list"><li>Summary:&nbsp;</li><li><a href="#field-summary">Field</a>&nbsp;|&nbsp;</li></ul>'
                 + '<div class="nav-list-search"><label for="search-input">Search the docs</label><input type="text" id="search-input"></div></div></nav></header>'
                 + f'<div class="flex-content"><main role="main"><div class="header"><div class="sub-title">Package org.lanternfish</div>'
                 + f'<h1 title="{E(page[1])}" class="title">{E(page[1])}</h1></div>'
                 + f'<section class="class-description" id="class-description">{body}</section></main>'
                 + f'<footer role="contentinfo"><hr><p class="legal-copy"><small>{FOOTER}</small></p></footer></div></div></body></html>')
        (folder / f"{page[0]}.html").write_text(html_)
        site.kept[f"{page[0]}.html"] = page[1]
    return site


def docbook(folder: Path, pages=PAGES) -> Site:
    """xsltproc chunked HTML: div.navheader/navfooter layout tables, div.chapter, no landmark."""
    site = Site()
    for n, page in enumerate(pages, 1):
        sects = []
        for title, anchor, blocks in page[2]:
            inner = _blocks(blocks, lambda lang, text: f'<pre class="programlisting">{E(text)}</pre>', _literallayout)
            sects.append(f'<div class="sect1"><div class="titlepage"><div><div><h2 class="title" style="clear: both">'
                         f'<a name="{anchor}"></a>{E(title)}</h2></div></div></div>{inner}</div>')
        toc = "".join(f'<dt><span class="sect1"><a href="#{s[1]}">{E(s[0])}</a></span></dt>' for s in page[2])
        navheader = ('<div class="navheader"><table width="100%" summary="Navigation header"><tr><th colspan="3" align="center">'
                     f'Chapter {n}. {E(page[1])}</th></tr><tr><td width="20%" align="left"><a accesskey="p" href="#">Prev</a> </td>'
                     f'<th width="60%" align="center"> </th><td width="20%" align="right"> <a accesskey="n" href="#">Next</a></td></tr></table><hr></div>')
        navfooter = ('<div class="navfooter"><hr><table width="100%" summary="Navigation footer"><tr><td width="40%" align="left">'
                     '<a accesskey="p" href="#">Prev</a> </td><td width="20%" align="center"> </td><td width="40%" align="right"> <a accesskey="n" href="#">Next</a></td></tr>'
                     f'<tr><td width="40%" align="left" valign="top">Previous chapter </td><td width="20%" align="center"><a accesskey="h" href="index.html">Home</a></td>'
                     '<td width="40%" align="right" valign="top"> Next chapter</td></tr></table></div>')
        html_ = (_head(f"Chapter {n}. {page[1]}", '<meta name="generator" content="DocBook XSL Stylesheets V1.79.1">')
                 + '<body bgcolor="white" text="black" link="#0000FF" vlink="#840084" alink="#0000FF">' + navheader
                 + f'<div class="chapter"><div class="titlepage"><div><div><h1 class="title"><a name="{page[0]}"></a>Chapter {n}. {E(page[1])}</h1></div></div></div>'
                 + f'<div class="toc"><p><b>Table of Contents</b></p><dl class="toc">{toc}</dl></div>'
                 + "".join(sects) + "</div>" + navfooter + "</body></html>")
        (folder / f"ch{n:02d}.html").write_text(html_)
        site.kept[f"ch{n:02d}.html"] = f"Chapter {n}. {page[1]}"
    return site


def gitbook(folder: Path, pages=PAGES) -> Site:
    """Legacy GitBook: div.book-summary sidebar, section.markdown-section; each page has its .md source."""
    site = Site()
    for page in pages:
        body = _sections(page, lambda t, a: f'<h2 id="{a}">{E(t)}</h2>')
        html_ = (_head(f"{page[1]} · {SITE}") + '<body><div class="book"><div class="book-summary">'
                 + '<div id="book-search-input" role="search"><input type="text" placeholder="Search the docs"></div>'
                 + f'<nav role="navigation">{_nav_list(pages, lambda s: s + ".html")}</nav></div>'
                 + '<div class="book-body"><div class="body-inner"><div class="book-header" role="navigation">'
                 + f'<h1><i class="fa fa-circle-o-notch fa-spin"></i><a href=".">{SITE}</a></h1></div>'
                 + '<div class="page-wrapper" tabindex="-1" role="main"><div class="page-inner"><div id="book-search-results">'
                 + f'<div class="search-noresults"><section class="normal markdown-section"><h1 id="{page[0]}">{E(page[1])}</h1>{body}</section></div></div></div></div></div>'
                 + '<a href="#" class="navigation navigation-prev" aria-label="Previous chapter">Previous chapter</a></div></div></body></html>')
        (folder / f"{page[0]}.html").write_text(html_)
        (folder / f"{page[0]}.md").write_text(_markdown(page))
        site.kept[f"{page[0]}.md"] = page[1]
        site.dropped[f"{page[0]}.html"] = "markdown_twin"
    site.anchors = False  # Markdown pages get GitHub slugs, as GitBook renders them
    return site


def _markdown(page) -> str:
    lines = [f"# {page[1]}", ""]
    for title, _, blocks in page[2]:
        lines += [f"## {title}", ""]
        for block in blocks:
            if block[0] == "p":
                lines += [block[1], ""]
            elif block[0] == "ul":
                lines += [f"- {i}" for i in block[1]] + [""]
            elif block[0] in ("code", "screen"):
                lang = block[1] if block[0] == "code" else "console"
                lines += ["````" + lang, block[-1], "````", ""]
            elif block[0] == "table":
                head, *rows = block[1]
                lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    return "\n".join(lines)


def hugo(folder: Path, pages=PAGES) -> Site:
    """A Hugo docs theme: content in div#content > div.content, no main/article."""
    site = Site()
    for page in pages:
        body = _sections(page, lambda t, a: f'<h2 id="{a}">{E(t)}<a class="anchor" href="#{a}">#</a></h2>')
        toc = "".join(f'<li><a href="#{s[1]}">{E(s[0])}</a></li>' for s in page[2])
        html_ = (_head(f"{page[1]} | {SITE}") + '<body><div class="container">'
                 + f'<div class="topbar"><a class="brand" href="/">{SITE}</a><span class="version-badge">Version 3.1.4</span></div>'
                 + f'<div class="row"><div class="col-md-3 docs-sidebar"><div class="menu">{_nav_list(pages, lambda s: "/" + s + "/")}</div></div>'
                 + '<div class="col-md-7" id="content"><ol class="breadcrumb"><li><a href="/">Docs home</a></li><li>Guide</li></ol>'
                 + f'<div class="content"><h1>{E(page[1])}</h1>{body}</div>'
                 + '<div class="page-meta"><a href="#" class="edit-this-page">Edit this page</a></div></div>'
                 + f'<div class="col-md-2"><div class="toc-wrapper"><p>On this page</p><ul>{toc}</ul></div></div></div>'
                 + f'<div class="site-footer"><p>{FOOTER}</p><a href="#">Back to top</a></div>'
                 + '<div class="cookie-notice">We use cookies. <a href="#">Accept cookies</a></div></div></body></html>')
        (folder / page[0]).mkdir()
        (folder / page[0] / "index.html").write_text(html_)
        site.kept[f"{page[0]}/index.html"] = page[1]
    return site


def handwritten(folder: Path, pages=PAGES) -> Site:
    """A plain site: a banner, a list of links, the text, a footer; no landmarks, no classes on content."""
    site = Site()
    for page in pages:
        body = _sections(page, lambda t, a: f'<a name="{a}"></a><h2>{E(t)}</h2>')
        links = " | ".join(f'<a href="{p[0]}.html">{E(p[1])}</a>' for p in pages)
        html_ = (f"<html><head><title>{E(SITE)}: {E(page[1])}</title></head><body bgcolor=\"#ffffff\">"
                 + f'<div id="banner"><img src="logo.gif" alt=""> <b>{SITE}</b></div>'
                 + f"<p>{links} | <a href='changelog.html'>Changelog archive</a> | <a href='https://forum.invalid/'>Community forum</a></p><hr>"
                 + f"<h1>{E(page[1])}</h1>" + body
                 + f"<hr><p><a href='index.html'>Back to top</a> | <a href='a.html'>Previous chapter</a> | <a href='b.html'>Next chapter</a></p>"
                 + f"<p><small>{FOOTER}</small></p></body></html>")
        (folder / f"{page[0]}.html").write_text(html_)
        site.kept[f"{page[0]}.html"] = page[1]
    return site


GENERATORS = {f.__name__: f for f in (sphinx, mkdocs_material, docusaurus, mdbook, rustdoc_old, javadoc, docbook,
                                      gitbook, hugo, handwritten)}


def build(name: str, folder: Path, pages=PAGES) -> Site:
    folder.mkdir(parents=True, exist_ok=True)
    return GENERATORS[name](folder, pages)
