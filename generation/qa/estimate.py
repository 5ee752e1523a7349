"""`docs2qa generate --dry-run`: what a generate run would do and cost, before any model loads.

From what is on disk only: the chunk table, the stage's journal (units already finished are
skipped by a real run, so they cost nothing) and its last manifest (the rate of this machine).
The units are planned by the stage's own `plan_units`, so the count is the one a run makes.

- Prompt tokens: the real prompts of each pending request (answer_first: one per answer span;
  the judge: one per pair), in the generator's chat template, counted with the generator's own
  tokenizer when it is a local one that `tokenizers` reads in milliseconds (SmolLM2: the
  tokenizer.json the chunk stage cached), else with the chunk tokenizer (an approximation).
  The judge's prompt holds the question and answer the generator has not written yet: their
  tokens are the generator's expected completion.
- Completion tokens: the averages of the units in this run's journal; with none yet, the
  averages measured on SmolLM2 (ASSUMED_COMPLETION), or the max_new_tokens cap for a free
  strategy's reply (an upper bound; a real model stops well before it).
- Time: start-up + tokens / rate, from the last generate run of this run folder (its tokens
  over its wall time; the start-up is known only where its manifest records it, else it is
  inside the rate, which then overstates a larger run's time) or, with --calibrate, from a few
  seconds of the real generator on real prompts (this loads the model; nothing else here does).
- Cost: generate.prices, as the manifest's cost_usd is computed.

Nothing here imports torch, transformers or distilabel (tests/test_dry_run.py checks), and
nothing is written anywhere.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from docs2qa.errors import Docs2qaError

if TYPE_CHECKING:
    from collections.abc import Callable

    from docs2qa.config import Config
    from docs2qa.generation.qa.assemble import Unit
    from docs2qa.pipeline import StageView

log = logging.getLogger(__name__)

# Completion tokens per request of SmolLM2-135M (the embedded default) with answer_first, lines
# format, measured on tests/fixture_site (a 4-chunk run: 6 questions, 66 tokens; 6 judgements,
# 306 tokens): used until this run's journal has finished units of its own.
ASSUMED_COMPLETION = {"question": 11, "judgement": 51}
CALIBRATION_PROMPTS = 2  # generator requests timed by --calibrate: one small batch
CALIBRATION_MAX_NEW_TOKENS = 32  # a free strategy's reply is cut here while calibrating
_STEPS = ("generate", "judge")


@dataclass
class Estimate:
    """What a generate run would do from what is on disk now."""

    chunks: int  # rows of the chunk table
    selected: int  # after generate.max_chunks
    units: int  # planned by plan_units
    done: int  # of those, already finished in the journal: a run skips them
    skipped: dict[str, int]  # reason -> chunks (or chunk x type) skipped before any model call
    requests: dict[str, int]  # step -> model requests of the pending units
    tokens: dict[str, dict[str, int]]  # step -> {"prompt", "completion"}, the ledger's shape
    prompt_source: str
    completion_source: str
    rate: float | None = None  # tokens per second, start-up aside
    rate_source: str = ""
    startup_s: float = 0.0  # processes and model loads before the first token: the same for any size
    cost_usd: float | None = None
    cost_note: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return sum(sum(step.values()) for step in self.tokens.values())

    @property
    def seconds(self) -> float | None:
        return None if self.rate is None else self.startup_s + self.total_tokens / self.rate


def dry_run(config: Config, store: StageView, calibrate: bool = False, **_options: Any) -> list[Any]:
    """The stage's `dry_run` target: the estimate as lines and a table for the terminal."""
    if not store.stage("chunk").is_complete():
        return ["no chunk table yet: the chunk stage runs first (`docs2qa run`), then units can be planned"]
    return render(estimate(config, store, calibrate=calibrate), config)


def estimate(config: Config, store: StageView, calibrate: bool = False) -> Estimate:
    from docs2qa.generation.llm import model_label
    from docs2qa.generation.qa import journal
    from docs2qa.generation.qa.generate import plan_units, spread
    from docs2qa.generation.qa.prompts import critique_prompt_hash
    from docs2qa.records import Chunk

    gen = config.generate
    judged = config.generate.judge_enabled()
    # As generate() names them (an off judge: no label, no prompt hash), so that unit keys, and
    # with them the units the journal already holds, are the run's.
    labels = {"generator": model_label(gen.generator), "judge": model_label(gen.judge_llm()) if judged else ""}
    judge_hash = critique_prompt_hash(gen.output_format) if judged else ""
    all_chunks = store.stage("chunk").read("chunks", Chunk)
    chunks = spread(all_chunks, gen.max_chunks)
    units, skipped = plan_units(chunks, config, labels, judge_hash)
    folder = store.stage("generate").path
    finished = journal.finished_units(folder)
    pending = [u for u in units if u.key not in finished]  # failed units are asked again: pending
    averages, completion_source = _completion_averages(finished, config)
    count, prompt_source = _token_counter(config)
    requests, tokens = _tokens(pending, config, averages, count)
    reasked = _reask_factors([u for u in units if u.key in finished], finished, config, averages, count)
    for step, factor in reasked.items():
        tokens[step]["prompt"] = round(tokens[step]["prompt"] * factor)
    if reasked:
        prompt_source += "; re-asks after unreadable replies, as in the journal's units: " + ", ".join(
            f"{step} x{factor:.2f}" for step, factor in reasked.items()
        )
    result = Estimate(
        chunks=len(all_chunks),
        selected=len(chunks),
        units=len(units),
        done=len(units) - len(pending),
        skipped=dict(Counter(d.reason for d in skipped)),
        requests=requests,
        tokens=tokens,
        prompt_source=prompt_source,
        completion_source=completion_source,
    )
    result.rate, result.startup_s, result.rate_source = _rate(store, labels, folder)
    if result.rate is None and calibrate and pending:
        result.rate, result.startup_s, result.rate_source = _calibrate(config, pending, count)
    result.cost_usd, result.cost_note = _cost(tokens, labels, gen.prices)
    if gen.max_tokens is not None and result.total_tokens > gen.max_tokens:
        share = gen.max_tokens / result.total_tokens
        result.notes.append(
            f"the token budget generate.max_tokens={gen.max_tokens:,} stops the run after ~{share:.0%} of this "
            "(resumable: rerun with a higher --max-tokens)"
        )
    return result


def _stems(answer: str, unit: Unit) -> list[str]:
    """The opening of each of the `tries` questions QuestionUnits (steps.py) asks of this answer
    span (each try shows the worked examples in another order: the same tokens)."""
    from docs2qa.generation.qa import answer_first

    return [stem for stem, _ in answer_first.asks(answer, unit.question_type, unit.tries)]


def _tokens(
    pending: list[Unit], config: Config, averages: dict[str, float], count: Callable[[list[str]], list[int]]
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Requests and tokens per step of the pending units, their prompts built as the pipeline's
    tasks build them (tasks.py), counted in one batch."""
    from docs2qa.generation.qa import answer_first, prompts

    gen = config.generate
    judged = config.generate.judge_enabled()
    asks: list[str] = []
    judges: list[str] = []
    for unit in pending:
        chunk = unit.chunk
        heading = list(chunk.heading_path)
        if unit.strategy == "answer_first":
            for answer, written in zip(unit.answers, unit.templated or [""] * len(unit.answers), strict=True):
                # A templated question asks the model nothing; its rewrite still does.
                stems = [written] if written else _stems(answer, unit)
                if not written:
                    asks.extend(_chat(answer_first.messages(chunk.title, heading, answer, stem)) for stem in stems)
                # Its question is not written yet: the stem stands in for it. A rewrite that
                # misses is asked once more (QuestionUnits): _reask_factors counts that from
                # finished units, as it counts the re-asks of unreadable replies.
                if unit.rephrase:
                    again = answer_first.rephrase_opening(stems[0])
                    asks.append(_chat(answer_first.rephrase_messages(stems[0], answer, again)))
                if judged:  # the question is not written yet: its tokens come from `averages` below
                    messages = prompts.critique_messages(
                        gen.output_format, "", answer, answer, chunk.text, chunk.title, heading
                    )
                    judges.extend([_chat(messages)] * (len(stems) + unit.rephrase))
        else:
            messages = prompts.generate_messages(
                gen.output_format, unit.question_type, unit.n, chunk.title, heading, chunk.text
            )
            asks.append(_chat(messages))
            if judged:
                empty = prompts.critique_messages(gen.output_format, "", "", "", chunk.text, chunk.title, heading)
                judges.extend([_chat(empty)] * unit.n)
    counts = count(asks + judges)
    per_ask = averages["question"]
    ledger = {
        "generate": {"prompt": sum(counts[: len(asks)]), "completion": round(len(asks) * per_ask)},
        "judge": {"prompt": 0, "completion": 0},
    }
    if judged:
        # A free reply holds all n pairs of its unit; each judge prompt holds one of them.
        per_pair = per_ask if gen.resolved_strategy() == "answer_first" else averages["pair"]
        ledger["judge"] = {
            "prompt": sum(counts[len(asks) :]) + round(len(judges) * per_pair),
            "completion": round(len(judges) * averages["judgement"]),
        }
    return {"generate": len(asks), "judge": len(judges)}, ledger


def _reask_factors(
    done: list[Unit],
    finished: dict[str, dict],
    config: Config,
    averages: dict[str, float],
    count: Callable[[list[str]], list[int]],
) -> dict[str, float]:
    """Per step, the prompt tokens the finished units really took over those their prompts
    count: a reply that cannot be read is asked again with the conversation so far
    (parse_retries), which one prompt per request does not show. Measured: one unit of nine
    re-asked 3 times took 18% more prompt tokens than counted. Empty without finished units."""
    if not done:
        return {}
    _, counted = _tokens(done, config, averages, count)
    spent = {
        "generate": sum(finished[u.key]["tokens"]["prompt"] for u in done),
        "judge": sum(j["tokens"]["prompt"] for u in done for j in finished[u.key].get("judgements") or []),
    }
    # Below 1: the units' records hold fewer requests than planned (tries that never came back).
    return {step: max(1.0, spent[step] / counted[step]["prompt"]) for step in spent if counted[step]["prompt"]}


def _chat(messages: list[dict]) -> str:
    """The prompt as the model reads it: SmolLM2's chat template (ChatML), which adds its
    default system turn only when there is none (every prompt here has one)."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def _token_counter(config: Config) -> tuple[Callable[[list[str]], list[int]], str]:
    """Counts tokens with the generator's tokenizer where it can be read without transformers
    (and cheaply: ~0.1 s), else the chunk tokenizer, else 4 characters per token."""
    from pathlib import Path

    from docs2qa.generation.ingest.tokenizer import load_token_counter, tokenizer_cache

    generator = config.generate.generator
    specs = []
    if generator.backend == "transformers":
        model = Path(generator.model).expanduser()
        if generator.model == "embedded:smollm2" or (model / "tokenizer.json").is_file():
            specs.append((generator.model, f"the generator's tokenizer ({generator.model})"))
    specs.append(
        (config.chunk.tokenizer, f"the chunk tokenizer {config.chunk.tokenizer} (not the generator's own: approximate)")
    )
    for spec, source in specs:
        # An embedded tokenizer not yet cached would be built with transformers (~15 s): not here.
        if spec == "embedded:smollm2" and not (tokenizer_cache() / "smollm2" / "tokenizer.json").is_file():
            continue
        try:
            counter = load_token_counter(spec)
        except Docs2qaError:
            continue
        if spec == generator.model and config.chunk.tokenizer == spec:
            source = f"the generator's own tokenizer ({spec})"
        return counter.count_many, f"real prompts, counted with {source}"
    return lambda texts: [len(t) // 4 for t in texts], "real prompts at ~4 characters per token (no tokenizer cached)"


def _completion_averages(finished: dict[str, dict], config: Config) -> tuple[dict[str, float], str]:
    """Completion tokens per question (answer_first) or reply (free), per pair in a reply and per
    judgement: the journal's averages (retries included), else ASSUMED_COMPLETION."""
    gen = config.generate
    asks = asked = judgements = judged = pairs = 0
    for record in finished.values():
        if record.get("parse_error") is None and record.get("pairs"):
            # answer_first journals a unit's questions (and its tries that never parsed) together;
            # a free unit is one reply.
            # A templated question cost no tokens: it is no question asked of the model.
            asked_model = [p for p in record["pairs"] if not p.get("template")]
            tried = len(asked_model) + len(record.get("failed_tries") or [])
            n = tried if gen.resolved_strategy() == "answer_first" else 1
            asks += record["tokens"]["completion"]
            asked += n
            pairs += len(record["pairs"])
        for judgement in record.get("judgements") or []:
            judgements += judgement["tokens"]["completion"]
            judged += 1
    averages = {
        "question": float(ASSUMED_COMPLETION["question"]),
        "judgement": float(ASSUMED_COMPLETION["judgement"]),
    }
    if gen.resolved_strategy() != "answer_first":
        averages["question"] = float(gen.generator.max_new_tokens)
    averages["pair"] = averages["question"] / max(1, max(gen.questions_per_type.values()))
    parts = []
    if asked:
        averages["question"] = asks / asked
        averages["pair"] = asks / pairs
        parts.append(
            f"{averages['question']:.1f} per {'question' if gen.resolved_strategy() == 'answer_first' else 'reply'}"
        )
    if judged:
        averages["judgement"] = judgements / judged
        parts.append(f"{averages['judgement']:.1f} per judgement")
    judging = config.generate.judge_enabled()
    if asked and (judged or not judging):
        return averages, f"this run's journal ({len(finished)} finished units): " + ", ".join(parts)
    assumed = []
    if not asked:
        assumed.append(
            f"{ASSUMED_COMPLETION['question']} per question (SmolLM2's average, ASSUMED_COMPLETION)"
            if gen.resolved_strategy() == "answer_first"
            else f"the generator's max_new_tokens={gen.generator.max_new_tokens} per reply (an upper bound)"
        )
    if judging and not judged:
        assumed.append(f"{ASSUMED_COMPLETION['judgement']} per judgement (SmolLM2's average, ASSUMED_COMPLETION)")
    known = f"this run's journal: {', '.join(parts)}; " if parts else "no finished units yet: "
    return averages, known + ", ".join(assumed)


def _rate(store: StageView, labels: dict[str, str], folder: Any) -> tuple[float | None, float, str]:
    """(tokens per second, start-up seconds, where from) of the last generate run of this folder,
    with the same models; (None, 0, why not) when it tells none."""
    from docs2qa.generation.qa import journal

    manifest = store.stage("generate").manifest()
    none = "no rate known: run once (e.g. --set generate.max_chunks=5), or pass --calibrate"
    if not manifest or not manifest.get("tokens"):
        return None, 0.0, none
    # The same models (a judge turned on or off aside: the rate is per token, whatever the step).
    if {m for m in (manifest.get("models") or {}).values() if m} != {m for m in labels.values() if m}:
        return None, 0.0, "no rate known for these models (the last run used others): run once, or pass --calibrate"
    when = manifest.get("finished_at", "")[:16].replace("T", " ")
    # What the stage records of its own last run, when it does: the tokens of the units it
    # generated (not those it kept from the journal), its time, and its start-up within that.
    generated = manifest.get("generated")
    if generated and generated.get("seconds"):
        tokens = sum(sum(step.values()) for step in generated["tokens"].values())
        startup = float(generated.get("startup_s") or 0.0)
        working = float(generated["seconds"]) - startup
        if tokens <= 0 or working <= 0:
            return None, 0.0, none
        return (
            tokens / working,
            startup,
            (f"the last generate run ({when}: {tokens:,} tokens in {working:.0f}s after a {startup:.0f}s start-up)"),
        )
    tokens = sum(sum(step.values()) for step in manifest["tokens"].values())
    seconds = float(manifest.get("wall_s") or 0) + float(manifest.get("wall_s_earlier_runs") or 0)
    # Its tokens are those of all its units, also units journaled by earlier runs; a journal
    # untouched since it started means every unit was reused, and its time says nothing.
    path = folder / journal.UNITS
    started = datetime.fromisoformat(manifest["started_at"]).timestamp()
    if not path.exists() or path.stat().st_mtime < started:
        return None, 0.0, "no rate known: the last run generated nothing (all its units were reused); pass --calibrate"
    if tokens <= 0 or seconds <= 0:
        return None, 0.0, none
    # Its start-up (processes, model loads) is inside its time: a short run's rate is low, and
    # a larger run goes faster per token than this says (measured: 16 tokens/s from a 3-unit
    # run of 194 s, where the next 6 units took 25 s more).
    return (
        tokens / seconds,
        0.0,
        (
            f"the last generate run ({when}: {tokens:,} tokens in {seconds:.0f}s, its start-up included: "
            "an upper bound when that run was short)"
        ),
    )


def _calibrate(
    config: Config, pending: list[Unit], count: Callable[[list[str]], list[int]]
) -> tuple[float, float, str]:
    """(tokens per second, start-up, where from) of the real generator on a few real prompts;
    the start-up is this process's library import and model load, as each pipeline step's."""
    from docs2qa.generation.qa import answer_first, prompts

    gen = config.generate
    if gen.generator.backend not in ("transformers", "llamacpp"):
        raise Docs2qaError(
            f"--calibrate times a generator that runs here (transformers, llamacpp), not the "
            f"{gen.generator.backend} backend",
            "run once on a few chunks instead: --set generate.max_chunks=5",
        )
    started = time.perf_counter()
    from docs2qa.generation.llm import build_llm, generation_kwargs

    conversations = []
    for unit in pending:
        chunk = unit.chunk
        if unit.strategy == "answer_first":
            conversations += [
                answer_first.messages(chunk.title, list(chunk.heading_path), a, stem)
                for a in unit.answers
                for stem in _stems(a, unit)
            ]
        else:
            conversations.append(
                prompts.generate_messages(
                    gen.output_format, unit.question_type, unit.n, chunk.title, list(chunk.heading_path), chunk.text
                )
            )
        if len(conversations) >= CALIBRATION_PROMPTS:
            break
    conversations = conversations[:CALIBRATION_PROMPTS]
    grammar = answer_first.question_grammar() if gen.resolved_strategy() == "answer_first" else None
    llm = build_llm(gen.generator, grammar)
    llm.load()
    try:
        loaded = time.perf_counter()
        # As the step sends them: the LLM's own kwargs hold llama.cpp's grammar.
        kwargs = {**generation_kwargs(gen.generator), **(llm.generation_kwargs or {})}
        kwargs["max_new_tokens"] = min(kwargs["max_new_tokens"], CALIBRATION_MAX_NEW_TOKENS)
        outputs = llm.generate_outputs(inputs=conversations, num_generations=1, **kwargs)
        seconds = time.perf_counter() - loaded
    finally:
        llm.unload()  # llama.cpp's server stops with it
    tokens = sum(
        sum(o["statistics"]["input_tokens"]) + sum(o["statistics"]["output_tokens"])
        for o in outputs
        if o.get("statistics")
    ) or sum(count([_chat(c) for c in conversations]))
    startup = loaded - started
    return (
        tokens / seconds,
        startup,
        (
            f"--calibrate: {len(conversations)} real prompts, {tokens:,} tokens in {seconds:.1f}s "
            f"after a {startup:.0f}s start-up (import and model load)"
        ),
    )


def _cost(tokens: dict[str, dict[str, int]], labels: dict[str, str], prices: dict) -> tuple[float | None, str]:
    from docs2qa.generation.qa.generate import cost

    if not prices:
        return None, "no prices set (generate.prices: USD per million tokens by model)"
    try:
        return cost(tokens, labels, prices), "from generate.prices"
    except Docs2qaError as exc:  # the run itself would fail on this after generating: say it now
        return None, f"{exc} ({exc.hint})" if exc.hint else str(exc)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def render(result: Estimate, config: Config) -> list[Any]:
    """Lines and one table (rich renderables) for the terminal."""
    from rich.table import Table

    gen = config.generate
    limit = f" (generate.max_chunks={gen.max_chunks})" if gen.max_chunks is not None else ""
    skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(result.skipped.items(), key=lambda kv: -kv[1]))
    lines: list[Any] = [
        f"chunks  {result.chunks:,} in the chunk table, {result.selected:,} selected{limit}",
        f"units   {result.units:,} planned ({gen.resolved_strategy()}), {result.done:,} already done "
        f"(kept from the journal), {result.units - result.done:,} to generate"
        + (f"; skipped before any model call: {skipped}" if skipped else ""),
    ]
    table = Table(box=None, pad_edge=False, padding=(0, 2))
    for column in ("step", "requests", "prompt tokens", "completion tokens"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for step in _STEPS:
        off = step == "judge" and not config.generate.judge_enabled()
        tokens = result.tokens[step]
        table.add_row(
            step + (" (off)" if off else ""),
            f"{result.requests[step]:,}",
            f"{tokens['prompt']:,}",
            f"{tokens['completion']:,}",
        )
    table.add_row(
        "total",
        f"{sum(result.requests.values()):,}",
        f"{sum(t['prompt'] for t in result.tokens.values()):,}",
        f"{sum(t['completion'] for t in result.tokens.values()):,}",
        style="bold",
    )
    lines.append(table)
    lines.append(f"prompt tokens: {result.prompt_source}")
    lines.append(f"completion tokens: {result.completion_source}")
    if result.rate is None or result.seconds is None:
        lines.append(f"time    {result.rate_source}")
    else:
        startup = f"{_duration(result.startup_s)} start-up + " if result.startup_s else ""
        lines.append(
            f"time    ~{_duration(result.seconds)} ({startup}{result.total_tokens:,} tokens at "
            f"{result.rate:,.0f} tokens/s), from {result.rate_source}"
        )
    if result.cost_usd is not None:
        lines.append(f"cost    ~${result.cost_usd:,.4f} ({result.cost_note})")
    else:
        lines.append(f"cost    {result.cost_note}")
    judged, why = gen.judge_decision()
    lines.append(f"judge   {'on' if judged else 'off'} ({why})")
    lines.extend(result.notes)
    return lines
