"""Redirects on the real fixture server: every URL a redirect chain meets is kept or dropped
with its reason, also on a crawl resumed from its journal."""

from __future__ import annotations

from docs2qa.records import page_id
from test_crawl_site import cfg_for, run


def test_a_redirect_loop_drops_both_of_its_urls_and_resumes_them(site, site_server, tmp_path):
    a, b = f"{site}/docs/loop-a", f"{site}/docs/loop-b"
    cfg = cfg_for(site, seeds=[a], follow_links=False)
    site_server.reset_counts()
    out = run(cfg, tmp_path)

    assert out.pages == []
    got = {d.ref: (d.item_id, d.reason, d.detail) for d in out.dropped}
    assert got == {
        a: (page_id(a), "redirect_loop", f"{a} -> {b} -> {a}"),
        b: (page_id(b), "redirect_loop", f"redirect hop of {a}: {a} -> {b} -> {a}"),
    }
    # Each URL of the loop was asked once: the loop is seen when it closes, not after 10 hops.
    assert site_server.count("/docs/loop-a") == site_server.count("/docs/loop-b") == 1

    site_server.reset_counts()
    resumed = run(cfg, tmp_path)  # the same journal: both rows come back from A's line
    assert {d.ref: (d.item_id, d.reason, d.detail) for d in resumed.dropped} == got
    assert site_server.count("/docs/loop-a") == site_server.count("/docs/loop-b") == 0
