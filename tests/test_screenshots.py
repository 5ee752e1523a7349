"""The dataset report, the eval report and the Argilla review view as a person sees them: real
Debian Chromium (Playwright) at a desktop size and on a narrow window. Each page is saved as a
PNG (in the test's tmp dir, and in $DOCS2QA_SCREENSHOTS_DIR when set, for a person to look at)
and checked for what a person would notice: a page that scrolls sideways, key content missing
or off screen, text cut off or lying on other text, a blank picture."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest

from docs2qa.finetune.evaluate.data import Example
from docs2qa.finetune.evaluate.report import render
from docs2qa.finetune.evaluate.scoring import example_row, measure, summarize
from eval_helpers import QUESTIONS, canonical_rows
from test_curate_browser import CHROMIUM, FLAGS

SIZES = {"wide": (1400, 900), "narrow": (390, 844)}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)"),
]

# One pass over the rendered page. Text is measured per text node (Range.getClientRects), so a
# cell's text spilling over its neighbour, a chart label under a bar's value or a word cut by
# an overflow:hidden box shows up as geometry, whatever produced the markup.
LAYOUT_JS = r"""() => {
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  // Text scrolled out of a box that scrolls up and down (a record below the fold, under a fixed
  // footer) is not on show: it cannot lie on anything a reader sees.
  const shownInScroll = (r, el) => {
    for (let a = el; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowY;
      if (o !== 'auto' && o !== 'scroll') continue;
      const b = a.getBoundingClientRect();
      if (r.bottom <= b.top + 1 || r.top >= b.bottom - 1) return false;
    }
    return true;
  };
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.data.trim()) continue;
    const el = node.parentElement;
    if (el.closest('title, style, script')) continue;
    // Hidden text (a tooltip waiting for a hover, at opacity 0) is not on show.
    if (!el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects())
      if (r.width > 0 && r.height > 0 && shownInScroll(r, el))
        texts.push({text: node.data.trim().slice(0, 40), r, node});
  }
  const overlaps = [];
  for (let i = 0; i < texts.length; i++)
    for (let j = i + 1; j < texts.length; j++) {
      const a = texts[i], b = texts[j];
      if (a.node === b.node) continue;
      const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
      const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
      if (w > 1 && h > 1) overlaps.push([a.text, b.text]);
    }
  // Text outside the box that shows it: a table cell it spills out of, an SVG it is cut off by,
  // an element that hides its overflow, or a sideways-scrolling box around prose (such a box is
  // for tables and charts; a sentence or URL running out of it reads as cut off).
  const clipped = [];
  for (const t of texts) {
    const box = t.node.parentElement.closest('td, th, svg');
    const boxes = box ? [box] : [];
    for (let el = t.node.parentElement; el && el !== document.body; el = el.parentElement) {
      const o = getComputedStyle(el).overflowX;
      if (o === 'hidden' || o === 'clip' || (!box && (o === 'auto' || o === 'scroll'))) boxes.push(el);
    }
    for (const b of boxes) {
      const r = b.getBoundingClientRect();
      if (t.r.left < r.left - 1 || t.r.right > r.right + 1) { clipped.push(t.text); break; }
    }
  }
  // A word of a cell or a label split over two lines ("valid|ation", one letter a line): a word
  // breaks between lines only at a hyphen or a space; a path or a URL (a token with a slash) may
  // break anywhere.
  const splitWords = [];
  const seen = new Set();
  for (const t of texts) {
    if (seen.has(t.node) || !t.node.parentElement.closest('td, th, .label')) continue;
    seen.add(t.node);
    for (const token of t.node.data.matchAll(/\S+/g)) {
      if (token[0].includes('/')) continue;
      for (const word of token[0].matchAll(/\p{L}{2,}/gu)) {
        const range = document.createRange();
        range.setStart(t.node, token.index + word.index);
        range.setEnd(t.node, token.index + word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) splitWords.push(word[0]);
      }
    }
  }
  // Wide content is fine inside a box that scrolls sideways by itself; the page must not.
  const scrollers = [...document.querySelectorAll('body *')].filter(el =>
    ['auto', 'scroll'].includes(getComputedStyle(el).overflowX) && el.scrollWidth > el.clientWidth);
  // A chart is drawn to fit: one in a sideways scroll hides its counts beyond the window.
  const cutCharts = scrollers.filter(el => [...el.querySelectorAll('svg')].some(svg =>
    svg.getBoundingClientRect().right > el.getBoundingClientRect().right + 1));
  return {
    pageWidth: document.scrollingElement.scrollWidth, innerWidth,
    cutCharts: cutCharts.map(el => el.querySelector('h2, strong')?.textContent || el.tagName),
    overlaps: overlaps.slice(0, 10), clipped: clipped.slice(0, 10), splitWords: splitWords.slice(0, 10),
    scrollers: scrollers.map(el => el.tagName + '.' + el.className),
  };
}"""


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def shoot(page, tmp_path: Path, name: str) -> Path:
    """A full-page PNG, non-blank: a page that failed to render or lost its styles is one colour."""
    from PIL import Image, ImageStat

    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("DOCS2QA_SCREENSHOTS_DIR"):
        keep = Path(os.environ["DOCS2QA_SCREENSHOTS_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, keep / path.name)
    with Image.open(path) as image:
        gray = image.convert("L")
        spread = ImageStat.Stat(gray).stddev[0]
        colours = len(gray.getcolors(maxcolors=256 * 256) or range(257))
    assert spread > 10 and colours > 16, f"{path} looks blank (stddev {spread:.1f}, {colours} grey levels)"
    return path


def settled_layout(page) -> dict:
    """The layout once it stops moving: Argilla's panels animate in, and on a loaded machine a
    measure taken mid-transition sees text sliding over text that a person never sees."""
    page.wait_for_load_state("networkidle")
    layout = page.evaluate(LAYOUT_JS)
    for _ in range(20):
        page.wait_for_timeout(250)
        again = page.evaluate(LAYOUT_JS)
        if again == layout:
            break
        layout = again
    return layout


def assert_readable_layout(page, name: str, wide: bool, whole_words: bool = False) -> None:
    """`whole_words`: no word of a table cell or a chart label is split over two lines (our
    reports; Argilla's own view is not ours to change)."""
    layout = settled_layout(page)
    # On a desktop window nothing should hide beside a table: a scrolled-off column goes unseen.
    assert not (wide and layout["scrollers"]), f"{name}: columns hidden in a sideways scroll: {layout['scrollers']}"
    assert layout["pageWidth"] <= layout["innerWidth"], (
        f"{name}: the page scrolls sideways ({layout['pageWidth']} px content in a "
        f"{layout['innerWidth']} px window); wide tables and charts belong in a box that scrolls by itself"
    )
    assert not layout["cutCharts"], f"{name}: charts run out of the window: {layout['cutCharts']}"
    assert not layout["overlaps"], f"{name}: text lies on other text: {layout['overlaps']}"
    assert not layout["clipped"], f"{name}: text is cut off by its box: {layout['clipped']}"
    assert not (whole_words and layout["splitWords"]), f"{name}: words split over lines: {layout['splitWords']}"


def assert_on_screen(page, selector: str, name: str) -> None:
    """Shown, and reachable by scrolling the page down: it starts inside the window's width."""
    element = page.locator(selector).first
    element.scroll_into_view_if_needed()
    assert element.is_visible(), f"{name}: {selector} is not shown"
    box = element.bounding_box()
    width = page.viewport_size["width"]
    assert box and box["width"] > 0 and 0 <= box["x"] < width, f"{name}: {selector} is off screen: {box}"


# --- the dataset report ------------------------------------------------------------------------


DOCS = "https://docs.example.test/guides"


def dataset_report(root: Path) -> Path:
    """A version written by the real writer, with the long texts and page paths real docs have."""
    from docs2qa.datastore.versions import write_version

    train = canonical_rows("train")
    for i, row in enumerate(train):
        row["page_id"] = f"p{i % 4}"
        row["url"] = f"{DOCS}/administration/workspaces-and-permissions/section-{i % 4}"
        # A real anchor: the page's URL and its heading's long slug, one unbroken token.
        row["anchor_url"] = f"{row['url']}#getting-started-with-workspaces-and-permissions-{i}"
        row["curation"] = "demo-policy (not human)"
        if i % 3 == 0:
            row["answer"] = " ".join([row["answer"]] * 6)  # a long answer wraps inside its cell
    splits = {"train": train, "validation": canonical_rows("validation", 2), "test": canonical_rows("test", 3)}
    # Two chunked pages no pair came from: the report lists their URLs, long and unbroken.
    pages = {row["page_id"]: row["url"] for rows in splits.values() for row in rows}
    pages |= {f"u{i}": f"{DOCS}/administration/workspaces-and-permissions/inviting-members-{i}" for i in range(2)}
    extra = {
        "curation_outcomes": {"accepted": 10, "rejected": 2},
        "demo_policy_accepted": 3,
        "rejections": {"rejected_by_reviewer": 2},
        "pages": pages,
        "chunks": 20,
    }
    version = write_version(
        root, "demo", splits, {"system_prompt": "Answer from the docs.", "include_context": False}, {}, extra
    )
    return version / "report.html"


@pytest.mark.parametrize("size", SIZES)
def test_dataset_report_reads_well_in_a_browser(browser, tmp_path, size):
    report = dataset_report(tmp_path / "store")
    width, height = SIZES[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(report.as_uri())
        shoot(page, tmp_path, f"dataset-report-{size}")
        name = f"dataset report at {width}px"
        assert_readable_layout(page, name, wide=size == "wide", whole_words=True)
        if size == "wide":  # the samples' long texts get the window, not a 740 px column
            assert page.locator("#samples").bounding_box()["width"] > 0.7 * width
        assert_on_screen(page, "h1", name)
        assert page.locator("h1").bounding_box()["y"] < height  # the title is on the first screen
        assert_on_screen(page, "table >> nth=0", name)  # the numbers per split
        assert_on_screen(page, "#samples", name)
        assert page.locator("#samples tr").count() > 1  # a header and sample rows
        assert_on_screen(page, "svg", name)
    finally:
        page.close()


# --- the eval report ---------------------------------------------------------------------------

LONG = (
    "The workspace owner opens Settings, then Members, and invites each person by e-mail; an invited person "
    "gets the annotator role until the owner changes it, and the invitation expires after seven days."
)


def eval_results() -> dict:
    """Results shaped by the real scoring code: three variants, four question types, answers as
    long as the report cuts them, a long adapter path: what makes a table or a chart too wide."""
    rows = []
    for i, (question, gold, qtype) in enumerate(QUESTIONS):
        # Real ids are 16 hex digits: one unbroken token in the examples tables.
        example = Example(hashlib.sha256(question.encode()).hexdigest()[:16], question, gold, "", qtype)
        texts = {"base": LONG * (1 + i % 3), "tuned": gold if i % 2 else gold.split(",")[0], "ceiling": gold}
        outputs = {}
        for variant, text in texts.items():
            outputs[variant] = {**measure(text, example), "output_tokens": len(text.split())}
            outputs[variant]["embedding_cosine"] = 0.5 + 0.05 * (i % 5) + (0.1 if variant == "ceiling" else 0)
        rows.append(example_row(example, outputs))
    variants = ["base", "tuned", "ceiling"]
    metrics = ["rouge_l", "rouge_l_gold_length", "token_f1", "exact_match", "embedding_cosine"]
    numbers = summarize(rows, variants, metrics)
    return {
        "created_at": "2026-11-30T00:00:00+00:00",
        "model": {
            "base_model": "embedded:smollm2",
            "adapter": "/home/someone/projects/docs2qa-runs/run-2026-11-30/finetune/demo-v1-c580c082/adapter",
            "adapter_sha256": "4801d2831d2c407f9a0e",
            "lora_rank": 8,
            "trained_on": None,
            "tokenizer": "adapter",
        },
        "dataset": {
            "source": "version",
            "name": "demo",
            "version": "v1",
            "content_id": "6f5153fd4d9d7d48",
            "path": "/home/someone/projects/docs2qa-runs/datasets/demo/v1",
            "split": "test",
            "examples": len(rows),
            "available": len(rows),
            "system_prompt": "You are a helpful assistant that answers questions about this product's documentation.",
            "include_context": False,
            "matches_training": True,
        },
        "generation": {
            "engine": "transformers",
            "device": "cpu",
            "dtype": "float32",
            "batch_size": 16,
            "max_new_tokens": 96,
            "decoding": "greedy",
            "quantize": "none",
        },
        "variants": {
            "base": "base model, same prompt as the tuned one",
            "tuned": "base + adapter",
            "ceiling": "base model with the gold context in the prompt: an open-book reference, not an upper bound",
        },
        "metrics": metrics,
        "embedding_model": "embedded:all-minilm-l6-v2",
        "judge": None,
        "notes": [
            "Questions come from the version's test split, which training never saw: "
            "/home/someone/projects/docs2qa_runs/datasets/demo_v1/data/test_00000_of_00001.parquet"
        ],
        **numbers,
        "warnings": [*numbers["warnings"], "a warning long enough to wrap: " + LONG],
        "knowledge_check": {"items": 0, "skipped": len(rows), "reason": "turned off (eval.choices < 2)"},
        "timings": {
            "load_s": 0.6,
            **{
                v: {"seconds": 17.3, "examples": len(rows), "output_tokens": 960, "tokens_per_s": 55.5}
                for v in variants
            },
            "total_s": 51.08,
        },
        "examples": rows,
    }


@pytest.mark.parametrize("size", SIZES)
def test_eval_report_reads_well_in_a_browser(browser, tmp_path, size):
    report = tmp_path / "report.html"
    report.write_text(render(eval_results(), n_examples=5))
    width, height = SIZES[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(report.as_uri())
        shoot(page, tmp_path, f"eval-report-{size}")
        name = f"eval report at {width}px"
        assert_readable_layout(page, name, wide=size == "wide", whole_words=True)
        assert page.locator("h1").bounding_box()["y"] < height
        for selector in ("p.warn", "#summary-table", "#shape-table", "#helped-table", ".chart", "rect.bar"):
            assert_on_screen(page, selector, name)
        assert "tuned − base" in page.locator("#summary-table").inner_text()
        # Every bar of a mean above zero is drawn wide enough to see.
        bars = page.locator("rect.bar").evaluate_all(
            "bars => bars.map(b => [b.width.baseVal.value, b.getBoundingClientRect().width])"
        )
        assert len(bars) > 20 and all(shown >= 1 for drawn, shown in bars if drawn > 0), bars
    finally:
        page.close()


# --- the Argilla review view -------------------------------------------------------------------


@pytest.fixture(scope="module")
def review_url(argilla_server):
    """A dataset of three pairs pushed by the real push(), as a reviewer opens it."""
    from docs2qa.curation.push import push
    from test_curate_push_pull import fresh_cfg, make_chunk, make_pair, vectors

    pairs = [make_pair(i, verdict) for i, verdict in enumerate(("keep", "revise", "drop"))]
    chunks = {f"chunk{i}": make_chunk(i) for i in range(3)}
    summary = push(pairs, chunks, vectors(3), fresh_cfg(), "run", argilla_server.url, argilla_server.api_key)
    return summary["url"]


@pytest.mark.parametrize("size", SIZES)
def test_argilla_review_view_reads_well_in_a_browser(browser, argilla_server, review_url, tmp_path, size):
    from docs2qa.curation import schema

    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(30_000)
    name = f"Argilla review view at {width}px"
    try:
        page.goto(f"{argilla_server.url}/sign-in")
        page.locator("input").first.fill(argilla_server.username)
        page.locator("input[type=password]").fill(argilla_server.password)
        page.locator("button[type=submit]").click()
        page.wait_for_url(lambda url: "/sign-in" not in url)
        page.goto(review_url)
        # What a reviewer needs on one record: the pair, the judge's pre-selected decision, Submit.
        page.get_by_text(re.compile(r"What does widget --level \d do\?")).first.wait_for()
        shoot(page, tmp_path, f"argilla-review-{size}")
        for selector in (
            f"label[for={schema.Q_DECISION}_accept]",
            f"label[for={schema.Q_DECISION}_reject]",
            f'[aria-label="Question: {schema.Q_CORRECTED_ANSWER}"]',
        ):
            assert_on_screen(page, selector, name)
        assert_on_screen(page, "button:has-text('Submit')", name)
        assert_readable_layout(page, name, wide=size == "wide")
    except Exception:
        page.screenshot(path=str(tmp_path / f"argilla-review-{size}-failure.png"), full_page=True)
        raise
    finally:
        context.close()
