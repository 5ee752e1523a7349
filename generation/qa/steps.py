"""distilabel steps that write questions for picked answers, judge whole units (when the judge
is on) and journal them as they finish.

Rows stay one per unit (chunk x question type) from start to end: a step that emitted one
row per pair would emit empty batches when a whole batch failed to parse, and distilabel
1.5.3 then waits forever for the next step's input.

No `from __future__ import annotations`: distilabel finds a step's input parameter by its
runtime `StepInput` annotation.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distilabel.constants import DISTILABEL_METADATA_KEY
from distilabel.steps import Step, StepInput
from distilabel.typing import StepOutput

from docs2qa.generation.qa import journal
from docs2qa.generation.qa.tasks import CritiqueQA, WriteQuestion

JUDGEMENT_FIELDS = ("scores", "verdict", "revised_answer", "rationale", "parse_error", "raw_output", "parse_attempts")


def tokens_of(row: dict[str, Any], task: str) -> dict[str, int]:
    stats = (row.get("distilabel_metadata") or {}).get(f"statistics_{task}") or {}

    def total(key: str) -> int:
        value = stats.get(key, 0)
        return int(sum(value) if isinstance(value, list) else value or 0)

    return {"prompt": total("input_tokens"), "completion": total("output_tokens")}


def failure_of(row: dict[str, Any], judged: bool = True) -> dict[str, str] | None:
    """{"role", "error"} when the unit got no answer, else None.

    Besides the failures the tasks report, a step that raised on its batch leaves the row with
    its outputs None (distilabel sends the batch on "filled with Nones"): generated units always
    have pairs or a parse error, judged ones (when the pipeline has a judge) a list of judgements."""
    if row.get("failure"):
        return row["failure"]
    where = "its traceback is in the pipeline's log"
    if row.get("pairs") is None and row.get("parse_error") is None:
        return {"role": "generator", "error": f"the generate step raised on this batch ({where})"}
    if judged and row.get("judgements") is None:
        return {"role": "judge", "error": f"the judge step raised on this batch ({where})"}
    return None


class JudgeUnits(CritiqueQA):
    """The judge, fed the pairs of each unit row; its verdicts go back into the row."""

    @property
    def inputs(self) -> list[str]:
        return ["unit", "pairs", "text", "title", "heading_path"]

    @property
    def outputs(self) -> list[str]:
        return ["judgements", "failure"]

    def process(self, inputs: StepInput) -> StepOutput:
        flat, owners = [], []
        for position, row in enumerate(inputs):
            if row.get("failure"):
                continue  # the generator got no reply: the unit fails as it is, nothing to judge
            for pair in row.get("pairs") or []:
                flat.append(
                    {
                        "question": pair["question"],
                        "answer": pair["answer"],
                        "evidence": pair.get("evidence") or "",
                        "text": row["text"],
                        "title": row["title"],
                        "heading_path": row["heading_path"],
                    }
                )
                owners.append(position)
        judged = next(super().process(flat)) if flat else []
        verdicts: list[list[dict]] = [[] for _ in inputs]
        failures = [row.get("failure") for row in inputs]
        for position, result in zip(owners, judged):
            # One pair the judge's server never answered fails its unit: half-judged units are not done.
            failures[position] = failures[position] or result["failure"]
            verdicts[position].append(
                {**{k: result.get(k) for k in JUDGEMENT_FIELDS}, "tokens": tokens_of(result, self.name)}
            )
        yield [{**row, "judgements": verdicts[i], "failure": failures[i]} for i, row in enumerate(inputs)]


def question_fits(result: dict, row: dict[str, Any]) -> bool:
    """Whether a parsed question passes the question rules (keep/off_target.py) for its answer."""
    from docs2qa.generation.qa.keep.off_target import question_problem

    return question_problem(result["question"], result["answer"], row["title"], row["heading_path"]) is None


def to_rephrase(row: dict[str, Any], done: list[dict]) -> dict[str, dict]:
    """The try of each answer of `row` to ask again in other words: its first that parsed and
    fits the answer by the question rules, else its first that parsed. A rewrite keeps its
    original's flaws: one of a question the rules drop is dropped too, and the fact is left
    with one phrasing."""
    firsts: dict[str, dict] = {}
    fitting: set[str] = set()  # answers whose chosen question fits: nothing later replaces it
    for result in done:
        answer = result["answer"]
        if result["parse_error"] or result["failure"] or answer in fitting:
            continue
        fits = question_fits(result, row)
        if answer not in firsts or fits:
            firsts[answer] = result
        if fits:
            fitting.add(answer)
    return firsts


def rewrite_fits(result: dict, row: dict[str, Any]) -> bool:
    """Whether a rewrite (a result with `rephrase_of`) parsed, passes the question rules and
    says its original in other words, not nearly the same ones (docs2qa.wording.NEAR_COPY)."""
    from docs2qa.wording import NEAR_COPY, rouge_l

    if result["parse_error"] or result["failure"]:
        return False
    return rouge_l(result["question"], result["rephrase_of"]) < NEAR_COPY and question_fits(result, row)


def _templated(question: str, answer: str, stem: str) -> dict:
    """A question a template wrote (templates.py), as the model's parsed ones come back: the
    first try, with no tokens spent."""
    return {
        "question": question,
        "answer": answer,
        "stem": stem,
        "order": 0,
        "parse_error": None,
        "raw_output": None,
        "parse_attempts": 0,
        "failure": None,
        "template": True,
    }


class QuestionUnits(WriteQuestion):
    """answer_first: `tries` questions per answer of each unit row, all started with the opening
    that fits the answer (answer_first.opening), each with the worked examples in another order
    (answer_first.EXAMPLE_ORDERS: greedy decoding gives one question per prompt). The row gets its
    pairs (the answer is its own evidence; the opening and the try are kept beside it) and the
    tokens of all its questions, as GenerateQA would. A try whose reply never parsed is listed in
    `failed_tries` with its raw text; the unit is a parse error (its first) only when no try parsed."""

    @property
    def inputs(self) -> list[str]:
        return ["unit", "title", "heading_path", "answers", "question_type", "tries", "rephrase", "templated"]

    @property
    def outputs(self) -> list[str]:
        return ["pairs", "failed_tries", "parse_error", "raw_output", "parse_attempts", "model_name", "failure"]

    def process(self, inputs: StepInput) -> StepOutput:
        from docs2qa.generation.qa.answer_first import asks, opening

        owners, flat = [], []
        asked: list[list[dict]] = [[] for _ in inputs]
        for position, row in enumerate(inputs):
            templated = row.get("templated") or [""] * len(row["answers"])
            for answer, written in zip(row["answers"], templated, strict=True):
                if written:  # its shape gave the question away (the plan's Unit.templated): the model is not asked
                    asked[position].append(_templated(written, answer, opening(answer, row["question_type"])))
                    continue
                for stem, order in asks(answer, row["question_type"], int(row.get("tries") or 1)):
                    owners.append(position)
                    flat.append(
                        {
                            "title": row["title"],
                            "heading_path": row["heading_path"],
                            "answer": answer,
                            "stem": stem,
                            "order": order,
                        }
                    )
        for position, result in zip(owners, next(super().process(flat)) if flat else []):
            asked[position].append(result)
        self._rephrase(inputs, asked)
        results = []
        for row, done in zip(inputs, asked):
            failure = next((r["failure"] for r in done if r["failure"]), None)
            parsed = [r for r in done if not r["parse_error"]]
            errors = [] if failure else [r for r in done if r["parse_error"]]
            whole = bool(errors) and not parsed  # no try of the unit parsed: the unit is the parse error
            tokens = [tokens_of(r, self.name) for r in done]
            stats = {
                "input_tokens": [sum(t["prompt"] for t in tokens)],
                "output_tokens": [sum(t["completion"] for t in tokens)],
            }
            results.append(
                {
                    **row,
                    "pairs": None
                    if whole or failure
                    else [
                        {
                            "question": r["question"],
                            "answer": r["answer"],
                            "evidence": r["answer"],
                            "stem": r["stem"],
                            "try": r["order"],
                            **({"rephrase_of": r["rephrase_of"]} if r.get("rephrase_of") else {}),
                            **({"template": True} if r.get("template") else {}),
                        }
                        for r in parsed
                    ],
                    "failed_tries": [
                        {
                            "answer": r["answer"],
                            "stem": r["stem"],
                            "try": r["order"],
                            **({"rephrase_of": r["rephrase_of"]} if r.get("rephrase_of") else {}),
                            **{k: r[k] for k in ("parse_error", "raw_output", "parse_attempts")},
                        }
                        for r in errors
                    ],
                    "parse_error": errors[0]["parse_error"] if whole else None,
                    "raw_output": errors[0]["raw_output"] if whole else None,
                    "parse_attempts": max((r["parse_attempts"] for r in done), default=0),
                    "model_name": self.llm.model_name,
                    "failure": failure,
                    DISTILABEL_METADATA_KEY: {f"statistics_{self.name}": stats},
                }
            )
        yield results

    def _rephrase(self, inputs: StepInput, asked: list[list[dict]]) -> None:
        """Rows that rephrase (generate.rephrase): one question of each answer (to_rephrase) is
        asked again in other words, from another opening; when the question fits but its
        rewrite does not (rewrite_fits), it is asked once more from the second opening
        (answer_first.rephrase_openings). Each rewrite joins its row's results as the try after
        the last, with the question it rewrites; a failed one too, for the keep stage to drop
        with its reason."""
        from docs2qa.generation.qa.answer_first import rephrase_opening, rephrase_openings

        pending = []
        for position, (row, done) in enumerate(zip(inputs, asked)):
            if not row.get("rephrase"):
                continue
            for answer, first in to_rephrase(row, done).items():
                item = {
                    "title": row["title"],
                    "heading_path": row["heading_path"],
                    "answer": answer,
                    "stem": rephrase_opening(first["question"]),
                    "order": int(row.get("tries") or 1),
                    "rephrase_of": first["question"],
                    # A rewrite of a question the rules drop misses whatever its opening.
                    "fits": question_fits(first, row),
                }
                pending.append((position, item))
        attempt = 0
        while pending:
            with self._begun_grammar():
                rewritten = next(super().process([item for _, item in pending]))
            attempt += 1
            again = []
            for (position, item), result in zip(pending, rewritten):
                asked[position].append(result)
                openings = rephrase_openings(item["rephrase_of"])
                if attempt < len(openings) and item["fits"] and not rewrite_fits(result, inputs[position]):
                    again.append((position, {**item, "stem": openings[attempt], "order": item["order"] + 1}))
            pending = again

    @contextmanager
    def _begun_grammar(self) -> Iterator[None]:
        """llama.cpp continues the begun reply: its grammar is the rest of the question, not a
        whole "Q:" line. (transformers starts a fresh reply under its own line grammar.)"""
        from docs2qa.generation.llm.line_grammar import to_lark
        from docs2qa.generation.qa.answer_first import begun_question_grammar

        extra = (self.llm.generation_kwargs or {}).get("extra_body") or {}
        if "grammar" not in extra:
            yield
            return
        whole = extra["grammar"]
        extra["grammar"] = to_lark(begun_question_grammar())
        try:
            yield
        finally:
            extra["grammar"] = whole


class JournalUnits(Step):
    """Appends each finished unit (its pairs and their verdicts) to the journal, and each unit
    that failed (a server that never answered, a step that raised) to the failures file, so
    that it counts as not done and the next run asks again. `judged`: whether the pipeline has
    a judge step (generate.judge.enabled); without one a unit's judgements are empty."""

    journal_dir: str
    generate_task: str = "generate_qa"
    judged: bool = True

    @property
    def inputs(self) -> list[str]:
        return ["unit", "chunk_id", "question_type", "pairs", "parse_error", *(["judgements"] if self.judged else [])]

    @property
    def outputs(self) -> list[str]:
        return ["unit"]

    def process(self, inputs: StepInput) -> StepOutput:
        failed = {}
        for row in inputs:
            if failure := failure_of(row, self.judged):
                failed[row["unit"]] = {
                    "unit": row["unit"],
                    "chunk_id": row["chunk_id"],
                    "question_type": row["question_type"],
                    **failure,
                }
        if failed:
            journal.append(f"{self.journal_dir}/{journal.FAILED}", list(failed.values()))
        records = [
            {
                "unit": row["unit"],
                "chunk_id": row["chunk_id"],
                "question_type": row["question_type"],
                "pairs": row.get("pairs") or [],
                "failed_tries": row.get("failed_tries") or [],
                "parse_error": row.get("parse_error"),
                "raw_output": row.get("raw_output"),
                "parse_attempts": row.get("parse_attempts"),
                "tokens": tokens_of(row, self.generate_task),
                "judgements": row.get("judgements") or [],
            }
            for row in inputs
            if row["unit"] not in failed
        ]
        journal.append(f"{self.journal_dir}/{journal.UNITS}", records)
        yield [{"unit": row["unit"]} for row in inputs]
