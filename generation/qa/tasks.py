"""distilabel Tasks that write Q&A pairs (GenerateQA) and judge them (CritiqueQA).

Both parse the reply strictly (parsing.py). A malformed reply is re-asked up to
`parse_retries` times, with the bad reply and the parse error in the conversation, because
with greedy decoding asking the same prompt again would return the same text. A reply that
is still malformed yields a row with the outputs None, `parse_error` set and the raw text in
`raw_output` (and in distilabel_metadata): the row is never lost.

A request that got no reply at all (the server still erring after the client's retries, see
llm/served.py) is not a malformed reply: its row gets the outputs None and `failure` (the
role and the server's error), is never re-asked here, and its unit is not journaled as done.

This module imports distilabel at import time; import it only where a pipeline is built.
Note: no `from __future__ import annotations` here: distilabel finds the `process` input
parameter by its runtime `StepInput` annotation.
"""

from typing import Any, ClassVar, Literal

from distilabel.constants import DISTILABEL_METADATA_KEY
from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps.base import StepInput
from distilabel.steps.tasks.base import Task
from distilabel.typing import StepOutput
from pydantic import Field

from docs2qa.generation.llm.served import ERROR_KEY
from docs2qa.generation.qa import answer_first, prompts
from docs2qa.generation.qa.parsing import ParseError, parse_critique, parse_pairs


class _StrictTask(Task):
    output_format: Literal["lines", "json"] = "lines"
    parse_retries: RuntimeParameter[int] = Field(
        default=0, ge=0, description="Re-asks after a malformed reply, showing the model its parse error."
    )

    # Subclasses: the parsed fields (all None on failure) and the parser.
    _empty: ClassVar[dict[str, Any]] = {}
    _role: ClassVar[str] = "generator"  # whose server a failed request names

    def _parse(self, text: str) -> dict[str, Any]:
        raise NotImplementedError

    def format_output(self, output: str | None, input: dict[str, Any] | None = None) -> dict[str, Any]:
        if output is None:
            return {**self._empty, "parse_error": "the model returned no text", "raw_output": None}
        try:
            parsed = self._parse(output)
        except ParseError as exc:
            return {**self._empty, "parse_error": str(exc), "raw_output": output}
        return {**parsed, "parse_error": None, "raw_output": None}

    def process(self, inputs: StepInput) -> StepOutput:
        # One conversation per (row, generation) so each generation is retried on its own.
        rows = [row for row in inputs for _ in range(self.num_generations)]
        conversations = [self.format_input(row) for row in rows]
        last: list[dict | None] = [None] * len(rows)
        attempts = [0] * len(rows)
        totals: list[dict[str, float]] = [{} for _ in rows]
        pending = list(range(len(rows)))
        for attempt in range(self.parse_retries + 1):
            if not pending:
                break
            outputs = self.llm.generate_outputs(
                inputs=[conversations[i] for i in pending], num_generations=1, **self.llm.get_generation_kwargs()
            )
            retry = []
            for i, output in zip(pending, outputs):
                last[i], attempts[i] = output, attempt + 1
                _add_statistics(totals[i], output.get("statistics") or {})
                if output.get(ERROR_KEY):
                    continue
                text = (output.get("generations") or [None])[0]
                error = self.format_output(text, rows[i])["parse_error"]
                if error and attempt < self.parse_retries:
                    conversations[i] = [
                        *conversations[i],
                        {"role": "assistant", "content": text or ""},
                        prompts.fix_request(self.output_format, error),
                    ]
                    retry.append(i)
            pending = retry

        results = []
        for i, row in enumerate(rows):
            reply = last[i]
            assert reply is not None  # the first attempt covers every row
            output = dict(reply)
            server_error = output.pop(ERROR_KEY, None)
            output["generations"] = (output.get("generations") or [None])[:1]
            output["statistics"] = {key: [value] for key, value in totals[i].items()}
            formatted = self._format_outputs(output, row)[0]
            formatted["failure"] = None
            if server_error:
                formatted.update(parse_error=None, failure={"role": self._role, "error": server_error})
            if self.add_raw_input and attempts[i] > 1:
                formatted.setdefault(DISTILABEL_METADATA_KEY, {})[f"raw_input_{self.name}"] = conversations[i]
            results.append({**row, **formatted, "parse_attempts": attempts[i], "model_name": self.llm.model_name})
        yield results


def _add_statistics(total: dict[str, float], statistics: dict[str, Any]) -> None:
    # Token counts of every attempt are summed: a retry costs tokens and the cost report must show it.
    for key, values in statistics.items():
        value = values[0] if isinstance(values, list) and values else values
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value


class GenerateQA(_StrictTask):
    """Writes `n` question/answer pairs of one question type about one chunk.

    Input columns: chunk_id, title, heading_path (list[str]), text, question_type, n.
    Output columns: pairs (list of {"question", "answer", "evidence"} or None), parse_error,
    raw_output (the reply when it could not be parsed), parse_attempts, model_name, failure.
    """

    _empty: ClassVar[dict[str, Any]] = {"pairs": None}

    @property
    def inputs(self) -> list[str]:
        return ["chunk_id", "title", "heading_path", "text", "question_type", "n"]

    @property
    def outputs(self) -> list[str]:
        return ["pairs", "parse_error", "raw_output", "parse_attempts", "model_name", "failure"]

    def format_input(self, input: dict[str, Any]) -> list[dict[str, str]]:
        return prompts.generate_messages(
            self.output_format,
            input["question_type"],
            int(input["n"]),
            input["title"],
            list(input["heading_path"] or []),
            input["text"],
        )

    def _parse(self, text: str) -> dict[str, Any]:
        return {"pairs": parse_pairs(text, self.output_format)}

    def get_structured_output(self) -> dict[str, Any] | None:
        # Used by distilabel only with `use_default_structured_output=True`; backends with
        # their own structured output (OpenAI json_schema, vLLM guided decoding) can take it too.
        return prompts.PAIRS_SCHEMA if self.output_format == "json" else None


class CritiqueQA(_StrictTask):
    """Judges one pair against its chunk.

    Input columns: question, answer, evidence, text, title, heading_path.
    Output columns: scores ({"grounded", "correct", "useful", "standalone"} ints 1-5),
    verdict (keep | revise | drop), revised_answer ("" unless revise), rationale,
    parse_error, raw_output, parse_attempts, model_name, failure. All parsed fields are None on failure.
    """

    _empty: ClassVar[dict[str, Any]] = {"scores": None, "verdict": None, "revised_answer": None, "rationale": None}
    _role: ClassVar[str] = "judge"

    @property
    def inputs(self) -> list[str]:
        return ["question", "answer", "evidence", "text", "title", "heading_path"]

    @property
    def outputs(self) -> list[str]:
        return [
            "scores",
            "verdict",
            "revised_answer",
            "rationale",
            "parse_error",
            "raw_output",
            "parse_attempts",
            "model_name",
            "failure",
        ]

    def format_input(self, input: dict[str, Any]) -> list[dict[str, str]]:
        return prompts.critique_messages(
            self.output_format,
            input["question"],
            input["answer"],
            input["evidence"] or "",
            input["text"],
            input["title"],
            list(input["heading_path"] or []),
        )

    def _parse(self, text: str) -> dict[str, Any]:
        return parse_critique(text, self.output_format)

    def get_structured_output(self) -> dict[str, Any] | None:
        return prompts.CRITIQUE_SCHEMA if self.output_format == "json" else None


class WriteQuestion(_StrictTask):
    """answer_first: writes the question whose answer is one given span of a chunk.

    Input columns: title, heading_path, answer, stem (the words the question starts with), and
    optionally order (which answer_first.EXAMPLE_ORDERS the worked examples come in; 0 if absent)
    or rephrase_of (a question of this answer to rewrite from `stem` instead).
    Output columns: question (None on failure),
    parse_error, raw_output, parse_attempts, model_name, failure.
    """

    _empty: ClassVar[dict[str, Any]] = {"question": None}

    @property
    def inputs(self) -> list[str]:
        return ["title", "heading_path", "answer", "stem"]

    @property
    def outputs(self) -> list[str]:
        return ["question", "parse_error", "raw_output", "parse_attempts", "model_name", "failure"]

    def format_input(self, input: dict[str, Any]) -> list[dict[str, str]]:
        if input.get("rephrase_of"):  # a question of this answer, to ask again in other words
            return answer_first.rephrase_messages(input["rephrase_of"], input["answer"], input["stem"])
        return answer_first.messages(
            input["title"],
            list(input["heading_path"] or []),
            input["answer"],
            input["stem"],
            int(input.get("order") or 0),
        )

    def format_output(self, output: str | None, input: dict[str, Any] | None = None) -> dict[str, Any]:
        if output is not None and input and input.get("rephrase_of"):  # its reply was begun with the stem
            output = answer_first.begun_reply(output, input["stem"])
        return super().format_output(output, input)

    def _parse(self, text: str) -> dict[str, Any]:
        return {"question": answer_first.parse_question(text)}
