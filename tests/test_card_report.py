"""The dataset report and card keep people's decisions apart from the demo policy's, and say
how much of the documentation the version covers (pages and chunks with at least one pair)."""

from __future__ import annotations

from docs2qa.datastore import versions
from docs2qa.datastore.stats import coverage, decisions, sample_rows
from test_card_honesty import HEALTHY, lineage, rows
from test_eval_units import parse_report

PAGES = {f"p{i}": f"https://docs.test/page-{i}" for i in range(5)}  # rows() uses p0, p1 and p2


def write(tmp_path, extra: dict, source: str = "curation"):
    splits = {"train": rows(12, "train"), "validation": [], "test": rows(3, "test")}
    review = {"curation": {"policy": "majority"}} if source == "curation" else {}
    settings = {"system_prompt": None, "include_context": False}
    path = versions.write_version(tmp_path, "t", splits, settings, {**lineage(source, HEALTHY), **review}, extra)
    return path, (path / "README.md").read_text(), (path / "report.html").read_text()


def test_decisions_by_people_and_by_the_demo_policy_are_never_summed():
    outcomes = {"accepted": 10, "rejected": 2, "needs-edit": 1, "pending": 3}
    assert decisions(outcomes, 4) == {
        "people": {"accepted": 6, "rejected": 2, "needs-edit": 1},
        "demo_policy": {"accepted": 4},
        "nobody": {"pending": 3},
    }
    assert decisions({"accepted": 4}, 4) == {"people": {}, "demo_policy": {"accepted": 4}, "nobody": {}}
    assert decisions({}, 0) == {"people": {}, "demo_policy": {}, "nobody": {}}


def test_card_and_report_show_who_decided(tmp_path):
    extra = {"curation_outcomes": {"accepted": 10, "rejected": 2, "pending": 3}, "demo_policy_accepted": 4}
    path, card, html = write(tmp_path, extra)
    assert (
        "people's decisions in Argilla (policy majority): accepted 6, rejected 2; "
        "by the demo policy, not a person: accepted 4; nobody decided yet: pending 3"
    ) in card
    text = " ".join(parse_report(html).text)
    assert "Review decisions by people" in text and "Accepted by the demo policy (not a person)" in text
    assert "NOT human curation" in text and "Not decided by anyone yet" in text
    assert "accepted: 6" in html and "accepted: 4" in html and "pending: 3" in html  # the bars' tooltips
    assert versions.read_manifest(path)["stats"]["decisions"]["people"] == {"accepted": 6, "rejected": 2}


def test_without_a_demo_policy_only_people_are_shown(tmp_path):
    _, card, html = write(tmp_path, {"curation_outcomes": {"accepted": 15, "rejected": 4}})
    assert "people's decisions in Argilla (policy majority): accepted 15, rejected 4\n" in card
    assert "demo policy" not in " ".join(parse_report(html).text)


def test_coverage_counts_pages_and_chunks_with_a_pair(tmp_path):
    every = rows(12, "train") + rows(3, "test")
    assert coverage(every, PAGES, 20) == {
        "pages": 5,
        "pages_with_pairs": 3,
        "chunks": 20,
        "chunks_with_pairs": 12,  # c0..c11; the test rows reuse c0..c2
        "pages_without_pairs": ["https://docs.test/page-3", "https://docs.test/page-4"],
    }
    _, card, html = write(tmp_path, {"pages": PAGES, "chunks": 20})
    assert "Coverage: 3 of 5 chunked pages and 12 of 20 chunks have at least one pair" in card
    report = parse_report(html)
    assert "Coverage: pages and chunks with at least one pair" in " ".join(report.text)
    assert "https://docs.test/page-3" in html and "https://docs.test/page-4" in html
    assert "page-0<" not in html  # covered pages are not listed as missing


def test_coverage_not_recorded_is_said(tmp_path):
    _, card, html = write(tmp_path, {}, source="generation")
    assert "Coverage: not recorded" in card and "not recorded" in html


def test_report_samples_are_the_seeded_rows_with_who_accepted_them_and_their_source(tmp_path):
    _, _, html = write(tmp_path, {})
    splits = {"train": rows(12, "train"), "validation": [], "test": rows(3, "test")}
    samples = html.split("id=samples>")[1].split("</table>")[0]
    for row in sample_rows(splits):
        assert row["source"] in samples and "<td>human</td>" in samples
    assert parse_report(html).tables["samples"] == 6
    assert "href=" not in html and "src=" not in html  # self-contained: sources are text, not links
