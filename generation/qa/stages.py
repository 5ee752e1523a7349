"""The generate stage's declaration: chunks -> grounded Q&A pairs (its body: generation/qa/generate.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docs2qa.pipeline import Description, Manifest, Option, Requirement, Stage

if TYPE_CHECKING:
    from docs2qa.config import Config


def _describe_generate(manifest: Manifest) -> Description:
    notes = []
    if manifest.get("tokens"):
        tokens = ", ".join(f"{step} {t['prompt']}+{t['completion']}" for step, t in manifest["tokens"].items())
        cost = manifest.get("cost_usd")
        notes.append(f"tokens (prompt+completion): {tokens}" + (f"; cost ${cost}" if cost is not None else ""))
    health = manifest.get("judge_health") or {}
    if health.get("informative") is False:  # its scores were not used: say so where nobody can miss it
        notes.append(f"[bold red]WARNING: the judge is uninformative:[/] {health.get('reason', '')}")
    elif health:
        state = "informative" if health.get("informative") else "not assessed"
        notes.append(f"judge: {state} ({health.get('reason', '')})")
    return Description(notes=tuple(notes))


def _served(config: Config) -> bool:
    return "openai" in {config.generate.generator.backend, config.generate.judge_llm().backend}


_GENERATE = (
    *(Requirement(module, "generate") for module in ("distilabel", "torch", "transformers", "sentence_transformers")),
    Requirement("openai", "generate", when=_served),
)

STAGES = (
    Stage(
        "generate",
        "docs2qa.generation.qa.generate:generate",
        ("chunk",),
        "generate grounded Q&A pairs, judge them, drop failed checks and near-duplicates",
        describe=_describe_generate,
        requires=_GENERATE,
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
        ),
        # generate() takes "" for a local cluster and an address to join one; None means no Ray.
        arguments=lambda o: {"ray": o.get("ray_address") or ("" if o.get("ray") else None)},
    ),
)
