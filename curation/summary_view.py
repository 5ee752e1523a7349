"""The review summary of `curate status` and `curate pull` as tables people read: outcomes,
annotators, agreement and the judge against people. `--json` prints the same numbers for programs."""

from __future__ import annotations

from docs2qa.curation.judge_state import DEMO_WITHOUT_JUDGE
from docs2qa.curation.review_policy import STATUS_OF_LABEL, STATUSES

# Enough pending ids to find a few in Argilla's UI; the rest are counted, not listed.
SHOWN_PENDING = 10


def _number(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _waiting_for(needed: int) -> str:
    return "no submitted response yet" if needed == 1 else f"fewer than {needed} submitted responses yet"


def outcomes(summary: dict):
    from rich.table import Table

    table = Table(title="Outcomes", title_justify="left", show_edge=False)
    table.add_column("status")
    table.add_column("pairs", justify="right")
    table.add_column("")
    # Without a judge the demo policy had no score to go by: the note says what it accepted instead.
    how = "not human" if (summary.get("judge") or {}).get("enabled", True) else f"not human; {DEMO_WITHOUT_JUDGE}"
    notes = {
        "accepted": f"{summary['demo_policy_accepted']} by the demo policy ({how})"
        if summary["demo_policy_accepted"]
        else "",
        "pending": _waiting_for(summary["annotators_per_record"]),
        "disputed": "annotators disagree: another person must decide" if summary["counts"]["disputed"] else "",
    }
    for status in STATUSES:
        table.add_row(status, str(summary["counts"][status]), notes.get(status, ""))
    table.add_row("edited", str(summary["edited"]), "accepted or needs-edit with people's corrected text")
    table.add_row("total", str(summary["records"]), "", style="bold")
    return table


def annotators(summary: dict):
    from rich.table import Table
    from rich.text import Text

    seen = {label for entry in summary["annotators"].values() for label in entry["labels"]}
    labels = [label for label in STATUS_OF_LABEL if label in seen] + sorted(seen - STATUS_OF_LABEL.keys())
    table = Table(title="Annotators", title_justify="left", show_edge=False)
    for column in ("annotator", "submitted", *labels, "draft", "discarded"):
        table.add_column(column, justify="left" if column == "annotator" else "right")
    for user, entry in summary["annotators"].items():
        by_label = [str(entry["labels"].get(label, 0)) for label in labels]
        # A user name is text, never markup.
        table.add_row(Text(user), str(entry["submitted"]), *by_label, str(entry["draft"]), str(entry["discarded"]))
    return table


def agreement_lines(summary: dict) -> list[str]:
    agree = summary["agreement"]
    if not agree["records_with_2plus"]:
        return ["agreement: no record has 2 or more submitted responses yet"]
    lines = [
        f"agreement over {agree['records_with_2plus']} record(s) with 2+ responses: "
        f"{_number(agree['percent_agreement'], 1)}% of annotator pairs agree, "
        f"{_number(100 * agree['unanimous_share'] if agree['unanimous_share'] is not None else None, 0)}% unanimous, "
        f"Fleiss' kappa {_number(agree['fleiss_kappa'])}"
    ]
    for pair, entry in agree["cohen_kappa"].items():
        lines.append(f"  Cohen's kappa {pair.replace('|', ' / ')}: {_number(entry['kappa'])} over {entry['records']}")
    return lines


def judge_line(summary: dict) -> str:
    judge = summary["judge_calibration"]
    if not judge["reviewed"]:
        return f"judge vs people: {judge['note']}"
    line = (
        f"judge vs people: {judge['kept_by_people']} of {judge['reviewed']} reviewed pair(s) kept; "
        f"the judge's min score that agrees most is {judge['proposed_min_score']}"
    )
    return line + (f" ({judge['note']})" if judge["note"] else "")


def print_summary(summary: dict, console=None, url: str | None = None) -> None:
    """The summary of `curation.pull.summarize` (plus its dataset) on `console` (default: stdout),
    and where to review when `url` is known."""
    from rich.console import Console
    from rich.markup import escape

    console = console or Console(soft_wrap=True)
    dataset = summary.get("dataset", {})
    where = escape(f" of {dataset['name']!r}") if dataset else ""
    console.print(
        f"[bold]review{where}[/]: {summary['records']} pair(s), policy {summary['policy']}, "
        f"{summary['annotators_per_record']} submitted response(s) per pair"
    )
    if url:
        console.print(f"review at {url}", markup=False, highlight=False)
    console.print(outcomes(summary))
    if summary["annotators"]:
        console.print(annotators(summary))
    else:
        console.print("annotators: nobody has responded yet")
    for line in [*agreement_lines(summary), judge_line(summary)]:
        console.print(line, markup=False)
    pending = summary.get("pending_pair_ids", [])
    if pending:
        more = summary["counts"]["pending"] - min(len(pending), SHOWN_PENDING)
        console.print(
            "pending: " + ", ".join(pending[:SHOWN_PENDING]) + (f" and {more} more" if more > 0 else ""),
            markup=False,
        )
