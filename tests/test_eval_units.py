"""docs2qa eval, the parts without a model: metrics, judge parsing, gold files, the report."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from docs2qa.errors import Docs2qaError
from docs2qa.finetune.evaluate import judge, protocol
from docs2qa.finetune.evaluate.config import EvalConfig
from docs2qa.finetune.evaluate.data import UNTYPED, Example, load_gold_file
from docs2qa.finetune.evaluate.metrics import exact_match, rouge_l, rouge_tokens, token_f1
from docs2qa.finetune.evaluate.report import render
from docs2qa.finetune.evaluate.scoring import example_row, measure, summarize

# --- metrics, against values worked out by hand ----------------------------------------


def test_rouge_l_is_the_lcs_f_measure_on_lowercase_alphanumeric_tokens():
    assert rouge_tokens("Don't stop-me, NOW!") == ["don", "t", "stop", "me", "now"]
    # LCS "the cat on the mat" = 5 of 6 tokens each side: P = R = 5/6.
    assert rouge_l("The cat sat on the mat.", "the cat is on the mat") == pytest.approx(5 / 6)
    # LCS "a c" = 2; P = 2/4, R = 2/2, F = 2 * 0.5 * 1 / 1.5.
    assert rouge_l("a b c d", "a c") == pytest.approx(2 / 3)
    # Order matters for LCS: "c a" vs "a c" share a subsequence of 1.
    assert rouge_l("c a", "a c") == pytest.approx(0.5)
    assert rouge_l("Hello, World!", "hello world") == 1.0
    assert rouge_l("", "anything") == 0.0
    assert rouge_l("x y", "z") == 0.0


def test_token_f1_follows_squad():
    # Articles and punctuation go: "cat sat on mat" vs "cat is on mat", 3 shared of 4.
    assert token_f1("The cat sat on the mat.", "the cat is on the mat") == pytest.approx(0.75)
    # Bags, not sets: "y" is shared twice. P = R = 2/3.
    assert token_f1("x y y", "y y z") == pytest.approx(2 / 3)
    # P = 1/1, R = 1/4: F = 2 * 0.25 / 1.25.
    assert token_f1("crawler", "the crawler reads sitemaps fast") == pytest.approx(0.4)
    assert token_f1("The answer.", "answer") == 1.0
    assert token_f1("", "") == 1.0 and token_f1("", "x") == 0.0 and token_f1("a the", "x") == 0.0


def test_exact_match_only_for_yes_no_questions():
    assert exact_match("Yes, it does.", "Yes.", "yes_no") == 1.0
    assert exact_match("no", "Yes, the crawler reads it.", "factual") == 0.0  # gold starts with yes: applies
    assert exact_match("True, by default.", "Yes.", "factual") == 1.0  # true/false share yes/no polarity
    assert exact_match("FALSE", "No, it is skipped", "yes_no") == 1.0
    assert exact_match("It reads the sitemap", "The crawler reads it", "factual") is None
    # A yes_no question whose gold answer has no polarity word: normalized full-text equality.
    assert exact_match("It depends!", "it depends", "yes_no") == 1.0
    assert exact_match("maybe", "it depends", "yes_no") == 0.0


# --- judge replies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply, score",
    [
        ("SCORE: 4", 4),
        ("Score: **5**", 5),
        ("score 2\nThe answer misses the point.", 2),
        ("I would give it 3/5.", 3),
        ("The score is 1", 1),
        ("4 out of 5", 4),
        ("  5 ", 5),
    ],
)
def test_judge_scores_are_parsed_from_the_usual_shapes(reply, score):
    verdict = judge.parse(reply)
    assert (verdict.score, verdict.error, verdict.raw) == (score, None, reply)


@pytest.mark.parametrize("reply", ["The answer is good.", "SCORE: 7", "", None, "between 2 and 4"])
def test_unparsable_judge_replies_keep_their_raw_text(reply):
    verdict = judge.parse(reply)
    assert verdict.score is None and verdict.error and verdict.raw == reply


def test_judge_prompt_holds_the_question_gold_and_candidate():
    messages = judge.prompt("Q?", "gold text", "")
    assert messages[0]["role"] == "system"
    assert (
        "Q?" in messages[1]["content"] and "gold text" in messages[1]["content"] and "(empty)" in messages[1]["content"]
    )


class _FakeLLM:
    """Stands in for a distilabel LLM: replies by the candidate answer it is shown."""

    def __init__(self):
        self.calls, self.unloaded = [], False

    def load(self):
        pass

    def unload(self):
        self.unloaded = True

    def get_generation_kwargs(self):
        return {}

    def generate_outputs(self, inputs, num_generations, **kwargs):
        self.calls.append(len(inputs))
        replies = {"right": "SCORE: 5", "close": "4/5", "garbled": "I cannot say."}
        return [
            {"generations": [replies[chat[1]["content"].split("Candidate answer:\n")[1].split("\n")[0]]]}
            for chat in inputs
        ]


def test_judge_all_keeps_order_batches_and_records_failures(monkeypatch):
    from docs2qa.config import LLMConfig
    from docs2qa.generation.llm import factory

    fake = _FakeLLM()
    monkeypatch.setattr(factory, "build_llm", lambda cfg: fake)
    items = [("Q", "gold", c) for c in ("right", "garbled", "close", "right", "garbled")]
    verdicts = judge.judge_all(LLMConfig(batch_size=2), items)
    assert [v.score for v in verdicts] == [5, None, 4, 5, None]
    assert verdicts[1].raw == "I cannot say." and verdicts[1].error
    assert fake.calls == [2, 2, 1] and fake.unloaded


# --- gold files ----------------------------------------------------------------------------

QA_ROWS = [
    {"question": "Does it crawl?", "answer": "Yes.", "context": "It crawls.", "question_type": "yes_no", "id": "a"},
    {"question": "What splits?", "answer": "The chunker.", "context": None},
]
ALPACA_ROWS = [
    {"instruction": "Does it crawl?", "input": "It crawls.", "output": "Yes."},
    {"instruction": "What splits?", "input": "", "output": "The chunker."},
]


def _write(path, rows):
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows) + "\n")
    else:
        path.write_text(json.dumps(rows))
    return path


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".parquet"])
@pytest.mark.parametrize("rows", [QA_ROWS, ALPACA_ROWS], ids=["question-answer", "alpaca"])
def test_gold_files_load_in_every_type_and_column_convention(tmp_path, suffix, rows):
    path = _write(tmp_path / f"gold{suffix}", rows)
    data = load_gold_file(path, "Be brief.", True)
    assert [(e.question, e.answer) for e in data.examples] == [
        ("Does it crawl?", "Yes."),
        ("What splits?", "The chunker."),
    ]
    assert [e.context for e in data.examples] == ["It crawls.", ""]
    assert data.system_prompt == "Be brief." and data.include_context is True
    assert data.identity["source"] == "gold_file" and len(data.identity["content_id"]) == 16
    if rows is QA_ROWS:
        assert [e.question_type for e in data.examples] == ["yes_no", UNTYPED]
        assert [e.id for e in data.examples] == ["a", "2"]


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".parquet"])
def test_a_gold_file_without_the_required_columns_says_what_is_needed(tmp_path, suffix):
    path = _write(tmp_path / f"gold{suffix}", [{"prompt": "Does it crawl?", "response": "Yes."}])
    with pytest.raises(Docs2qaError) as err:
        load_gold_file(path, None, False)
    assert "lacks the required columns (it has: prompt, response)" in str(err.value)
    assert "question + answer" in str(err.value) and "instruction + output" in str(err.value)


def test_bad_gold_files_fail_clearly(tmp_path):
    with pytest.raises(Docs2qaError, match="row 2: the question and the answer"):
        load_gold_file(_write(tmp_path / "g.json", [QA_ROWS[0], {"question": "Q?", "answer": ""}]), None, False)
    with pytest.raises(Docs2qaError, match="unknown type"):
        load_gold_file(_write(tmp_path / "g.csv", QA_ROWS), None, False)
    with pytest.raises(Docs2qaError, match="cannot be read"):
        (tmp_path / "broken.jsonl").write_text("{not json\n")
        load_gold_file(tmp_path / "broken.jsonl", None, False)
    with pytest.raises(Docs2qaError, match="does not exist"):
        load_gold_file(tmp_path / "missing.json", None, False)


def test_config_rejects_unknown_keys_and_documents_every_field():
    with pytest.raises(ValueError):
        EvalConfig(engin="vllm")
    assert all(field.description for field in EvalConfig.model_fields.values())


# --- the report -----------------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.bars, self.tables, self.text = [], [], {}, []
        self._table = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "rect" and attrs.get("class") == "bar":
            self.bars.append((attrs["data-metric"], attrs["data-variant"]))
        if tag == "table" and attrs.get("id"):
            self._table = attrs["id"]
            self.tables[self._table] = 0
        if tag == "tr" and self._table:
            self.tables[self._table] += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)


def parse_report(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


def _row(i, qtype, question, base, tuned, gold="the crawler reads the sitemap"):
    example = Example(str(i), question, gold, "", qtype)
    return example_row(
        example,
        {name: {**measure(text, example), "output_tokens": 3} for name, text in (("base", base), ("tuned", tuned))},
    )


def synthetic_results(rows: list[dict] | None = None) -> dict:
    rows = rows or [
        _row(1, "factual", "<script>alert(1)</script> What reads?", "nothing", "the crawler reads the sitemap"),
        _row(2, "yes_no", "Does it read?", "the crawler reads the sitemap", "no & <b>never</b>"),
        _row(3, "factual", "Same?", "same", "same"),
    ]
    metrics = ["rouge_l", "rouge_l_gold_length", "token_f1", "exact_match"]
    numbers = summarize(rows, ["base", "tuned"], metrics)
    return {
        "created_at": "2026-11-26T00:00:00+00:00",
        "measured": protocol.measured(None, len(rows), len(rows), False, {"source": "gold_file", "name": "gold"}),
        "protocol": None,
        "n": len(rows),
        "model": {
            "base_model": "embedded:smollm2",
            "adapter": "out/adapter",
            "adapter_sha256": "abc",
            "lora_rank": 8,
            "trained_on": None,
            "tokenizer": "out/adapter",
        },
        "dataset": {
            "source": "gold_file",
            "name": "gold",
            "version": None,
            "content_id": "c0ffee",
            "path": "gold.json",
            "split": None,
            "examples": len(rows),
            "available": len(rows),
            "system_prompt": None,
            "include_context": False,
            "matches_training": None,
        },
        "generation": {
            "engine": "transformers",
            "device": "cpu",
            "dtype": "float32",
            "batch_size": 2,
            "max_new_tokens": 8,
            "decoding": "greedy",
            "quantize": "none",
        },
        "variants": {"base": "b", "tuned": "t"},
        "metrics": metrics,
        "embedding_model": None,
        "judge": None,
        "notes": ["a <note>"],
        **numbers,
        "verdicts": protocol.verdicts(numbers["comparisons"], None),
        "facts": protocol.fact_table(rows),
        "knowledge_check": {"items": 0, "skipped": len(rows), "reason": "turned off (eval.choices < 2)"},
        "timings": {"load_s": 1.0, "base": {"seconds": 1, "examples": 3, "output_tokens": 9, "tokens_per_s": 9.0}},
        "examples": rows,
    }


def test_report_is_one_escaped_file_with_bars_and_helped_hurt_tables():
    html = render(synthetic_results(), n_examples=5)
    report = parse_report(html)
    # Per metric: one bar per variant overall, and one per variant per question type (2 types);
    # exact match has no value for the factual type, which gets "n/a" instead of a bar.
    expected = 4 * 2 * (1 + 2) - 2
    assert len(report.bars) == expected
    assert {variant for _, variant in report.bars} == {"base", "tuned"}
    # Header + a row per metric; header + one row each for helped and hurt (the tie is in neither).
    assert report.tables == {
        "summary-table": 5,
        "shape-table": 3,
        "baseline-table": 2,
        "helped-table": 2,
        "hurt-table": 2,
        # One row per question: these rows carry no fact_id.
        "facts-table": 4,
    }
    text = " ".join(report.text)
    assert "Exact match (yes/no questions)" in text and "tuned − base" in text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "no &amp; &lt;b&gt;never&lt;/b&gt;" in html and "a &lt;note&gt;" in html
    # Self-contained: no scripts, no external stylesheets, images or fonts.
    assert "script" not in report.tags and "link" not in report.tags and "img" not in report.tags
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html


def test_report_numbers_have_one_format_per_measure():
    import re

    results = synthetic_results()
    results["aggregates"]["tuned"]["overall"]["rouge_l"]["mean"] = 1.0
    results["gold_answers"]["mean_words"] = 19
    results["comparisons"]["words"] |= {"difference": -50.0, "low": -61.25, "high": -38.5}
    html = render(results, n_examples=0)

    def cells(table_id: str, label: str) -> list[str]:
        table = html.split(f'<table id="{table_id}">')[1].split("</table>")[0]
        row = next(r for r in table.split("<tr>") if f"<td>{label}</td>" in r)
        return [re.sub("<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]

    # A score of 1 reads 1.000 beside 0.167, not 1.0; a length in words has one decimal, not -50.000.
    assert cells("summary-table", "ROUGE-L")[2] == "1.000"
    assert cells("shape-table", "Mean answer length (words)")[1] == "19.0"
    assert cells("shape-table", "Mean answer length (words)")[4:6] == ["-50.0", "[-61.2, -38.5]"]
    assert all(re.fullmatch(r"[+-]?\d+\.\d{3}", c) for c in cells("summary-table", "Token F1")[1:4])
