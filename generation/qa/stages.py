"""The generate stage's declaration: chunks -> grounded Q&A pairs (its body: generation/qa/generate.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docs2qa.errors import Docs2qaError
from docs2qa.pipeline import Description, Manifest, Option, Requirement, Stage

if TYPE_CHECKING:
    from docs2qa.config import Config


def _describe_generate(manifest: Manifest) -> Description:
    notes = []
    # Manifests written before generate.judge.enabled have no "judge": their judge ran.
    judge = manifest.get("judge") or {}
    off = judge.get("enabled", True) is False
    if manifest.get("tokens"):
        steps = {step: t for step, t in manifest["tokens"].items() if not (off and step == "judge")}
        tokens = ", ".join(f"{step} {t['prompt']}+{t['completion']}" for step, t in steps.items())
        cost = manifest.get("cost_usd")
        notes.append(f"tokens (prompt+completion): {tokens}" + (f"; cost ${cost}" if cost is not None else ""))
    health = manifest.get("judge_health") or {}
    if off:  # nothing was judged: one plain line, no warning (judge_health says the same)
        notes.append(f"judge: off ({judge.get('reason') or 'generate.judge.enabled'})")
    elif health.get("informative") is False:  # its scores were not used: say so where nobody can miss it
        notes.append(f"[bold red]WARNING: the judge is uninformative:[/] {health.get('reason', '')}")
    elif health:
        state = "informative" if health.get("informative") else "not assessed"
        notes.append(f"judge: {state} ({health.get('reason', '')})")
    return Description(notes=tuple(notes))


def _backends(config: Config) -> set[str]:
    """The backends generate runs: the judge's only when it is on."""
    gen = config.generate
    return {gen.generator.backend, *([gen.judge_llm().backend] if gen.judge_enabled() else [])}


def _generate_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """generate()'s keyword arguments from its command's options."""
    if options.get("calibrate"):  # the dry run's alone (estimate.dry_run): never silently ignored
        raise Docs2qaError(
            "--calibrate times the generator for the estimate of a dry run", "add --dry-run, or leave --calibrate out"
        )
    # generate() takes "" for a local cluster and an address to join one; None means no Ray.
    return {"ray": options.get("ray_address") or ("" if options.get("ray") else None)}


_GENERATE = (
    *(Requirement(module, "generate") for module in ("distilabel", "torch", "transformers", "sentence_transformers")),
    Requirement("openai", "generate", when=lambda config: "openai" in _backends(config)),
    # The llamacpp backend starts xllamacpp's server and talks to it as an OpenAI client.
    Requirement("xllamacpp", "generate", when=lambda config: "llamacpp" in _backends(config)),
    Requirement("openai", "generate", when=lambda config: "llamacpp" in _backends(config)),
)

STAGES = (
    Stage(
        "generate",
        "docs2qa.generation.qa.generate:generate",
        ("chunk",),
        "generate grounded Q&A pairs, judge them, drop failed checks and near-duplicates",
        describe=_describe_generate,
        requires=_GENERATE,
        dry_run="docs2qa.generation.qa.estimate:dry_run",
        options=(
            Option(
                "--max-tokens",
                "max_tokens",
                int,
                None,
                "Token budget; stops cleanly (resumable) when reached.",
                override="generate.max_tokens",
            ),
            Option("--ray", "ray", bool, False, "Run the pipeline on a Ray cluster (a local one by default)."),
            Option("--ray-address", "ray_address", str, None, "Join this Ray cluster instead of starting a local one."),
            Option(
                "--calibrate",
                "calibrate",
                bool,
                False,
                "With --dry-run and no earlier run to take a rate from: time the generator on a few "
                "real prompts (this loads the model).",
            ),
        ),
        arguments=_generate_arguments,
    ),
)
