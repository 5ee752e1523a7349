"""An evaluation that cannot fool its reader: intervals, verdicts, warnings, baselines,
length and echo measures, and the multiple-choice knowledge check."""

from __future__ import annotations

import random
import statistics

import pytest

from docs2qa.finetune.evaluate import intervals
from docs2qa.finetune.evaluate.choice import build_items, option_logprobs, option_scores, picks
from docs2qa.finetune.evaluate.data import Example
from docs2qa.finetune.evaluate.metrics import echoes_question, rouge_l, rouge_l_at_gold_length
from docs2qa.finetune.evaluate.report import render
from docs2qa.finetune.evaluate.scoring import example_row, majority_baseline, measure, summarize
from test_eval_units import parse_report, synthetic_results

# --- intervals -------------------------------------------------------------------------


def test_a_constant_difference_has_a_zero_width_interval():
    c = intervals.paired_difference([0.2, 0.5, 0.1], [0.5, 0.8, 0.4])
    assert c["difference"] == pytest.approx(0.3)
    assert (c["low"], c["high"]) == (pytest.approx(0.3), pytest.approx(0.3)) and c["verdict"] == intervals.BETTER


def test_two_values_give_the_bootstrap_distribution_worked_out_by_hand():
    # Differences 0 and 1: a resampled mean is 0, 0.5 or 1 with probability 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% quantiles are 0 and 1, and the interval includes zero.
    c = intervals.paired_difference([0.0, 0.0], [0.0, 1.0])
    assert (c["difference"], c["low"], c["high"]) == (0.5, 0.0, 1.0) and c["verdict"] == intervals.UNCLEAR


def test_the_interval_matches_the_normal_approximation_for_many_examples():
    rng = random.Random(7)
    base = [rng.random() for _ in range(400)]
    tuned = [b + rng.gauss(0.05, 0.3) for b in base]
    c = intervals.paired_difference(base, tuned)
    diffs = [t - b for b, t in zip(base, tuned)]
    half = 1.96 * statistics.stdev(diffs) / len(diffs) ** 0.5
    assert c["difference"] == pytest.approx(statistics.mean(diffs))
    assert (c["high"] - c["low"]) / 2 == pytest.approx(half, rel=0.1)
    assert c["low"] < c["difference"] < c["high"]


def test_intervals_are_seeded_and_skip_missing_values():
    base, tuned = [0.1, None, 0.4, 0.3, 0.9], [0.3, 0.5, None, 0.2, 0.7]
    first, again = intervals.paired_difference(base, tuned), intervals.paired_difference(base, tuned)
    assert first == again and first["n"] == 3
    assert intervals.paired_difference([None], [1.0])["verdict"] == intervals.TOO_FEW
    one = intervals.paired_difference([0.0], [1.0])
    assert one["difference"] == 1.0 and one["low"] is None and one["verdict"] == intervals.TOO_FEW


def test_verdicts_need_the_whole_interval_on_one_side_of_zero():
    assert intervals.verdict(0.01, 0.2) == intervals.BETTER
    assert intervals.verdict(-0.2, -0.01) == intervals.WORSE
    assert intervals.verdict(-0.01, 0.2) == intervals.UNCLEAR


# --- noise is not a win, in the results and in the report ---------------------------------

GOLD = "the crawler reads the sitemap before the next stage"
POOL = [
    "the crawler reads pages",
    "sitemap first",
    "it reads the next stage",
    "nothing at all",
    "the crawler reads the sitemap",
    "before the stage the sitemap",
]


def _noise_rows(n: int, seed: int) -> list[dict]:
    """Base and tuned answers drawn from the same pool: any difference is noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        example = Example(str(i), f"Question {i}?", GOLD, "", "factual")
        rows.append(
            example_row(
                example, {v: {**measure(rng.choice(POOL), example), "output_tokens": 3} for v in ("base", "tuned")}
            )
        )
    return rows


def test_a_noise_difference_is_not_reported_as_a_win():
    rows = _noise_rows(40, seed=5)
    results = synthetic_results(rows)
    c = results["comparisons"]["rouge_l"]
    # The means differ (a naive report would call +x a gain), but the interval includes zero.
    assert c["difference"] > 0.05 and c["low"] < 0 < c["high"] and c["verdict"] == intervals.UNCLEAR
    html = render(results)
    summary = html[html.index('id="summary-table"') : html.index("</table>", html.index('id="summary-table"'))]
    assert "tuned better" not in summary and 'class="pos"' not in summary
    assert "no clear difference" in summary
    assert not results["warnings"], "40 examples: no small-sample warning"


def test_a_real_gain_is_called_one():
    rows = []
    for i in range(40):
        example = Example(str(i), f"Question {i}?", GOLD, "", "factual")
        rows.append(
            example_row(
                example,
                {
                    "base": {**measure("nothing at all", example), "output_tokens": 3},
                    "tuned": {**measure(GOLD if i % 4 else "sitemap", example), "output_tokens": 3},
                },
            )
        )
    results = synthetic_results(rows)
    assert results["comparisons"]["rouge_l"]["verdict"] == intervals.BETTER
    assert 'class="pos"' in render(results)


def test_small_samples_are_warned_about_in_results_report_and_terminal(capsys):
    from docs2qa.finetune.evaluate.run import _tell

    results = synthetic_results()  # 3 examples
    assert len(results["warnings"]) == 1 and "only 3 example(s)" in results["warnings"][0]
    report = parse_report(render(results))
    assert any("WARNING: only 3 example(s)" in text for text in report.text)
    _tell(results)
    err = capsys.readouterr().err
    assert "WARNING" in err and "only 3 example(s)" in err
    assert "ROUGE-L: tuned - base" in err and "(n=1): too few examples" in err


def test_gold_answers_that_echo_and_a_tuned_model_above_the_open_book_reference_are_warned_about():
    rows = []
    for i in range(4):
        question = f"Does the crawler read sitemap {i}?"
        example = Example(str(i), question, question if i else "Yes.", "", "yes_no")
        rows.append(
            example_row(
                example,
                {
                    v: {**measure(text, example), "output_tokens": 3}
                    for v, text in (("base", "no"), ("tuned", question), ("ceiling", "Yes."))
                },
            )
        )
    found = summarize(rows, ["base", "tuned", "ceiling"], ["rouge_l"])
    assert any("3 of 4 gold answers restate their question" in w for w in found["warnings"])
    assert any("exceeds the open-book reference" in w for w in found["warnings"])
    assert found["gold_answers"]["echo_share"] == 0.75
    assert found["aggregates"]["tuned"]["overall"]["echo"]["mean"] == 1.0
    # Under the knowledge protocol the tuned model trained on these facts: beating the open-book
    # reference is learning, not a leak (measured on the demo: tuned 0.38, open book 0.25).
    knowledge = summarize(rows, ["base", "tuned", "ceiling"], ["rouge_l"], "knowledge")
    assert not any("open-book" in w for w in knowledge["warnings"])
    assert any("restate their question" in w for w in knowledge["warnings"])


# --- measures beside the scores --------------------------------------------------------------


def test_rouge_at_gold_length_is_not_gamed_by_short_or_padded_answers():
    gold = "set the retries option to five"
    # A one-word answer wins ROUGE-L F against one-word golds; at gold length it covers 1 of 6.
    assert rouge_l_at_gold_length("retries", gold) == pytest.approx(1 / 6)
    # Padding after a complete answer is cut off: no loss, no gain.
    assert rouge_l_at_gold_length(gold + " and many other words besides", gold) == 1.0
    assert rouge_l(gold + " and many other words besides", gold) < 1.0
    # Padding before the answer pushes it out of the window.
    assert rouge_l_at_gold_length("well you know " + gold, gold) == pytest.approx(3 / 6)
    assert rouge_l_at_gold_length("", gold) == 0.0


@pytest.mark.parametrize(
    "answer, echo",
    [
        ("Does the crawler read the sitemap?", True),
        ("The crawler reads the sitemap.", True),
        ("Yes.", False),
        ("Yes, it does, before the next stage.", False),
        ("It fetches robots.txt first and then the sitemap index.", False),
        ("", False),
    ],
)
def test_echo_means_restating_the_question(answer, echo):
    assert echoes_question(answer, "Does the crawler read the sitemap?") is echo


def test_majority_baseline_for_yes_no_questions():
    rows = []
    for i, (gold, tuned) in enumerate(
        [
            ("No, never.", "yes"),
            ("No.", "no"),
            ("No, it is off.", "yes"),
            ("Yes, always.", "yes"),
            ("It crawls.", "It crawls."),
        ]
    ):
        example = Example(str(i), f"Q{i}?", gold, "", "yes_no" if i < 4 else "factual")
        rows.append(
            example_row(example, {v: {**measure(tuned, example), "output_tokens": 1} for v in ("base", "tuned")})
        )
    baseline = majority_baseline(rows)
    # Four yes/no questions, three answered "no": always saying no is right 3 times in 4.
    assert (baseline["answer"], baseline["accuracy"], baseline["n"]) == ("no", 0.75, 4)
    assert baseline["tuned_minus_baseline"]["difference"] == pytest.approx(0.5 - 0.75)
    html = render(synthetic_results(rows))
    assert 'id="baseline-table"' in html and "&#x27;no&#x27;" in html


# --- the knowledge check ---------------------------------------------------------------------

EXAMPLES = [
    Example("c", "Q3?", "The converter splits each page.", "", "factual"),
    Example("d", "Q4?", "The chunker cuts every section.", "", "factual"),
    Example("e", "Q5?", "the converter splits each page", "", "factual"),  # c's answer once normalised
    Example("f", "Q6?", "Run the export before you tune.", "", "procedural"),
    Example("g", "Q7?", "A judge scores every pair.", "", "conceptual"),
]


def test_items_draw_distinct_distractors_seeded():
    items = build_items(EXAMPLES, options=4)
    assert items == build_items(EXAMPLES, options=4)
    for example, item in zip(EXAMPLES, items):
        assert item is not None and item.options[item.gold] == example.answer
        assert set(item.options) <= {e.answer for e in EXAMPLES} and len(set(item.options)) == len(item.options)
    # c's pool: "the converter splits each page" equals its own answer once normalised.
    assert "the converter splits each page" not in items[0].options
    # d's pool: "The converter splits each page." and its lowercase twin are one answer, offered once.
    assert sum("converter" in option for option in items[1].options) == 1
    # An item depends on its own pool, not on which other questions are evaluated.
    assert build_items(EXAMPLES[:4], options=4, pool=EXAMPLES)[:4] == items[:4]
    assert build_items(EXAMPLES, options=1) == [None] * 5
    assert build_items(EXAMPLES[:1], options=4) == [None], "nothing of its form to draw from"


def test_picks_take_the_highest_score():
    assert picks([[-2.0, -0.5, -1.0], [-0.1, -0.1]]) == [1, 0]


def test_the_knowledge_check_picks_the_option_the_model_finds_most_likely(tiny_chat_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_chat_model, dtype=torch.float32).eval()
    prompt = tokenizer("user: does the crawler read the sitemap?\nassistant:", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        greedy = model.generate(
            torch.tensor([prompt]), max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id or 0
        )[0, len(prompt) :].tolist()
    vocab = tokenizer.vocab_size
    other = [(t * 7 + 13) % vocab for t in greedy]
    shuffled = list(reversed(greedy))

    # Reference: each continuation alone, one forward pass, no padding.
    def alone_for(item_prompt, continuation):
        with torch.inference_mode():
            logits = model(torch.tensor([item_prompt + continuation]), use_cache=False).logits[0]
        logprobs = torch.log_softmax(logits.float(), -1)
        return float(sum(logprobs[len(item_prompt) - 1 + k, t] for k, t in enumerate(continuation)) / len(continuation))

    def alone(continuation):
        return alone_for(prompt, continuation)

    continuations = [other, greedy, shuffled, greedy[:2]]
    # A prompt of its own with its options, and a shorter one sharing the batch (left padding).
    batched, shorter = option_logprobs(
        model, [prompt, prompt[2:]], [continuations, continuations[:2]], tokenizer.pad_token_id or 0, batch_size=8
    )
    assert batched == pytest.approx([alone(c) for c in continuations], abs=1e-4)
    assert shorter == pytest.approx([alone_for(prompt[2:], c) for c in continuations[:2]], abs=1e-4)
    # An empty option cannot be scored: it never wins.
    [[empty, again]] = option_logprobs(model, [prompt], [[[], greedy]], 0, batch_size=1)
    assert empty == float("-inf") and again == pytest.approx(batched[1], abs=1e-4)
    # The greedy continuation is, token by token, the most likely: it must win.
    assert picks([batched[:3]]) == [1]
    # Through the text interface: each option's score lands at its own index, for several items.
    texts = [[tokenizer.decode(other), tokenizer.decode(greedy)], ["the sitemap", "robots", tokenizer.decode(shuffled)]]
    scores = option_scores(model, tokenizer, [prompt, prompt[:-1]], texts, batch_size=2)
    for item_prompt, options, found in zip([prompt, prompt[:-1]], texts, scores):
        assert found == pytest.approx(
            [alone_for(item_prompt, tokenizer(t, add_special_tokens=False)["input_ids"]) for t in options], abs=1e-4
        )
