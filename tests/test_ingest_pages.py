"""Whole-site page decisions through the real stages: near-duplicates, warnings for unclear main
content, site title affixes, and meta-refresh stubs followed over HTTP."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from docs2qa.config import Config
from docs2qa.generation.ingest import stages
from docs2qa.records import Document, Dropped
from docs2qa.store import RunStore

PROSE = " ".join(f"Station {i} records the level of the cove at dawn and again at dusk." for i in range(30))


def page(title: str, body: str, head: str = "") -> str:
    return f"<html><head><title>{title}</title>{head}</head><body>{body}</body></html>"


def ingest(tmp_path, crawl: dict):
    config = Config.model_validate({"name": "t", "crawl": crawl})
    store = RunStore(tmp_path / "run")
    stages.crawl(config, store)
    stages.convert(config, store)
    docs = store.stage("convert").read("documents", Document)
    dropped = [d for s in ("crawl", "convert") for d in store.stage(s).read("dropped", Dropped)]
    return docs, {d.ref.rsplit("/", 1)[1]: d for d in dropped}


def test_near_duplicates_warnings_and_title_affixes(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.html").write_text(page("Alpha | Cove Docs", f"<main><h2>Alpha</h2><p>{PROSE}</p></main>"))
    (site / "a-print.html").write_text(
        page("Alpha (print) | Cove Docs", f"<main><h2>Alpha</h2><p>{PROSE} Printed.</p></main>")
    )
    (site / "b.html").write_text(page("Beta | Cove Docs", f"<main><h2>Beta</h2><p>{PROSE[::-1]}</p></main>"))
    nav = "".join(f"<li><a href='x{i}.html'>Chapter number {i} of the long handbook</a></li>" for i in range(80))
    (site / "c.html").write_text(
        page("Gamma | Cove Docs", f"<aside><ul>{nav}</ul></aside><main><p>{PROSE[:300]}</p></main>")
    )
    docs, dropped = ingest(tmp_path, {"local_dir": str(site)})
    assert {d.url.rsplit("/", 1)[1]: d.title for d in docs} == {"a.html": "Alpha", "b.html": "Beta", "c.html": "Gamma"}
    assert dropped["a-print.html"].reason == "near_duplicate" and "a.html" in dropped["a-print.html"].detail
    assert dropped["c.html"].reason == "main_content_unclear"
    assert (
        dropped["c.html"].detail.startswith("main content unclear: ")
        and "% of the visible text kept" in dropped["c.html"].detail
    )


def test_meta_refresh_stub_is_followed_like_a_redirect(tmp_path):
    site = tmp_path / "docs"
    site.mkdir()
    (site / "index.html").write_text(
        page("Home", f"<main><h1>Home</h1><p>{PROSE}</p><a href='old.html'>old</a></main>")
    )
    (site / "old.html").write_text(
        page("Redirecting", "<p>Moved.</p>", '<meta http-equiv="refresh" content="0; url=new.html">')
    )
    (site / "new.html").write_text(page("New", f"<main><h1>New</h1><p>{PROSE[::-1]}</p></main>"))
    (site / "away.html").write_text(
        page("Away", "<p>Moved.</p>", '<meta http-equiv="refresh" content="0;URL=\'https://elsewhere.invalid/\'">')
    )
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        docs, dropped = ingest(
            tmp_path,
            {
                "seeds": [base + "index.html", base + "away.html"],
                "allow_private_addresses": True,
                "markdown_alternates": False,
                "respect_robots": False,
            },
        )
    finally:
        server.shutdown()
    assert sorted(d.url.rsplit("/", 1)[1] for d in docs) == ["index.html", "new.html"]
    assert dropped["old.html"].reason == "redirect_stub" and dropped["old.html"].detail.endswith("/new.html")
    assert dropped["away.html"].reason == "redirect_stub"
    assert dropped[""].reason == "host_not_allowed"  # https://elsewhere.invalid/ is checked like any link
