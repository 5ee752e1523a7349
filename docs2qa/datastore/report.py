"""A dataset version as one self-contained HTML page of plots (inline SVG, no scripts, no
network), for people who would rather look than read: what filtered the pairs, the judge's
health and calibration, the statistics, and a few rows as they are."""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any
from urllib.parse import urlsplit

SPLIT_HEADER = "".join(
    f"<th>{name}</th>" for name in ("split", "rows", "pages", "question words", "answer words", "context words")
)


def bar_chart(title: str, counts: dict[str, int], note: str = "") -> str:
    """Horizontal bars, one per key, labelled with their count. Label and bar are cells of a CSS
    grid, so the bars take the width left and the text keeps its size on a narrow window; each
    bar is an SVG stretched to its share of the cell, less room for the count beside it."""
    items = [(str(k), v) for k, v in counts.items()]
    if not items:
        return f"<section><h2>{escape(title)}</h2><p class=empty>nothing to show</p></section>"
    top = max(v for _, v in items) or 1
    cells = "".join(
        f'<span class=label title="{escape(label)}">{escape(_short(label))}</span>'
        '<div><svg viewBox="0 0 1 1" preserveAspectRatio="none" '
        f'style="width:calc((100% - 4em) * {value / top:.4f} + 1px)">'
        f'<rect width="1" height="1"><title>{escape(label)}: {value}</title></rect></svg>{value}</div>'
        for label, value in items
    )
    return (
        f'<section><h2>{escape(title)}</h2><div class=bars role=img aria-label="{escape(title)}">{cells}</div>'
        f"{f'<p>{escape(note)}</p>' if note else ''}</section>"
    )


def _short(label: str, width: int = 34) -> str:
    # The end of a label tells pages apart (their paths); the full text is in the bar's tooltip.
    return label if len(label) <= width else "…" + label[-(width - 1) :]


def histogram(values: list[int], bins: int = 10) -> dict[str, int]:
    """Counts of `values` in `bins` equal-width ranges, labelled 'lo-hi', or 'lo' where a range
    holds one value ('4', not '4-4')."""
    if not values:
        return {}
    lo, hi = min(values), max(values)
    width = max(1, -(-(hi - lo + 1) // bins))
    counts = Counter((v - lo) // width for v in values)
    return {
        (f"{lo + b * width}" if width == 1 else f"{lo + b * width}-{lo + (b + 1) * width - 1}"): counts.get(b, 0)
        for b in range(max(counts) + 1)
    }


# A table or chart wider than a narrow window scrolls sideways in its own box (a block table,
# a section), never the whole page. The page is as wide as a desktop window allows, for the
# sample rows' long texts; prose keeps a readable measure. In the samples a word breaks only when
# it alone is wider than its column (a split or a type never does); a page URL, no word, anywhere.
_STYLE = """body{font:14px system-ui,sans-serif;margin:2em auto;max-width:1240px;color:#222;padding:0 1em;
overflow-wrap:break-word}p,ul{max-width:760px}
h1{font-size:1.5em}h2{font-size:1.1em;margin-top:1.8em}
svg rect{fill:#4c78a8}table{border-collapse:collapse;display:block;overflow-x:auto;max-width:100%}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}section{overflow-x:auto}
.empty{color:#888}.warn{color:#a33;font-weight:bold}
.alarm{background:#ffebe9;color:#82071e;border:2px solid #cf222e;padding:.6em;font-weight:bold}
table.rows td,table.rows th{text-align:left;vertical-align:top}table.rows td.token{white-space:nowrap}
table.rows td.text{min-width:12em}table.rows td.url{overflow-wrap:anywhere;min-width:12em}
.bars{display:grid;grid-template-columns:max-content minmax(6em,1fr);gap:2px 6px;font-size:12px;align-items:center;
max-width:710px}.bars .label{text-align:right;color:#333}.bars div{display:flex;align-items:center;gap:4px}
.bars svg{display:block;height:14px;flex:none}"""


def _filtering(manifest: dict[str, Any], stats: dict[str, Any]) -> str:
    from docs2qa.datastore.card import filters, judge_state

    informative, judge = judge_state(manifest)
    alarm = f"<p class=alarm>The LLM judge was not informative. {escape(judge)}</p>" if informative is False else ""
    items = "".join(f"<li><b>{escape(stage)}:</b> {escape(text)}</li>" for stage, text in filters(manifest, stats))
    return f"{alarm}<section><h2>How these pairs were chosen</h2><ul>{items}</ul></section>"


def _calibration(manifest: dict[str, Any]) -> str:
    calibration = manifest.get("curation", {}).get("judge_calibration") or {}
    if not calibration.get("thresholds"):
        return ""
    head = "".join(
        f"<th>{escape(h)}</th>"
        for h in (
            "keep when lowest score >=",
            "judge keeps",
            "agreement",
            "precision of keep",
            "recall of keep",
            "kappa",
        )
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(str(t[k]))}</td>"
            for k in ("min_score", "judge_keeps", "agreement", "precision", "recall", "kappa")
        )
        + "</tr>"
        for t in calibration["thresholds"]
    )
    note = f"<p>{escape(calibration['note'])}</p>" if calibration.get("note") else ""
    return (
        f"<section><h2>The judge against people ({calibration['reviewed']} decisions; proposed min_score "
        f"{calibration['proposed_min_score']})</h2><table id=calibration><tr>{head}</tr>{body}</table>{note}</section>"
    )


def _samples(manifest: dict[str, Any], stats: dict[str, Any]) -> str:
    from docs2qa.datastore.card import judge_cell, judge_off

    # Without a judge the score column would hold nothing but "not judged": it is left out.
    judged = judge_off(manifest) is None
    rows = stats.get("samples", [])
    kinds = {"split": " class=token", "question_type": " class=token", "min_judge_score": " class=token",
             "question": " class=text", "answer": " class=text"}  # fmt: skip
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{kinds.get(k, '')}>{escape(str(r[k] if k != 'min_judge_score' else judge_cell(r[k])))}</td>"
            for k in ("split", "question_type", "question", "answer", "min_judge_score", "curation")
            if judged or k != "min_judge_score"
        )
        + f'<td class=url title="{escape(r["source"])}">{escape(_page(r["source"]))}</td></tr>'
        for r in rows
    )
    score = "<th>judge's lowest score</th>" if judged else ""
    return (
        f"<section><h2>Sample rows ({len(rows)} at random, seeded)</h2><table class=rows id=samples>"
        f"<tr><th>split</th><th>type</th><th>question</th><th>answer</th>{score}"
        f"<th>accepted by</th><th>source page (full URL on hover)</th></tr>{body}</table></section>"
    )


def _judge_scores(manifest: dict[str, Any], stats: dict[str, Any]) -> str:
    """The lowest judge score per pair; a judge that was off has no scores to chart, and a pair
    no judge scored is its own bar, not a score of 0."""
    from docs2qa.datastore.card import judge_off, off_words

    title = "Lowest judge score per pair"
    off = judge_off(manifest)
    if off is not None:
        return (
            f"<section><h2>{title}</h2><p>Judge: {escape(off_words(off))}. No model scored these pairs.</p></section>"
        )
    counts = {f"score {k}": n for k, n in stats["judge_min_score"].items()}
    if stats.get("unjudged"):
        counts["not judged"] = stats["unjudged"]
    return bar_chart(title, counts)


def _page(url: str) -> str:
    # A full URL with its heading's slug is wider than the answer beside it; the site is the
    # same on every row, so its path and fragment are what tell rows apart.
    parts = urlsplit(url)
    return (parts.path or "/") + (f"#{parts.fragment}" if parts.fragment else "") if parts.netloc else url


def _decisions(manifest: dict[str, Any], stats: dict[str, Any]) -> str:
    """Who decided, kept apart: people's decisions are curation, the demo policy's are not."""
    from docs2qa.datastore.card import DEMO_WITHOUT_JUDGE, judge_off

    decided = stats.get("decisions") or {}
    basis = (
        "these unreviewed pairs on the judge's score"
        if judge_off(manifest) is None
        else f"these unreviewed pairs without a judge ({DEMO_WITHOUT_JUDGE})"
    )
    sections = [
        bar_chart("Review decisions by people", decided.get("people", {})),
        bar_chart(
            "Accepted by the demo policy (not a person)",
            decided.get("demo_policy", {}),
            f"curate.demo_accept_min_score accepted {basis}: NOT human curation.",
        )
        if decided.get("demo_policy")
        else "",
        bar_chart("Not decided by anyone yet", decided["nobody"]) if decided.get("nobody") else "",
        bar_chart("Pairs in this version, by who accepted them", stats["curation"]),
    ]
    return "".join(sections)


def _coverage(stats: dict[str, Any]) -> str:
    from docs2qa.datastore.card import coverage_sentence

    cover = stats.get("coverage")
    if not cover:
        return "<section><h2>Coverage</h2><p class=empty>not recorded</p></section>"
    chart = bar_chart(
        "Coverage: pages and chunks with at least one pair",
        {
            "pages with a pair": cover["pages_with_pairs"],
            "pages without": cover["pages"] - cover["pages_with_pairs"],
            "chunks with a pair": cover["chunks_with_pairs"],
            "chunks without": cover["chunks"] - cover["chunks_with_pairs"],
        },
        coverage_sentence(cover) + ".",
    )
    missing = "".join(f"<li>{escape(url)}</li>" for url in cover["pages_without_pairs"])
    shown = len(cover["pages_without_pairs"])
    total = cover["pages"] - cover["pages_with_pairs"]
    more = f" ({shown} of {total} shown)" if shown < total else ""
    listing = f"<h3>Pages without a pair{more}</h3><ul id=uncovered>{missing}</ul>" if missing else ""
    return chart.replace("</section>", listing + "</section>") if listing else chart


def _removed_after_generation(manifest: dict[str, Any], stats: dict[str, Any]) -> str:
    """What review and the leakage check removed. The export's rejections also count the
    generation drops, which have their own chart: drawn whole, this one copied it."""
    generated = Counter((manifest.get("generation") or {}).get("dropped") or {})
    later = dict((Counter(stats["rejections"]) - generated).most_common())
    title = "Removed after generation (review, leakage), by reason"
    if later:
        return bar_chart(title, later)
    return f"<section><h2>{title}</h2><p>None: review and the leakage check removed no pair.</p></section>"


def render(manifest: dict[str, Any], stats: dict[str, Any], splits: dict[str, list[dict[str, Any]]]) -> str:
    rows = [r for split_rows in splits.values() for r in split_rows]
    per_page = Counter(urlsplit(r["url"]).path or r["url"] for r in rows).most_common(30)
    table = "".join(
        f"<tr><th>{escape(s)}</th><td>{d['rows']}</td><td>{d['pages']}</td><td>{d['avg_question_words']}</td>"
        f"<td>{d['avg_answer_words']}</td><td>{d['avg_context_words']}</td></tr>"
        for s, d in [*stats["splits"].items(), ("all", stats["total"])]
    )
    curated = set(stats["curation"]) == {"human"}
    sections = [
        _filtering(manifest, stats),
        bar_chart("Dropped at generation, by reason", manifest.get("generation", {}).get("dropped") or {}),
        _calibration(manifest),
        _samples(manifest, stats),
        bar_chart("Pairs per split", {s: d["rows"] for s, d in stats["splits"].items()}),
        _judge_scores(manifest, stats),
        bar_chart("Question types", stats["question_types"]),
        bar_chart("Pairs per page (30 largest)", dict(per_page)),
        bar_chart("Answer length (words)", histogram([len(r["answer"].split()) for r in rows])),
        bar_chart("Question length (words)", histogram([len(r["question"].split()) for r in rows])),
        _decisions(manifest, stats),
        _coverage(stats),
        _removed_after_generation(manifest, stats),
    ]
    title = f"{manifest['name']} {manifest['version']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - docs2qa dataset report</title>
<style>{_STYLE}</style></head><body>
<h1>{escape(title)}</h1>
<p>Content id <code>{escape(manifest["content_id"])}</code>, exported {escape(manifest["created_at"])}.
{"" if curated else "<span class=warn>Not human-curated.</span> " + escape(manifest.get("curation_note", ""))}
{stats["leakage_removed"]} pair(s) removed from validation/test as near-duplicates of training.</p>
<table><tr>{SPLIT_HEADER}</tr>
{table}</table>
{"".join(sections)}
</body></html>
"""
