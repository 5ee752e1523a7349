"""The generate stage: chunks -> grounded Q&A pairs, judged (when generate.judge.enabled says
so), checked and de-duplicated.

Work is split into units, one per (chunk, question type). A distilabel pipeline
generates and judges them; journal steps append every finished batch to disk, so a run
killed at any point resumes where it stopped, and a unit whose chunk, prompt or models are
unchanged is never generated again. Units are run in waves when a token budget is set, so
the budget is checked between waves and a stop leaves only finished work behind.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from docs2qa.config import Config
from docs2qa.errors import Docs2qaError, ServiceError
from docs2qa.generation.qa import journal
from docs2qa.generation.qa.assemble import Unit, assemble, remove_near_duplicates, unit_key
from docs2qa.pipeline import record
from docs2qa.progress import track
from docs2qa.records import Chunk, Dropped, QAPair
from docs2qa.store import RunStore, StageResult

MAX_WAVE_UNITS = 32  # largest pipeline run when a token budget must be checked between runs
WALL_FILE = "_wall_s.json"  # time spent by earlier, unfinished runs of the stage (resumes add up)
LOG_TAIL_LINES = 30  # of the pipeline's output, shown when it fails
# distilabel's warning when a step's batch raised (it then sends the batch on empty), wrapped or not.
_FAILED_BATCH = re.compile(r"Processing\s+batch\s+\d+\s+with\s+step\s+'(\w+)'\s+failed")
log = logging.getLogger(__name__)


def spread(chunks: list[Chunk], limit: int | None) -> list[Chunk]:
    """At most `limit` chunks, taking each page's first chunk before any page's second."""
    if limit is None or len(chunks) <= limit:
        return chunks
    rank: dict[str, int] = {}
    ordered = []
    for chunk in chunks:
        rank[chunk.page_id] = rank.get(chunk.page_id, -1) + 1
        ordered.append((rank[chunk.page_id], chunk.page_id, chunk.start, chunk))
    return [c for *_, c in sorted(ordered, key=lambda t: t[:3])[:limit]]


def plan_units(
    chunks: list[Chunk], config: Config, labels: dict[str, str], judge_hash: str
) -> tuple[list[Unit], list[Dropped]]:
    """The units to generate, and the chunks (or chunk x type) skipped before any model call."""
    from docs2qa.generation.qa import answer_first
    from docs2qa.generation.qa.keep.gates import chunk_skip_reason
    from docs2qa.generation.qa.prompts import prompt_hash

    gen = config.generate
    strategy = gen.resolved_strategy()
    wanted = {t: n for t, n in gen.questions_per_type.items() if n > 0}
    if strategy == "answer_first" and set(wanted) - set(answer_first.TYPES):
        raise Docs2qaError(
            f"generate.strategy answer_first writes {', '.join(answer_first.TYPES)} questions, "
            f"not {', '.join(sorted(set(wanted) - set(answer_first.TYPES)))}",
            "set generate.strategy=free for yes_no and unanswerable questions (a model of >=1.5B parameters)",
        )
    units, skipped = [], []
    for chunk in chunks:
        skip = chunk_skip_reason(chunk.text, chunk.token_count, config.chunk.min_tokens)
        if skip:
            skipped.append(Dropped(chunk.chunk_id, chunk.anchor_url, *skip))
            continue
        picked = answer_first.pick_answers(chunk.text, wanted) if strategy == "answer_first" else {}
        for question_type, n in wanted.items():
            if strategy == "free":
                p_hash = prompt_hash(gen.output_format, question_type)
                key = unit_key(
                    chunk.chunk_id, question_type, n, p_hash, labels["generator"], judge_hash, labels["judge"]
                )
                units.append(Unit(key, chunk, question_type, n, p_hash))
                continue
            answers = tuple(picked[question_type])
            if not answers:
                skipped.append(
                    Dropped(
                        f"{chunk.chunk_id}:{question_type}",
                        chunk.anchor_url,
                        "no_answer_span",
                        f"no sentence of the chunk suits a {question_type} question",
                    )
                )
                continue
            p_hash = answer_first.prompt_hash()
            tries = gen.questions_per_answer
            templated = _templated(answers, question_type, chunk) if gen.question_templates else ()
            key = unit_key(
                chunk.chunk_id,
                question_type,
                n,
                p_hash,
                labels["generator"],
                judge_hash,
                labels["judge"],
                *answers,
                tries=tries,
                rephrase=gen.rephrase,
                templated=templated,
            )
            units.append(
                Unit(key, chunk, question_type, n, p_hash, "answer_first", answers, tries, gen.rephrase, templated)
            )
    return units, skipped


def _templated(answers: tuple[str, ...], question_type: str, chunk: Chunk) -> tuple[str, ...]:
    """The question a template writes for each answer ("" where the model is asked)."""
    from docs2qa.generation.qa.templates import fitting_question

    return tuple(fitting_question(a, question_type, chunk.title, list(chunk.heading_path)) or "" for a in answers)


def tokens_used(complete: dict) -> dict[str, dict[str, int]]:
    """Token ledger per step, from the journals (every attempt counted)."""
    ledger = {"generate": {"prompt": 0, "completion": 0}, "judge": {"prompt": 0, "completion": 0}}
    for done in complete.values():
        for kind in ("prompt", "completion"):
            ledger["generate"][kind] += done["tokens"][kind]
            ledger["judge"][kind] += sum(j["tokens"][kind] for j in done["judgements"])
    return ledger


def cost(ledger: dict, labels: dict[str, str], prices: dict) -> float | None:
    if not prices:
        return None
    total = 0.0
    for step, label in (("generate", labels["generator"]), ("judge", labels["judge"])):
        if not label:
            continue  # the judge was off: no model, no tokens, nothing to price
        price = prices.get(label)
        if price is None:
            raise Docs2qaError(
                f"generate.prices has no entry for model {label!r}",
                f"add generate.prices.{label}.prompt and .completion (USD per million tokens)",
            )
        total += sum(ledger[step][k] * price.get(k, 0.0) for k in ("prompt", "completion")) / 1e6
    return round(total, 6)


def _run_pipeline(units: list[Unit], config: Config, folder: Path, ray: str | None) -> None:
    """Run one wave in a fresh Python process and wait for it.

    distilabel forks a process per step; forking a process that has already started torch's
    thread pools (a test session, the embedded model's conversion) can deadlock the children.
    A new interpreter starts clean whatever this one imported, and unlike multiprocessing's
    spawn it never re-imports the caller's __main__.
    """
    import pickle

    from docs2qa import child_group, run_lock
    from docs2qa.generation.llm import resolve_model
    from docs2qa.logs import log_file

    gen = config.generate
    for llm in (gen.generator, *([gen.judge_llm()] if gen.judge_enabled() else [])):
        if llm.backend == "transformers":
            resolve_model(llm.model)  # convert an embedded model once, here, not in each step
    request = folder / "_wave.pickle"
    request.write_bytes(pickle.dumps((units, config, folder, ray)))
    # The run folder's lock goes with the pipeline: while any of it lives, no rerun can start.
    lock = run_lock.held_fd(folder.parent)
    run_log = log_file()
    log_start = run_log.stat().st_size if run_log is not None and run_log.exists() else 0
    code = child_group.run(
        [sys.executable, "-m", "docs2qa.generation.qa.generate", str(request)], pass_fds=() if lock is None else (lock,)
    )
    request.unlink(missing_ok=True)
    output = None
    if run_log is not None and _child_logs_to_file():
        with run_log.open("rb") as handle:
            handle.seek(log_start)
            output = handle.read().decode("utf-8", "replace")
        failed = Counter(_FAILED_BATCH.findall(output))
        if failed:
            # distilabel carries on with empty batches: without this line only the run log would know.
            steps = ", ".join(f"{step} {n}" for step, n in failed.items())
            log.warning(f"generation: batches failed in the pipeline ({steps}); the tracebacks are in {run_log}")
    if code != 0:
        where = "its log above"
        if output is not None:
            # The pipeline's output went to the run log: its end (the traceback) is the error to show.
            print("\n".join(output.splitlines()[-LOG_TAIL_LINES:]), file=sys.stderr)
            where = f"its output above (all of it in {run_log})"
        raise Docs2qaError(
            f"the generation pipeline exited with code {code}",
            f"see {where}; rerun the same command to resume, finished units are kept",
        )


def _child_logs_to_file() -> bool:
    """Whether the pipeline process writes its output (distilabel's log, library warnings and
    bars, tracebacks) to the run log rather than the terminal: without -v, when there is one."""
    from docs2qa.logs import log_file, verbose

    return log_file() is not None and not verbose()


def _pipeline_log() -> str:
    """Where the pipeline's own log (distilabel's lines, its tracebacks) went."""
    from docs2qa.logs import log_file

    return f"the pipeline's log in {log_file()}" if _child_logs_to_file() else "the pipeline's log above"


def _output_to_run_log() -> None:
    """In the pipeline process: fds 1 and 2 to the run log, so the step processes it forks
    write there too (our own progress and errors are the parent's)."""
    from docs2qa.logs import log_file

    run_log = log_file()
    if run_log is None or not _child_logs_to_file():
        return
    os.environ["COLUMNS"] = "200"  # rich (distilabel's log) wraps to 80 columns when not on a terminal
    fd = os.open(run_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _pipeline_process(units: list[Unit], config: Config, folder: Path, ray: str | None) -> None:
    import logging

    # distilabel logs every batch at INFO; our progress bar reads the journal instead.
    os.environ.setdefault("DISTILABEL_LOG_LEVEL", "WARNING")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # openai>=3 logs each request through 'httpx2', which distilabel does not quiet.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts

    from docs2qa.generation.llm import build_llm
    from docs2qa.generation.qa.answer_first import question_grammar
    from docs2qa.generation.qa.prompts import critique_grammar, pairs_grammar
    from docs2qa.generation.qa.steps import JournalUnits, JudgeUnits, QuestionUnits
    from docs2qa.generation.qa.tasks import GenerateQA

    gen = config.generate
    generator, judge = gen.generator, gen.judge_llm()
    lines = gen.output_format == "lines"
    max_pairs = max(gen.questions_per_type.values())
    rows = [
        {
            "unit": u.key,
            "chunk_id": u.chunk.chunk_id,
            "title": u.chunk.title,
            "heading_path": list(u.chunk.heading_path),
            "text": u.chunk.text,
            "question_type": u.question_type,
            "n": u.n,
            "answers": list(u.answers),
            "tries": u.tries,
            "rephrase": u.rephrase,
            "templated": list(u.templated),
        }
        for u in units
    ]
    # Our journals are the cache: distilabel's cannot always resume (upstream #1065), and a run killed
    # while distilabel wrote its pipeline.yaml leaves a file that crashes every rerun at load (even with
    # use_cache=False, distilabel reads it back): each pipeline process starts from an empty one.
    cache_dir = folder / "_distilabel"
    shutil.rmtree(cache_dir, ignore_errors=True)
    with Pipeline(name="docs2qa-generate", cache_dir=str(cache_dir)) as pipeline:
        load = LoadDataFromDicts(name="load_units", data=rows, batch_size=generator.batch_size)
        if gen.resolved_strategy() == "answer_first":
            # Questions are one line whatever the output format: the answers are given.
            ask = QuestionUnits(
                name="generate_qa",
                llm=build_llm(generator, question_grammar()),
                parse_retries=gen.parse_retries,
                input_batch_size=generator.batch_size,
            )
        else:
            ask = GenerateQA(
                name="generate_qa",
                llm=build_llm(generator, pairs_grammar(max_pairs) if lines else None),
                output_format=gen.output_format,
                parse_retries=gen.parse_retries,
                input_batch_size=generator.batch_size,
            )
        judged = gen.judge_enabled()
        sink = JournalUnits(
            name="journal_units", journal_dir=str(folder), judged=judged, input_batch_size=generator.batch_size
        )
        if judged:
            critique = JudgeUnits(
                name="critique_qa",
                llm=build_llm(judge, critique_grammar() if lines else None),
                output_format=gen.output_format,
                parse_retries=gen.parse_retries,
                input_batch_size=generator.batch_size,
            )
            load >> ask >> critique >> sink
        else:  # no judge step: no judge model is loaded and no judge token spent
            load >> ask >> sink
    if ray is not None:
        # Local cluster unless an address is given; bound to loopback, no dashboard.
        init = {} if ray else {"_node_ip_address": "127.0.0.1", "include_dashboard": False, "num_cpus": os.cpu_count()}
        pipeline = pipeline.ray(ray_head_node_url=ray or None, ray_init_kwargs=init)
    pipeline.run(use_cache=False)


def _wave_size(gen, spent: int, done: int) -> int | None:
    """All pending units at once without a budget; with one, as many as the tokens left
    should pay for at the cost per unit seen so far (one batch before anything is known)."""
    if gen.max_tokens is None:
        return None
    if done == 0 or spent == 0:
        return gen.generator.batch_size
    return max(1, min(MAX_WAVE_UNITS, int((gen.max_tokens - spent) / (spent / done))))


class _Clock:
    """Wall time of the stage across resumes: earlier unfinished runs' time (WALL_FILE) plus this
    run's, saved as it goes so that a killed run's time still counts."""

    def __init__(self, folder: Path):
        self._path = folder / WALL_FILE
        try:
            self.before = float(json.loads(self._path.read_text())["wall_s"])
        except (OSError, ValueError, KeyError, TypeError):
            self.before = 0.0
        self._started = time.monotonic()

    def total(self) -> float:
        return self.before + time.monotonic() - self._started

    def save(self) -> None:
        self._path.write_text(json.dumps({"wall_s": round(self.total(), 3)}) + "\n")

    def finish(self) -> float:
        """The earlier runs' time, and the stage starts from zero next time (its output is complete).
        This run's own time is the manifest's wall_s, which the run store measures around the body."""
        self._path.unlink(missing_ok=True)
        return round(self.before, 3)


SAVE_CLOCK_EVERY_S = 10


def _watch(folder: Path, done: int, total: int, stop: threading.Event, clock: _Clock) -> None:
    """Progress of all units (earlier waves' and runs' counted as done) from the journal files,
    which the step processes append to."""
    with track("generate (units)", total, completed=done) as progress:
        seen = journal.count_lines(folder / journal.UNITS)
        ticks = 0
        while not stop.wait(1.0):
            now = journal.count_lines(folder / journal.UNITS)
            progress.advance(now - seen)
            seen = now
            ticks += 1
            if ticks % SAVE_CLOCK_EVERY_S == 0:
                clock.save()
        progress.advance(journal.count_lines(folder / journal.UNITS) - seen)
    clock.save()


def generate(config: Config, store: RunStore, ray: str | None = None) -> dict:
    from docs2qa.generation.llm import model_label
    from docs2qa.generation.llm.preflight import check_endpoints
    from docs2qa.generation.qa.prompts import critique_prompt_hash

    gen = config.generate
    judged, judge_reason = gen.judge_decision()
    # An off judge has no label and no prompt: pairs say judge_model "", and unit keys change when
    # the judge is toggled, so a toggle regenerates what needs it and toggling back reuses the journal.
    labels = {"generator": model_label(gen.generator), "judge": model_label(gen.judge_llm()) if judged else ""}
    judge_hash = critique_prompt_hash(gen.output_format) if judged else ""

    def body(stage) -> StageResult:
        chunks = spread(store.stage("chunk").read("chunks", Chunk), gen.max_chunks)
        units, skipped = plan_units(chunks, config, labels, judge_hash)
        folder = stage.path
        clock = _Clock(folder)
        # Units that failed in an earlier run are asked again: only this run's failures are reported.
        (folder / journal.FAILED).unlink(missing_ok=True)
        if any(u.key not in journal.finished_units(folder) for u in units):
            # A dead server would fail every unit quietly inside the pipeline process.
            check_endpoints(gen)
        while True:
            complete = journal.finished_units(folder)
            failed = journal.failed_units(folder)
            pending = [u for u in units if u.key not in complete and u.key not in failed]
            spent = sum(sum(step.values()) for step in tokens_used(_current(complete, units)).values())
            if not pending:
                break
            if gen.max_tokens is not None and spent >= gen.max_tokens:
                raise Docs2qaError(
                    f"token budget reached: {spent} of generate.max_tokens={gen.max_tokens} used, "
                    f"{len(units) - len(pending)} of {len(units)} units done",
                    "finished work is kept; rerun with a higher --max-tokens (or none) to continue",
                )
            wave = pending[: _wave_size(gen, spent, len(units) - len(pending))]
            stop = threading.Event()
            watcher = threading.Thread(
                target=_watch, args=(folder, len(units) - len(pending), len(units), stop, clock), daemon=True
            )
            watcher.start()
            try:
                _run_pipeline(wave, config, folder, ray)
            finally:
                stop.set()
                watcher.join()
            if len(_current(journal.finished_units(folder), units)) == len(_current(complete, units)):
                if len(journal.failed_units(folder)) > len(failed):
                    break  # a server that failed a whole wave is not sent the next one
                # Without this a unit that can never finish would be retried forever.
                raise Docs2qaError("the generation pipeline finished no unit", f"see {_pipeline_log()}")

        failed = _current(journal.failed_units(folder), units)
        if failed:
            # Finished units stay journaled; the stage stays unfinished so that nothing reads a
            # partial output as whole, and the next run asks only the failed units again.
            raise _failed_units_error(failed, len(units), gen, labels, folder / journal.FAILED)
        current = _current(complete, units)
        # An uninformative judge is said once, by the stage's summary (_describe_generate in
        # generation/qa/stages.py), which `status` repeats; the manifest keeps judge_health.
        pairs, dropped, health = assemble(units, current, gen, labels, judge_hash, embed=_embedder(gen))
        pairs, duplicates = remove_near_duplicates(pairs, gen)
        ledger = tokens_used(current)
        return StageResult(
            tables={"pairs": (pairs, QAPair)},
            count_in=len(chunks),
            dropped=skipped + dropped + duplicates,
            extra={
                "units": len(units),
                "models": labels,
                "strategy": gen.resolved_strategy(),
                "judge": {"enabled": judged, "reason": judge_reason},
                **(
                    {"questions_per_answer": gen.questions_per_answer}
                    if gen.resolved_strategy() == "answer_first"
                    else {}
                ),
                "tokens": ledger,
                "cost_usd": cost(ledger, labels, gen.prices),
                "judge_health": health,
                "skipped_chunks": dict(Counter(d.reason for d in skipped)),
                # wall_s is this run's; the interrupted runs (kill, token budget) it resumed took this too.
                "wall_s_earlier_runs": clock.finish(),
            },
        )

    return record("generate", config, store, body)


def _failed_units_error(failed: dict, total: int, gen, labels: dict[str, str], path: Path) -> ServiceError:
    """One line naming, per role, its server and its most common error."""
    errors: dict[str, Counter] = {}
    for failure in failed.values():
        errors.setdefault(failure["role"], Counter())[failure["error"]] += 1
    parts = []
    for role, counts in errors.items():
        cfg = gen.generator if role == "generator" else gen.judge_llm()
        error, n = counts.most_common(1)[0]
        others = sum(counts.values()) - n
        also = f", {others} more with other errors" if others else ""
        parts.append(f"the {role} ({cfg.base_url or labels[role]}) failed {n} unit(s){also}: {error}")
    return ServiceError(
        f"{len(failed)} of {total} units got no answer after retries; " + "; ".join(parts),
        f"rerun the same `docs2qa generate` (or `docs2qa run`) command to retry the {len(failed)} failed units; "
        f"finished units are kept (each failure is listed in {path})",
    )


def _embedder(gen):
    """texts -> normalised vectors with the dedup embedding model, loaded once."""
    from functools import lru_cache

    @lru_cache(maxsize=1)
    def model():
        from docs2qa.models.embeddings import load_embedder

        return load_embedder(gen.dedup.model)

    def embed(texts: list[str]):
        return model().encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    return embed


def _current(complete: dict, units: list[Unit]) -> dict:
    # Journals keep units of chunks that an incremental crawl has since changed; only the
    # units of the current chunks count for output and budget.
    keys = {u.key for u in units}
    return {k: v for k, v in complete.items() if k in keys}


if __name__ == "__main__":  # the pipeline process started by _run_pipeline
    import pickle
    import sys

    from docs2qa.child_group import die_with_parent

    die_with_parent()
    _output_to_run_log()
    _pipeline_process(*pickle.loads(Path(sys.argv[1]).read_bytes()))
