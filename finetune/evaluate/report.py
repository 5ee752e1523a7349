"""results.json -> one self-contained report.html: inline CSS, inline SVG bars, no scripts.

Every piece of text from the data (questions, answers, model names) is HTML-escaped.
"""

from __future__ import annotations

from html import escape

LABELS = {
    "rouge_l": "ROUGE-L",
    "rouge_l_gold_length": "ROUGE-L at gold length (length-robust)",
    "token_f1": "Token F1",
    "exact_match": "Exact match (yes/no questions)",
    "embedding_cosine": "Embedding cosine",
    "judge_score": "LLM judge correctness (1-5)",
    "choice_accuracy": "Knowledge check: multiple-choice accuracy",
    "words": "Mean answer length (words)",
    "echo": "Share of answers that restate the question",
}
# "ceiling" is the config's name; what it is: the base model reading the source passage.
SHOWN = {"ceiling": "open-book reference"}
SCALE = {"judge_score": 5.0}  # the others lie in [0, 1]
COLORS = {"base": "#8a8f98", "tuned": "#2563eb", "ceiling": "#16a34a"}
# A label, a header or a number breaks only between words: breaking anywhere let a squeezed
# column fall to one character per line ("R/O/U/G/E"); a table too wide for a phone scrolls in
# its own box instead. An id or a type never breaks. Only texts (answers, paths), given a
# minimum width, break long tokens anywhere: break-word would keep a path's full width as the
# column's minimum, and a table of them ran wider than the page.
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#1f2328;padding:0 1rem;
overflow-wrap:break-word}
h1{font-size:1.5rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
.scroll{overflow-x:auto;margin:.5rem 0}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #d0d7de;padding:.3rem .5rem;vertical-align:top;text-align:left}
th{background:#f6f8fa}td.num,td.token{white-space:nowrap}td.num{text-align:right}
td.text{min-width:10rem;overflow-wrap:anywhere}
.charts{display:flex;flex-wrap:wrap;gap:1rem}
.chart{border:1px solid #d0d7de;padding:.5rem;flex:1 1 22rem;max-width:34rem;box-sizing:border-box;min-width:0}
.bars{display:grid;grid-template-columns:max-content minmax(3rem,1fr) max-content;gap:.2rem .5rem;font-size:12px;
align-items:center}.group{grid-column:1/-1;font-weight:600;margin-top:.3rem}.na{grid-column:2/-1;color:#57606a}
.track{display:block;width:100%;height:16px;background:#eef1f4}
.legend span{display:inline-block;margin-right:1rem}
.swatch{width:.8rem;height:.8rem;display:inline-block;margin-right:.3rem}
.note{background:#fff8c5;padding:.5rem;border:1px solid #d4a72c}.pos{color:#15803d}.neg{color:#b91c1c}
.warn{background:#ffebe9;color:#82071e;border:2px solid #cf222e;padding:.6rem;font-weight:600}
.sub{color:#57606a;margin-top:-.5rem}.verdicts li{margin:.2rem 0}
@media (max-width:600px){body{margin:1rem auto;padding:0 .6rem}}
"""
CUT = 600  # characters of an answer shown in a table; results.json keeps the whole text


def render(results: dict, n_examples: int = 10) -> str:
    variants = list(results["variants"])
    aggregates = results["aggregates"]
    dataset = results["dataset"]
    title = f"docs2qa eval: {dataset.get('name')}" + (f" {dataset['version']}" if dataset.get("version") else "")
    # The first line says what was measured (results.json's "measured"); older results lack it.
    measured = results.get("measured") or title
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Without it a phone lays the page out 980 px wide and shrinks it to unreadable.
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f'<h1 id="measured">{escape(measured)}</h1>',
        f'<p class="sub">{escape(title)}</p>' if measured != title else "",
        *(f'<p class="warn">WARNING: {escape(warning)}</p>' for warning in results.get("warnings", [])),
        _verdicts(results),
        *(f'<p class="note">{escape(note)}</p>' for note in results["notes"]),
        _identity(results),
        '<h2 id="summary">Summary</h2>',
        "<p>tuned − base is the mean difference over the same questions, with its 95% paired bootstrap "
        "interval; it is called better or worse only when the whole interval lies on one side of zero.</p>",
        _summary(results, variants),
        _legend(results["variants"]),
        _shape(results, variants),
        _baseline(results),
        _knowledge(results),
        _facts(results),
        '<h2 id="overall">Overall</h2><div class="charts">',
        *(
            _chart(metric, [("all questions", {v: aggregates[v]["overall"][metric] for v in variants})], variants)
            for metric in results["metrics"]
        ),
        "</div>",
        '<h2 id="by-type">By question type</h2><div class="charts">',
        *(_chart(metric, _type_groups(aggregates, variants, metric), variants) for metric in results["metrics"]),
        "</div>",
        _timings(results),
        *_example_tables(results["examples"], n_examples),
        _judge_failures(results),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _identity(results: dict) -> str:
    model, dataset, gen = results["model"], results["dataset"], results["generation"]
    rows = [
        ("Base model", model["base_model"]),
        ("Adapter", f"{model['adapter']} (sha256 {model['adapter_sha256']}, rank {model['lora_rank']})"),
        (
            "Dataset",
            f"{dataset['source']}: {dataset['path']}" + (f", split {dataset['split']}" if dataset.get("split") else ""),
        ),
        ("Content id", dataset["content_id"]),
        ("Examples", f"{dataset['examples']} of {dataset['available']}"),
        ("Prompt", f"system prompt: {dataset['system_prompt']!r}; context in prompt: {dataset['include_context']}"),
        (
            "Generation",
            f"{gen['engine']} on {gen['device']}, {gen.get('dtype')}, greedy, batch {gen['batch_size']}, "
            f"max {gen['max_new_tokens']} new tokens{_cap(gen)}, quantize {gen['quantize']}",
        ),
        ("Embedding model", results["embedding_model"] or "off"),
        ("Judge", results["judge"] or "off"),
        ("Created", results["created_at"]),
    ]
    # Paths and prompts: texts that may break anywhere, beside labels that never do.
    return _table(["", ""], [(label, _Prose(value)) for label, value in rows], show_header=False)


def _cap(gen: dict) -> str:
    if not gen.get("answer_cap"):
        return ""
    return f" (each answer at most {gen['answer_cap']:g}x its gold answer's tokens + 16)"


def _summary(
    results: dict, variants: list[str], metrics: list[str] | None = None, table_id: str = "summary-table"
) -> str:
    """Overall means side by side, with tuned minus base, its interval and what it allows saying."""
    overall = {v: results["aggregates"][v]["overall"] for v in variants}
    rows = []
    for metric in results["metrics"] if metrics is None else metrics:
        means = [overall[v][metric]["mean"] for v in variants]
        rows.append(
            (
                LABELS[metric],
                *("n/a" if m is None else _number(m, metric) for m in means),
                *_comparison(results["comparisons"][metric], metric),
            )
        )
    return _table(
        ["metric", *(SHOWN.get(v, v) for v in variants), "tuned − base", "95% interval", "verdict", "n"],
        rows,
        table_id=table_id,
    )


def _comparison(c: dict, metric: str) -> tuple:
    if c["difference"] is None:
        return "n/a", "n/a", c["verdict"], c["n"]
    sign = "+" if c["difference"] else ""  # a zero difference has no sign
    interval = (
        f"[{_number(c['low'], metric, '+')}, {_number(c['high'], metric, '+')}]" if c["low"] is not None else "n/a"
    )
    # Colour only a difference the interval supports: a coloured number reads as a result.
    css = {"tuned better": "pos", "tuned worse": "neg"}.get(c["verdict"], "")
    difference = _number(c["difference"], metric, sign)
    return _Raw(f'<span class="{css}">{difference}</span>'), interval, c["verdict"], c["n"]


def _number(value: float, metric: str, sign: str = "") -> _Raw:
    """Every figure of a metric with the same digits, so 1.000 stands beside 0.167 (not 1.0);
    answer lengths in words with one decimal (a mean of 19.5 words, not 19.500)."""
    return _Raw(f"{value:{sign}.{1 if metric == 'words' else 3}f}")


def _shape(results: dict, variants: list[str]) -> str:
    """Length and echo beside the scores: ROUGE and F1 rise for answers as short as the gold
    ones, and a model that repeats the question scores on gold answers that do too."""
    gold = results["gold_answers"]
    overall = {v: results["aggregates"][v]["overall"] for v in variants}
    rows = []
    for metric, gold_value in (("words", gold["mean_words"]), ("echo", gold["echo_share"])):
        rows.append(
            (
                LABELS[metric],
                _number(gold_value, metric),
                *(_number(overall[v][metric]["mean"], metric) for v in variants),
                *_comparison(results["comparisons"][metric], metric),
            )
        )
    return (
        '<h2 id="shape">What the answers look like</h2>'
        + _table(
            [
                "measure",
                "gold answers",
                *(SHOWN.get(v, v) for v in variants),
                "tuned − base",
                "95% interval",
                "verdict",
                "n",
            ],
            rows,
            table_id="shape-table",
        )
        + "<p>Echo: the answer holds most of the question and adds at most one word of its own. "
        "ROUGE-L at gold length scores only the first |gold| words of an answer against the gold answer, "
        "so neither a short nor a padded answer gains from its length.</p>"
    )


def _baseline(results: dict) -> str:
    base = (results.get("baselines") or {}).get("exact_match_majority")
    if not base:
        return ""
    c = base["tuned_minus_baseline"]
    tuned = results["aggregates"]["tuned"]["overall"]["exact_match"]["mean"]
    return '<h2 id="baseline">Yes/no questions against always giving the same answer</h2>' + _table(
        ["always answering", "its accuracy", "tuned accuracy", "tuned − baseline", "95% interval", "verdict", "n"],
        [
            (
                repr(base["answer"]),
                _number(base["accuracy"], "exact_match"),
                _number(tuned, "exact_match"),
                *_comparison(c, "exact_match"),
            )
        ],
        table_id="baseline-table",
    )


def _verdicts(results: dict) -> str:
    """The verdicts as sentences, each with its n and interval, before any table."""
    lines = [v["line"] for v in (results.get("verdicts") or {}).values()]
    if not lines:
        return ""
    return '<ul class="verdicts" id="verdicts">' + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"


def _knowledge(results: dict) -> str:
    check = results.get("knowledge_check") or {}
    head = '<h2 id="knowledge">Knowledge check (multiple choice, scored by likelihood)</h2>'
    if not check.get("items"):
        return head + f"<p>Not run: {escape(check.get('reason', 'no items'))}.</p>"
    forms = check.get("by_form") or {}
    per_form = "; ".join(f"{f['items']} {escape(form)} item(s), chance {f['chance']:.2f}" for form, f in forms.items())
    return (
        head + f"<p>{check['items']} item(s), up to {check['options']} options each: the gold answer and "
        "distractors of its form from other facts of the same site (the two truth values for yes/no and true/false "
        f"answers); {check['skipped']} question(s) without an item ({escape(check['skipped_reason'])}). The model "
        f"picks the option with the highest {escape(check['scoring'])}: answer length cannot help. "
        f"Chance, from the choice sets: {check['chance']:.3f}"
        + (f" ({per_form})" if per_form else "")
        + ".</p>"
        + _summary(results, list(results["variants"]), ["choice_accuracy"], "knowledge-table")
    )


def _facts(results: dict) -> str:
    """Per fact: what the tuned model now knows and what it still does not."""
    table = results.get("facts")
    if not table or not table["facts"]:
        return ""
    by_fact = table["keyed_by"] == "fact_id"
    counts = ", ".join(f"{status} {n}" for status, n in table["counts"].items())
    choice = any(f["tuned_right"] is not None for f in table["facts"])

    def right(value: bool | None, shown: str | None) -> str:
        return "n/a" if value is None else ("right" if value else "wrong") + (f" ({shown})" if shown else "")

    rows = [
        (
            f["fact"],
            f["questions"],
            _cut(f["answer"]),
            right(f["base_right"], f["base_choices"]),
            right(f["tuned_right"], f["tuned_choices"]),
            _number(f["base_rouge_l_gold_length"], "rouge_l_gold_length"),
            _number(f["tuned_rouge_l_gold_length"], "rouge_l_gold_length"),
            f["status"] or "n/a",
        )
        for f in table["facts"]
    ]
    what = "fact (its questions share a fact_id)" if by_fact else "question (the rows carry no fact_id)"
    return (
        '<h2 id="facts">What the tuned model now knows, and what it still does not</h2>'
        + f"<p>One row per {what}. Right: the multiple-choice check picked the gold answer for most of its "
        "questions. ROUGE-L at gold length: mean over its questions. "
        + (f"{escape(counts)}.</p>" if choice else "The multiple-choice check did not run.</p>")
        + _table(
            [
                "fact" if by_fact else "question id",
                "questions",
                "gold answer",
                "base (multiple choice)",
                "tuned (multiple choice)",
                "base ROUGE-L at gold length",
                "tuned ROUGE-L at gold length",
                "tuning",
            ],
            rows,
            table_id="facts-table",
        )
    )


def _legend(variants: dict[str, str]) -> str:
    spans = "".join(
        f'<span><i class="swatch" style="background:{COLORS[v]}"></i>{escape(SHOWN.get(v, v))}: {escape(text)}</span>'
        for v, text in variants.items()
    )
    return f'<p class="legend">{spans}</p>'


def _type_groups(aggregates: dict, variants: list[str], metric: str) -> list[tuple[str, dict]]:
    # Types where the metric never applies (exact match on open questions) would be all "n/a".
    groups = [
        (qtype, {v: aggregates[v]["by_question_type"][qtype][metric] for v in variants})
        for qtype in aggregates[variants[0]]["by_question_type"]
    ]
    return [(qtype, stats) for qtype, stats in groups if any(s["n"] for s in stats.values())]


def _chart(metric: str, groups: list[tuple[str, dict]], variants: list[str]) -> str:
    """Horizontal bars: one group per label, one bar per variant, n beside each value.

    Label, bar and value are cells of a CSS grid, so the bars take whatever width is left and
    the text keeps its size on a narrow window; each bar is an SVG stretched over its track."""
    scale = SCALE.get(metric, 1.0)
    cells = []
    for label, stats in groups:
        cells.append(f'<div class="group">{escape(str(label))}</div>')
        for variant in variants:
            mean, n = stats[variant]["mean"], stats[variant]["n"]
            cells.append(f"<span>{escape(SHOWN.get(variant, variant))}</span>")
            if mean is None:
                cells.append('<span class="na">n/a (n=0)</span>')
                continue
            # The track shows the full scale, so a short bar reads as low rather than missing.
            w = max(0.0, min(1.0, mean / scale)) * 100
            cells.append(
                '<svg class="track" viewBox="0 0 100 1" preserveAspectRatio="none" aria-hidden="true">'
                f'<rect class="bar" data-metric="{metric}" data-variant="{escape(variant)}" width="{w:.1f}" '
                f'height="1" fill="{COLORS[variant]}"><title>{escape(f"{variant} {label}: {mean:.3f} (n={n})")}'
                "</title></rect></svg>"
            )
            cells.append(f"<span>{mean:.3f} (n={n})</span>")
    return (
        f'<div class="chart" role="figure" aria-label="{escape(LABELS[metric])}"><strong>{escape(LABELS[metric])}'
        f'</strong><div class="bars">{"".join(cells)}</div></div>'
    )


def _timings(results: dict) -> str:
    timings = results["timings"]
    rows = [
        (v, t["examples"], _Raw(f"{t['seconds']:.1f}"), t["output_tokens"], _Raw(f"{t['tokens_per_s']:.1f}"))
        for v, t in timings.items()
        if isinstance(t, dict)
    ]
    other = ", ".join(f"{k} {v} s" for k, v in timings.items() if not isinstance(v, dict))
    return (
        '<h2 id="timings">Timings</h2>'
        + _table(["variant", "examples", "seconds", "generated tokens", "tokens/s"], rows)
        + f"<p>{escape(other)}</p>"
    )


def _example_tables(rows: list[dict], n: int) -> list[str]:
    if n == 0:
        return []
    ranked = sorted(rows, key=lambda r: (r["delta"]["rouge_l"], r["delta"]["token_f1"]), reverse=True)
    helped = [r for r in ranked if (r["delta"]["rouge_l"], r["delta"]["token_f1"]) > (0, 0)][:n]
    hurt = [r for r in reversed(ranked) if (r["delta"]["rouge_l"], r["delta"]["token_f1"]) < (0, 0)][:n]
    header = ["id", "type", "question", "gold answer", "base", "tuned", "ΔROUGE-L", "ΔF1"]
    out = []
    for anchor, heading, chosen in (
        ("helped", "Where tuning helped most", helped),
        ("hurt", "Where tuning hurt most", hurt),
    ):
        out.append(f'<h2 id="{anchor}">{heading} (by ROUGE-L, then F1)</h2>')
        if not chosen:
            out.append("<p>No such examples.</p>")
            continue
        cells = [
            (
                _Token(r["id"]),
                _Token(r["question_type"]),
                _cut(r["question"]),
                _cut(r["answer"]),
                _cut(r["outputs"]["base"]["prediction"]),
                _cut(r["outputs"]["tuned"]["prediction"]),
                _delta(r["delta"]["rouge_l"]),
                _delta(r["delta"]["token_f1"]),
            )
            for r in chosen
        ]
        out.append(_table(header, cells, table_id=f"{anchor}-table"))
    return out


def _judge_failures(results: dict) -> str:
    if not results["judge"]:
        return ""
    failed = [
        (_Token(r["id"]), _Token(v), out["judge_error"], _cut(out["judge_raw"] or ""))
        for r in results["examples"]
        for v, out in r["outputs"].items()
        if out.get("judge_error")
    ]
    if not failed:
        return "<h2>Judge</h2><p>Every judge reply held a score.</p>"
    return f"<h2>Judge replies without a score ({len(failed)})</h2>" + _table(
        ["id", "variant", "problem", "raw reply"], failed
    )


class _Raw(str):
    """Markup made here (already escaped), not data."""


def _delta(value: float) -> _Raw:
    css = "pos" if value > 0 else "neg" if value < 0 else ""
    return _Raw(f'<span class="{css}">{value:+.3f}</span>')


class _Token(str):
    """An id or a type: shown whole, on one line."""


class _Prose(str):
    """Free text (questions, answers): its column keeps a readable width beside long neighbours."""


def _cut(text: str) -> _Prose:
    return _Prose(text if len(text) <= CUT else text[:CUT] + " …")


def _table(columns: list[str], rows: list[tuple], *, show_header: bool = True, table_id: str | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{escape(c)}</th>" for c in columns) + "</tr>" if show_header else ""
    body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    ident = f' id="{table_id}"' if table_id else ""
    # The box scrolls sideways on its own when the columns cannot fit: the page never does.
    return f'<div class="scroll"><table{ident}>{head}{body}</table></div>'


def _cell(value) -> str:
    if isinstance(value, _Raw):
        return f'<td class="num">{value}</td>'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    css = ' class="text"' if isinstance(value, _Prose) else ' class="token"' if isinstance(value, _Token) else ""
    return f"<td{css}>{escape('' if value is None else str(value))}</td>"
