"""A person's review in the real Argilla UI (headless Debian Chromium via Playwright) reaches pull()."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from docs2qa.curation import schema
from docs2qa.curation.pull import pull
from docs2qa.curation.push import push
from test_curate_push_pull import fresh_cfg, make_chunk, make_pair, vectors

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CORRECTED = "It sets the widget level to 7; the default level is 1."

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)"),
]


def test_annotate_in_the_ui_then_pull_sees_it(argilla_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    cfg = fresh_cfg()
    # One pair the judge wanted dropped: the person overrules it (accept) and fixes the answer.
    pair = make_pair(7, "drop", chunk=1)
    summary = push(
        [pair], {"chunk1": make_chunk(1)}, vectors(1), cfg, "run", argilla_server.url, argilla_server.api_key
    )
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "curate-browser-annotation.png"

    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            page.goto(f"{argilla_server.url}/sign-in")
            page.locator("input").first.fill(argilla_server.username)
            page.locator("input[type=password]").fill(argilla_server.password)
            page.locator("button[type=submit]").click()
            page.wait_for_url(lambda url: "/sign-in" not in url)

            page.goto(summary["url"])
            answer_box = page.locator(f'[aria-label="Question: {schema.Q_CORRECTED_ANSWER}"] [contenteditable=true]')
            answer_box.click()
            answer_box.fill(CORRECTED)
            accept = page.locator(f"#{schema.Q_DECISION}_accept")
            assert not accept.is_checked()  # the judge's suggestion (reject) is pre-selected instead
            page.locator(f"label[for={schema.Q_DECISION}_accept]").click()
            assert accept.is_checked() and not page.locator(f"#{schema.Q_DECISION}_reject").is_checked()
            page.screenshot(path=str(shot), full_page=True)
            page.get_by_role("button", name="Submit").click()
            rows = _wait_for_submission(cfg, argilla_server, tmp_path)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "curate-browser-failure.png"), full_page=True)
            raise
        finally:
            context.close()

    assert shot.stat().st_size > 10_000
    row = rows[pair.pair_id]
    assert (row["status"], row["label"], row["curation"]) == ("accepted", "accept", "human")
    assert row["answer"] == CORRECTED and row["edited"] and row["original_answer"] == pair.answer
    assert row["annotators"] == [argilla_server.username] and row["ratings"] == [4]


def _wait_for_submission(cfg, server, run_dir, timeout_s: float = 30.0) -> dict:
    """The UI saves asynchronously after Submit: poll pull() until the response is there."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = pull(cfg, "run", run_dir, server.url, server.api_key)
        rows = {r["pair_id"]: r for r in result["rows"]}
        if all(r["status"] != "pending" for r in rows.values()) or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)
