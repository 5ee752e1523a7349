"""Eval by protocol: multiple-choice distractors of the gold answer's form, chance from the
choice sets, the training system prompt for gold files, answers capped by the gold length,
what was measured on the first line, the per-fact table and the verdict sentences."""

from __future__ import annotations

import json

import pytest

from docs2qa.datastore.versions import read_manifest, write_version
from docs2qa.finetune.evaluate import intervals, protocol
from docs2qa.finetune.evaluate.choice import CODE, NUMBER, TEXT, TRUTH, answer_form, build_items, chance
from docs2qa.finetune.evaluate.config import EvalConfig
from docs2qa.finetune.evaluate.data import Example
from docs2qa.finetune.evaluate.metrics import words
from docs2qa.finetune.evaluate.run import evaluate
from eval_helpers import DEMO_FACTS, QUESTIONS, build_adapter, demo_fact_rows
from test_eval_run import finetune_dir, version  # noqa: F401  (module fixtures: a tiny adapter and its version)
from test_eval_units import parse_report
from tiny_models import tiny_chat_model  # noqa: F401  (session fixture)


def _examples(split: str = "test", site: str = "acme-cloud.example") -> list[Example]:
    return [
        Example(row["pair_id"], row["question"], row["answer"], "", row["question_type"], row["fact_id"], site)
        for row in demo_fact_rows(split)
    ]


# --- distractors of the gold answer's form ---------------------------------------------------


def test_the_demo_facts_cover_every_answer_form():
    forms = [answer_form(answer) for *_, answer in DEMO_FACTS]
    assert {form: forms.count(form) for form in set(forms)} == {TRUTH: 8, NUMBER: 9, CODE: 9, TEXT: 10}
    # A sentence that mentions a path is prose; a command in backticks inside a sentence is a command.
    assert answer_form("Attached datasets are mounted read-only under /datasets/<owner>/<slug>.") == TEXT
    assert answer_form("Run `acme login` first.") == CODE
    assert answer_form("CUDA_VISIBLE_DEVICES=0 python train.py") == CODE
    # An answer quoted from a code block of its chunk is code, whatever it looks like.
    assert answer_form("Read-Only", "```yaml\nmode: Read-Only\n```") == CODE


def test_yes_no_and_true_false_answers_are_asked_as_the_two_truth_values():
    """The old check drew distractors from other answers: the only True/False option among
    sentences was the gold one, and every variant scored 0.93-0.95 at 'chance 0.25'."""
    examples = _examples()
    items = build_items(examples, options=4)
    for example, item in zip(examples, items):
        if answer_form(example.answer) != TRUTH:
            continue
        assert item is not None and item.form == TRUTH
        truth = example.answer.split()[0].strip(",:").lower()
        pair = {"Yes", "No"} if truth in ("yes", "no") else {"True", "False"}
        assert set(item.options) == pair and item.options[item.gold] == truth.capitalize()
    truth_items = [item for item in items if item is not None and item.form == TRUTH]
    assert len(truth_items) == 8 and chance(truth_items) == {
        "chance": 0.5,
        "by_form": {TRUTH: {"items": 8, "chance": 0.5}},
    }


def test_numbers_get_numbers_from_other_facts_of_the_same_site():
    examples = _examples()
    # The train phrasing of each fact shares its fact_id: never a distractor of that fact, even
    # where its answer is written differently. Another site's numbers are never drawn either.
    same_fact = Example("train-f12b", "Grace period?", "a quarter of an hour", "", "factual", "f12", examples[0].site)
    other_site = [Example(f"x{i}", "Q?", f"{i} minutes", "", "factual", f"x{i}", "other.example") for i in range(30)]
    pool = [*examples, *_examples("train"), same_fact, *other_site]
    items = build_items(examples, options=4, pool=pool)
    numbers = {e.answer for e in examples if answer_form(e.answer) == NUMBER}
    for example, item in zip(examples, items):
        if answer_form(example.answer) != NUMBER:
            continue
        assert item is not None and item.form == NUMBER and len(item.options) == 4
        assert item.options[item.gold] == example.answer and set(item.options) <= numbers
    # "15 minutes" first takes the other answers in minutes: a bare "8" would give it away.
    grace = items[next(i for i, e in enumerate(examples) if e.fact_id == "f12")]
    assert "10 minutes" in grace.options


def test_commands_get_commands_and_sentences_get_sentences_of_similar_length():
    examples = _examples()
    items = build_items(examples, options=4)
    for example, item in zip(examples, items):
        form = answer_form(example.answer)
        if form not in (CODE, TEXT):
            continue
        assert item is not None and item.form == form and len(item.options) == 4
        assert all(answer_form(option) == form for option in item.options), item.options
        if form == TEXT:
            gold = words(example.answer)
            assert all(gold / 2 <= words(option) <= gold * 2 for option in item.options), item.options


def test_without_fact_ids_each_question_is_its_own_fact_and_a_lone_form_is_skipped():
    examples = [
        Example("a", "Free quota?", "20", "", "factual"),
        Example("b", "Pro quota?", "60", "", "factual"),
        Example("c", "Install?", "pip install acme-notebooks", "", "procedural"),
    ]
    items = build_items(examples, options=4)
    assert sorted(items[0].options) == ["20", "60"] and sorted(items[1].options) == ["20", "60"]
    assert items[2] is None, "the only command has no other command to stand beside"


def test_chance_is_computed_from_the_choice_sets():
    from docs2qa.finetune.evaluate.run import _knowledge_check

    examples = _examples()
    items = build_items(examples, options=4)
    built = [item for item in items if item is not None]
    expected = sum(1 / len(item.options) for item in built) / len(built)
    check = _knowledge_check(EvalConfig(), items, {"items": items, "scores": {}}, "transformers")
    assert check["chance"] == pytest.approx(expected) and 0.25 < check["chance"] < 0.5
    assert check["by_form"][TRUTH] == {"items": 8, "chance": 0.5}
    assert check["by_form"][NUMBER] == {"items": 9, "chance": 0.25}


# --- the gold-file prompt --------------------------------------------------------------------


def _gold(tmp_path) -> str:
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a, _ in QUESTIONS[:3]))
    return str(gold)


def _quick(**values) -> EvalConfig:
    return EvalConfig(**{"max_new_tokens": 4, "embedding_model": None, "examples_in_report": 0, **values})


def test_a_gold_file_is_asked_in_the_system_prompt_the_adapter_was_trained_with(tmp_path, finetune_dir, capsys):
    summary = evaluate(_quick(gold_file=_gold(tmp_path)), model_dir=finetune_dir, out_dir=tmp_path / "eval")
    # The version the adapter names in its manifest was exported with "Answer from the docs.".
    assert summary["dataset"]["system_prompt"] == "Answer from the docs."
    assert not any("system prompt" in w for w in summary["warnings"])
    assert "system prompt" not in capsys.readouterr().err


@pytest.mark.parametrize("prompt, said", [("Be terse.", "the system prompt 'Be terse.'"), ("", "no system prompt")])
def test_a_gold_file_prompt_other_than_training_is_warned_about_loudly(tmp_path, finetune_dir, capsys, prompt, said):
    cfg = _quick(gold_file=_gold(tmp_path), system_prompt=prompt)
    summary = evaluate(cfg, model_dir=finetune_dir, out_dir=tmp_path / "eval")
    assert summary["dataset"]["system_prompt"] == (prompt or None)
    warning = f"eval asks with {said}, but the adapter was trained with the system prompt 'Answer from the docs.'"
    assert any(w.startswith(warning) for w in summary["warnings"]), summary["warnings"]
    assert any(w.startswith(warning) for w in json.loads((tmp_path / "eval" / "results.json").read_text())["warnings"])
    html = (tmp_path / "eval" / "report.html").read_text()
    assert 'class="warn">WARNING: eval asks with' in html
    assert f"WARNING: {warning}" in capsys.readouterr().err


def test_an_adapter_whose_training_prompt_is_unknown_is_warned_about(tmp_path, finetune_dir):
    import shutil

    lonely = shutil.copytree(finetune_dir / "adapter", tmp_path / "lonely-adapter")  # no manifest beside it
    summary = evaluate(_quick(gold_file=_gold(tmp_path)), model_dir=lonely, out_dir=tmp_path / "eval")
    assert summary["dataset"]["system_prompt"] is None
    assert any(w.startswith("the system prompt the adapter was trained with is unknown") for w in summary["warnings"])


# --- answers capped by the gold answer's length ----------------------------------------------


def test_answer_limits_follow_the_gold_answers_length(tiny_chat_model):
    from transformers import AutoTokenizer

    from docs2qa.finetune.evaluate.generate import LIMIT_MARGIN, answer_limits

    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model)
    answers = ["Yes.", " ".join(["The crawler reads the sitemap."] * 20)]
    lengths = [len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers]
    assert answer_limits(tokenizer, answers, 256, 2.0) == [2 * lengths[0] + LIMIT_MARGIN, 256]
    assert answer_limits(tokenizer, answers, 256, None) == [256, 256]


def test_a_capped_answer_is_the_uncapped_one_cut_at_its_limit(finetune_dir):
    from docs2qa.finetune.evaluate.generate import generate, render_prompts
    from docs2qa.finetune.evaluate.models import load_peft_model, load_tokenizer, locate

    tuned = locate(finetune_dir)
    tokenizer = load_tokenizer(tuned)
    model = load_peft_model(tuned, "float32", "none", "cpu")
    examples = [Example(str(i), q, a, "", t) for i, (q, a, t) in enumerate(QUESTIONS)]
    prompts = render_prompts(tokenizer, examples, "Answer from the docs.", False)
    limits = [3, 30, 5, 30, 8, 2, 30]
    full = generate(model, tokenizer, prompts, batch_size=3, max_new_tokens=30, description="full")
    capped = generate(model, tokenizer, prompts, batch_size=3, max_new_tokens=30, description="capped", limits=limits)
    assert any(f.output_tokens > limit for f, limit in zip(full, limits)), "some answers must run past their cap"
    for whole, cut, limit in zip(full, capped, limits):
        assert cut.output_tokens == min(whole.output_tokens, limit)
        if whole.output_tokens <= limit:
            assert cut == whole  # an answer within its cap does not move, whatever shares its batch
        else:
            assert whole.text.startswith(cut.text)


def test_options_are_scored_from_the_answer_pass_and_leave_the_answer_as_it_was(finetune_dir):
    """The prompt runs once for its options and its answer: the scores are those of scoring
    each prompt alone, and the answer is the one generated alone without options."""
    from docs2qa.finetune.evaluate.choice import option_logprobs
    from docs2qa.finetune.evaluate.generate import generate, render_prompts
    from docs2qa.finetune.evaluate.models import load_peft_model, load_tokenizer, locate

    tuned = locate(finetune_dir)
    tokenizer = load_tokenizer(tuned)
    model = load_peft_model(tuned, "float32", "none", "cpu")
    examples = [Example(str(i), q, a, a * (i % 3), t) for i, (q, a, t) in enumerate(QUESTIONS)]
    prompts = render_prompts(tokenizer, examples, "Answer from the docs.", True)
    ids = [tokenizer(a, add_special_tokens=False)["input_ids"] for _, a, _ in QUESTIONS]
    options = [[ids[i], ids[(i + 1) % 7], ids[(i + 3) % 7][:2]] if i % 4 else [] for i in range(7)]
    # One prompt at a time, and all seven in one batch: two prefill groups of different widths
    # (choice.PREFILL_ROWS) whose caches are joined.
    plain = [generate(model, tokenizer, [p], batch_size=1, max_new_tokens=8, description="plain")[0] for p in prompts]
    scored = generate(model, tokenizer, prompts, batch_size=7, max_new_tokens=8, description="scored", options=options)
    assert len({len(p) for p in prompts}) > 3 and [g.text for g in scored] == [g.text for g in plain]
    alone = option_logprobs(model, prompts, options, tokenizer.pad_token_id, batch_size=1)
    for got, expected, asked in zip(scored, alone, options):
        assert (got.choice_scores is None) == (not asked)
        if asked:
            assert list(got.choice_scores) == pytest.approx(expected, abs=1e-4)


def test_progress_is_said_after_the_first_batch_with_an_eta(finetune_dir, caplog):
    """Redirected output heard of eval first after the heartbeat interval (30 s), which on a
    slow CPU came after minutes; now the first batch says its count, rate and ETA."""
    import logging

    from docs2qa.finetune.evaluate.generate import generate, render_prompts
    from docs2qa.finetune.evaluate.models import load_peft_model, load_tokenizer, locate

    tuned = locate(finetune_dir)
    tokenizer = load_tokenizer(tuned)
    model = load_peft_model(tuned, "float32", "none", "cpu")
    examples = [Example(str(i), q, a, "", t) for i, (q, a, t) in enumerate(QUESTIONS)]
    prompts = render_prompts(tokenizer, examples, None, False)
    caplog.set_level(logging.INFO, logger="docs2qa.progress")
    generate(model, tokenizer, prompts, batch_size=4, max_new_tokens=3, description="eval base")
    said = [r.getMessage() for r in caplog.records if r.name == "docs2qa.progress"]
    assert said[0].startswith("eval base: 4/7, ") and ", eta " in said[0]
    assert said[-1].startswith("eval base: 7/7, ")


def test_eval_caps_each_answer_and_records_the_cap(tmp_path, finetune_dir, version):
    cfg = EvalConfig(max_new_tokens=64, answer_cap=1.0, embedding_model=None, examples_in_report=0)
    evaluate(cfg, model_dir=finetune_dir, out_dir=tmp_path / "eval", dataset=version)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(finetune_dir / "adapter")
    for row in results["examples"]:
        gold = len(tokenizer(row["answer"], add_special_tokens=False)["input_ids"])
        assert all(out["output_tokens"] <= gold + 16 for out in row["outputs"].values())
    assert results["generation"]["answer_cap"] == 1.0 and results["generation"]["answer_limits"]["max"] < 64
    assert "each answer at most 1x its gold answer" in (tmp_path / "eval" / "report.html").read_text()


# --- what was measured, per fact, and the verdicts ------------------------------------------------


@pytest.mark.parametrize(
    "name, include_context, line",
    [
        (protocol.KNOWLEDGE, False, "36 trained facts asked in new words, closed book"),
        (protocol.GENERALIZATION, False, "36 questions about unseen pages, closed book"),
        (protocol.RAG, True, "36 questions about unseen pages, with retrieved context"),
        (None, False, "36 questions of the test split of demo/v1 (protocol not recorded), closed book"),
    ],
)
def test_what_was_measured_is_said_per_protocol(name, include_context, line):
    dataset = {"source": "version", "name": "demo", "version": "v1", "split": "test"}
    assert protocol.measured(name, 36, 36, include_context, dataset) == line


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory, tiny_chat_model):
    """A knowledge version of the demo facts (train and test phrasings of each), an adapter
    trained on it, and eval's results on its test split."""
    root = tmp_path_factory.mktemp("knowledge")
    splits = {"train": demo_fact_rows("train", 12), "test": demo_fact_rows("test", 12)}
    export = {"protocol": "knowledge", "system_prompt": "Answer from the docs.", "include_context": False}
    path = write_version(root / "datasets", "demo", splits, export, {})
    manifest = read_manifest(path)
    trained = {"name": "demo", "version": "v1", "content_id": manifest["content_id"], "path": str(path)}
    model = build_adapter(tiny_chat_model, root / "ft", dataset=trained)
    cfg = EvalConfig(max_new_tokens=6, embedding_model=None, examples_in_report=0)
    summary = evaluate(cfg, model_dir=model, out_dir=root / "eval", dataset=path)
    return summary, json.loads((root / "eval" / "results.json").read_text()), root / "eval" / "report.html"


def test_the_report_first_says_what_was_measured(knowledge):
    summary, results, report = knowledge
    assert results["protocol"] == "knowledge" and results["n"] == 12
    assert results["measured"] == summary["measured"] == "12 trained facts asked in new words, closed book"
    parsed = parse_report(report.read_text())
    assert parsed.tags[parsed.tags.index("body") + 1] == "h1"
    body = report.read_text().split("<body>")[1]
    assert body.startswith('\n<h1 id="measured">12 trained facts asked in new words, closed book</h1>')


def test_results_carry_n_the_verdicts_and_their_intervals(knowledge):
    summary, results, _ = knowledge
    assert set(results["verdicts"]) == {"rouge_l_gold_length", "choice_accuracy"}
    for metric, verdict in results["verdicts"].items():
        assert verdict == {**results["comparisons"][metric], "line": verdict["line"]}
        assert verdict["n"] == 12 and verdict["level"] == 0.95 and verdict["low"] <= verdict["high"]
        assert f"n={verdict['n']}" in verdict["line"] or "on 12 questions about trained facts" in verdict["line"]
    assert summary["verdicts"] == results["verdicts"] and summary["n"] == 12


def test_the_per_fact_table_shows_what_the_tuned_model_knows(knowledge):
    _, results, report = knowledge
    table = results["facts"]
    assert table["keyed_by"] == "fact_id" and len(table["facts"]) == 12
    assert {f["fact"] for f in table["facts"]} == {fact for fact, *_ in DEMO_FACTS[:12]}
    for fact in table["facts"]:
        assert fact["base_right"] in (True, False) and fact["tuned_right"] in (True, False)
        assert 0 <= fact["tuned_rouge_l_gold_length"] <= 1
    assert sum(table["counts"].values()) == 12
    assert parse_report(report.read_text()).tables["facts-table"] == 13
    # The knowledge check says the chance it computed from its choice sets, per form.
    check = results["knowledge_check"]
    assert check["by_form"]["truth value"]["chance"] == 0.5
    assert f"Chance, from the choice sets: {check['chance']:.3f} (" in report.read_text()


def _row(fact: str, i: int, base_right: bool, tuned_right: bool, tuned_text: str) -> dict:
    from docs2qa.finetune.evaluate.scoring import example_row, measure

    example = Example(f"{fact}-{i}", f"Question {i} about {fact}?", "the quota resets on monday", "", "factual", fact)
    outputs = {}
    for variant, right, text in (("base", base_right, "no idea"), ("tuned", tuned_right, tuned_text)):
        outputs[variant] = {**measure(text, example), "output_tokens": 3, "choice_accuracy": float(right)}
    return example_row(example, outputs)


def test_facts_are_learned_still_unknown_forgotten_or_known_by_most_of_their_questions():
    rows = [
        _row("learned", 0, False, True, "the quota resets on monday"),
        _row("learned", 1, False, True, "the quota resets"),
        _row("unknown", 0, False, False, "never"),
        _row("forgotten", 0, True, False, "never"),
        _row("known", 0, True, True, "the quota resets on monday"),
        _row("split", 0, False, True, "x"),
        _row("split", 1, False, False, "x"),  # 1 of 2 right: not most
    ]
    table = protocol.fact_table(rows)
    status = {f["fact"]: f["status"] for f in table["facts"]}
    assert status == {
        "learned": protocol.LEARNED,
        "unknown": protocol.UNKNOWN,
        "forgotten": protocol.FORGOTTEN,
        "known": protocol.KNOWN,
        "split": protocol.UNKNOWN,
    }
    learned = table["facts"][0]
    assert learned["fact"] == "learned", "what tuning taught comes first"
    assert (learned["questions"], learned["tuned_choices"], learned["base_choices"]) == (2, "2/2", "0/2")
    assert learned["tuned_rouge_l_gold_length"] == pytest.approx((1 + 3 / 5) / 2)
    assert table["counts"] == {protocol.LEARNED: 1, protocol.UNKNOWN: 2, protocol.FORGOTTEN: 1, protocol.KNOWN: 1}
    html = _rendered(table)
    assert "What the tuned model now knows, and what it still does not" in html
    assert "learned 1, still unknown 2, forgotten 1, knew it already 1" in html


def _rendered(facts: dict) -> str:
    from docs2qa.finetune.evaluate.report import render
    from test_eval_units import synthetic_results

    return render({**synthetic_results(), "facts": facts})


def _comparison(difference: float, low: float, high: float, n: int = 36) -> dict:
    base = 0.2
    return {
        "n": n,
        "base": base,
        "tuned": base + difference,
        "difference": difference,
        "low": low,
        "high": high,
        "level": 0.95,
        "verdict": intervals.verdict(low, high),
    }


def test_a_gain_is_claimed_only_when_its_interval_excludes_zero():
    line = protocol.verdict_line
    assert line("rouge_l_gold_length", _comparison(0.12, 0.05, 0.19), "knowledge") == (
        "tuned beats base on 36 questions about trained facts "
        "(ROUGE-L at gold length 0.20 -> 0.32, +0.12, 95% CI [+0.05, +0.19])"
    )
    assert line("choice_accuracy", _comparison(0.05, -0.03, 0.13), "knowledge") == (
        "no clear difference (n=36; multiple-choice accuracy 0.20 -> 0.25, +0.05, 95% CI [-0.03, +0.13])"
    )
    assert line("rouge_l_gold_length", _comparison(-0.1, -0.15, -0.02), "generalization").startswith(
        "tuned is worse than base on 36 questions about unseen pages"
    )
    one = {**_comparison(0.5, 0, 0, n=1), "low": None, "high": None, "verdict": intervals.TOO_FEW}
    assert line("rouge_l_gold_length", one, None) == (
        "too few questions to tell (n=1; ROUGE-L at gold length 0.20 -> 0.70, +0.50, no interval)"
    )


def test_the_recap_and_status_give_each_verdict_with_its_n(tmp_path, monkeypatch, capsys):
    import sys

    from docs2qa import cli
    from docs2qa.config import load_config
    from docs2qa.recap import recap
    from docs2qa.store import StageResult
    from test_terminal import _fake_run

    config_path, store = _fake_run(tmp_path, argilla=False)
    comparisons = {
        "rouge_l_gold_length": _comparison(0.12, 0.05, 0.19),
        "choice_accuracy": _comparison(0.05, -0.03, 0.13),
    }
    summary = {
        "report": str(store.root / "eval" / "results" / "report.html"),
        "results": "results.json",
        "aggregates": {},
        "measured": "36 trained facts asked in new words, closed book",
        "n": 36,
        "verdicts": protocol.verdicts(comparisons, "knowledge"),
    }
    store.run_stage("eval", "h", [], lambda stage: StageResult({}, 36, extra={"eval": summary}))
    lines = recap(load_config(config_path), store, config_path, None, None).splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith("  eval "))
    assert "36 in -> 36 trained facts asked in new words, closed book" in lines[at]
    assert lines[at + 1].strip() == (
        "tuned beats base on 36 questions about trained facts "
        "(ROUGE-L at gold length 0.20 -> 0.32, +0.12, 95% CI [+0.05, +0.19])"
    )
    assert lines[at + 2].strip().startswith("no clear difference (n=36; multiple-choice accuracy 0.20 -> 0.25")

    monkeypatch.setattr(sys, "argv", ["docs2qa", "status", "-c", str(config_path), "--run", str(store.root)])
    cli.main()
    out = capsys.readouterr().out
    assert "tuned beats base on 36 questions about trained facts (ROUGE-L at gold length" in out
    assert "no clear difference (n=36; multiple-choice accuracy" in out


def test_an_eval_recorded_without_its_sentences_shows_no_score_without_n_and_verdict(tmp_path, monkeypatch, capsys):
    """An eval manifest of an older docs2qa (scores and comparisons, no verdict lines): the recap
    and `status` printed `ROUGE-L base 0.167, tuned 0.471` at n = 1, with no caveat."""
    import sys

    from docs2qa import cli
    from docs2qa.config import load_config
    from docs2qa.pipeline import stage_named
    from docs2qa.recap import recap
    from docs2qa.store import StageResult
    from test_terminal import _fake_run

    config_path, store = _fake_run(tmp_path, argilla=False)
    one = {**_comparison(0.304, 0, 0, n=1), "base": 0.167, "tuned": 0.471, "low": None, "high": None}
    summary = {
        "report": str(store.root / "eval" / "results" / "report.html"),
        "results": "results.json",
        "examples": 1,
        "aggregates": {"base": {"rouge_l": {"mean": 0.167}}, "tuned": {"rouge_l": {"mean": 0.471}}},
        "comparisons": {"rouge_l_gold_length": {**one, "verdict": intervals.TOO_FEW}},
    }
    store.run_stage("eval", "h", [], lambda stage: StageResult({}, 1, extra={"eval": summary}))
    said = "too few questions to tell (n=1; ROUGE-L at gold length 0.17 -> 0.47, +0.30, no interval)"
    text = recap(load_config(config_path), store, config_path, None, None)
    assert "  eval      1 in -> 1 questions evaluated" in text and "0.167" not in text

    monkeypatch.setattr(sys, "argv", ["docs2qa", "status", "-c", str(config_path), "--run", str(store.root)])
    cli.main()
    out = capsys.readouterr().out
    assert said in out and "0.167" not in out

    bare = stage_named("eval").describe({"eval": {"examples": 1, "aggregates": summary["aggregates"]}})
    assert bare.product == "1 questions evaluated" and bare.notes[0].startswith("no verdict recorded: rerun")


def test_the_model_card_says_what_was_measured_and_each_verdict():
    from docs2qa.finetune.card import evaluation_section

    comparisons = {"rouge_l_gold_length": _comparison(0.12, 0.05, 0.19)}
    evaluation = {
        "report": "report.html",
        "examples": 36,
        "dataset": {"source": "version", "name": "demo", "version": "v1", "split": "test"},
        "comparisons": comparisons,
        "measured": "36 trained facts asked in new words, closed book",
        "verdicts": protocol.verdicts(comparisons, "knowledge"),
    }
    text = evaluation_section(evaluation, None)
    assert text.startswith("36 trained facts asked in new words, closed book (demo/v1 (test split));")
    assert "- tuned beats base on 36 questions about trained facts (ROUGE-L at gold length" in text


# --- SmolLM2: real answers under the cap -----------------------------------------------------------


@pytest.mark.slow  # SmolLM2 generates every answer twice
def test_smollm2_answers_within_the_cap_do_not_move_and_scores_stay(tmp_path):
    """The cap saves the tokens a base model spends running on, and ROUGE-L at gold length,
    which reads only the first |gold| words, does not move."""
    from docs2qa.finetune.evaluate.generate import answer_limits, generate, render_prompts
    from docs2qa.finetune.evaluate.metrics import rouge_l_at_gold_length
    from docs2qa.finetune.evaluate.models import load_peft_model, load_tokenizer, locate
    from docs2qa.models.embedded import resolve_model

    model_dir = build_adapter(
        resolve_model("embedded:smollm2"), tmp_path / "ft", rank=8, b_std=0.02, base_model="embedded:smollm2"
    )
    tuned = locate(model_dir)
    tokenizer = load_tokenizer(tuned)
    model = load_peft_model(tuned, "float32", "none", "cpu")
    examples = _examples()[::4]  # 9 facts, every form
    prompts = render_prompts(tokenizer, examples, "Answer from the docs.", False)
    limits = answer_limits(tokenizer, [e.answer for e in examples], 96, 2.0)
    with model.disable_adapter():
        full = generate(model, tokenizer, prompts, batch_size=16, max_new_tokens=96, description="full")
        capped = generate(model, tokenizer, prompts, batch_size=16, max_new_tokens=96, description="cap", limits=limits)
    # SmolLM2's base model rarely stops that soon; any answer that did is the same text.
    within = [i for i, g in enumerate(full) if g.output_tokens <= limits[i]]
    assert all(capped[i] == full[i] for i in within)
    for example, whole, cut in zip(examples, full, capped):
        assert rouge_l_at_gold_length(cut.text, example.answer) == rouge_l_at_gold_length(whole.text, example.answer)
    saved = 1 - sum(g.output_tokens for g in capped) / sum(g.output_tokens for g in full)
    print(json.dumps({"within_cap": len(within), "of": len(examples), "tokens_saved": round(saved, 2)}))
    assert saved > 0.2, "the base model runs on past short gold answers"
