"""The Argilla dataset layout for reviewing Q&A pairs, and a comparable signature of it.

The signature is what push compares against an existing dataset: names, kinds, labels,
rating values, vector size and the overlap setting. Titles, descriptions and guidelines
are presentation and may change freely; anything in the signature changing would make old
and new records or responses mean different things, so it is schema drift.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

LABELS = ("accept", "needs-edit", "reject")
VERDICT_TO_LABEL = {"keep": "accept", "revise": "needs-edit", "drop": "reject"}
RATING_VALUES = (1, 2, 3, 4, 5)
SCORE_NAMES = ("grounded", "correct", "useful", "standalone")
VECTOR_NAME = "question_embedding"
VECTOR_DIMS = 384
EMBED_MODEL = "embedded:all-minilm-l6-v2"

# Question names: pull reads responses by these.
Q_DECISION = "decision"
Q_QUALITY = "quality"
Q_CORRECTED_QUESTION = "corrected_question"
Q_CORRECTED_ANSWER = "corrected_answer"
Q_COMMENT = "comment"

TERMS_METADATA = ("question_type", "page_url", "page_title", "heading", "verdict")
INTEGER_METADATA = (*(f"score_{s}" for s in SCORE_NAMES), "min_judge_score", "cluster_size")
FLOAT_METADATA = ("mean_judge_score",)
# What a record holds only when a judge scored its pair: without one these are left out, not 0.
JUDGE_METADATA = ("verdict", *(f"score_{s}" for s in SCORE_NAMES), "min_judge_score", "mean_judge_score")


# The guidelines hold blocks for runs the judge scored or not, and for judged runs whose judge's
# suggestions are shown or not; the blocks that do not fit the run are cut out, so reviewers never
# read about scores and suggestions that do not exist.
_BLOCK = re.compile(r"<!-- (judge|no-judge|suggestions|no-suggestions) -->\n(.*?)<!-- /\1 -->\n", re.DOTALL)


def _annotators(needed: int) -> str:
    if needed == 1:
        return "Each record needs one submitted decision: once someone submits it, it is done for everyone."
    return (
        f"Each record needs {needed} submitted decisions, from {needed} different people. Decide on your own: "
        "the review policy resolves disagreements, and the agreement between reviewers is reported."
    )


def guidelines_text(judge: bool = True, suggest: bool = True, annotators_per_record: int = 1) -> str:
    """The annotator guidelines shipped next to this module (package data when installed), for a
    run the judge scored or, with `judge` False, one without a judge; `suggest` False when the
    judge's suggestions are withheld (an uninformative judge); with the number of decisions a
    record needs. Stripped as the server stores them, so an unchanged text compares equal."""
    try:
        text = resources.files("docs2qa.curation").joinpath("guidelines.md").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        # Running from a source checkout without the package installed.
        text = (Path(__file__).parent / "guidelines.md").read_text(encoding="utf-8")
    keep = {
        "judge": judge,
        "no-judge": not judge,
        "suggestions": judge and suggest,
        "no-suggestions": judge and not suggest,
    }
    text = _BLOCK.sub(lambda m: m.group(2) if keep[m.group(1)] else "", text)
    text = text.replace("{annotators}", _annotators(annotators_per_record))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def build_settings(min_submitted: int, client, judge: bool = True, suggest: bool = True):
    """rg.Settings for the review dataset; `client` is needed because VectorField binds one.
    Without a `judge` the same layout (so a later judged push is no schema drift) says that the
    judge's parts stay empty, in its titles and descriptions, which are presentation; `suggest`
    picks the guidelines (see guidelines_text)."""
    import argilla as rg

    def title(name: str) -> str:
        empty = not judge and name in JUDGE_METADATA
        return name.replace("_", " ") + (" (empty: no judge ran)" if empty else "")

    answer = "The judge's revision when it revised the answer." if judge else "The generator's answer (no judge ran)."
    fields = [
        rg.TextField("question", title="Question"),
        rg.TextField("answer", title="Answer", description=answer),
        rg.TextField(
            "context",
            title="Context",
            use_markdown=True,
            description="The documentation passage the pair was written from, the answer's words in it "
            "highlighted, its source link, and the model-free checks the pair passed.",
        ),
        rg.TextField("original_answer", title="Original answer (before the judge's revision)", required=False),
        rg.TextField("judge_rationale", title="Judge's rationale", required=False),
    ]
    questions = [
        rg.LabelQuestion(
            Q_DECISION,
            labels={label: label for label in LABELS},
            title="Decision",
            description="accept: publish; needs-edit: keep but not ready; reject: do not publish.",
        ),
        rg.RatingQuestion(Q_QUALITY, values=list(RATING_VALUES), title="Quality (1 wrong - 5 excellent)"),
        rg.TextQuestion(Q_CORRECTED_QUESTION, title="Corrected question (optional)", required=False),
        rg.TextQuestion(Q_CORRECTED_ANSWER, title="Corrected answer (optional)", required=False),
        rg.TextQuestion(Q_COMMENT, title="Comment (optional)", required=False),
    ]
    metadata = [
        *(rg.TermsMetadataProperty(name, title=title(name)) for name in TERMS_METADATA),
        *(rg.IntegerMetadataProperty(name, title=title(name)) for name in INTEGER_METADATA),
        *(rg.FloatMetadataProperty(name, title=title(name)) for name in FLOAT_METADATA),
    ]
    vectors = [rg.VectorField(VECTOR_NAME, dimensions=VECTOR_DIMS, title="Question embedding", _client=client)]
    return rg.Settings(
        fields=fields,
        questions=questions,
        metadata=metadata,
        vectors=vectors,
        guidelines=guidelines_text(judge, suggest, min_submitted),
        allow_extra_metadata=False,
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
    )


def signature(settings) -> dict[str, str]:
    """{'field:question': 'text required', ...}: the parts of the settings that records and
    responses depend on, in a form two settings objects can be diffed by."""
    sig: dict[str, str] = {}
    for f in settings.fields:
        sig[f"field:{f.name}"] = f"{f.type}{' required' if f.required else ''}"
    for q in settings.questions:
        options = ""
        if q.type in ("label_selection", "multi_label_selection"):
            options = " labels=" + ",".join(sorted(q.labels))
        elif q.type == "rating":
            options = " values=" + ",".join(str(v) for v in sorted(q.values))
        sig[f"question:{q.name}"] = f"{q.type}{' required' if q.required else ''}{options}"
    for m in settings.metadata:
        sig[f"metadata:{m.name}"] = m._model.type  # the SDK exposes no public kind
    for v in settings.vectors:
        sig[f"vector:{v.name}"] = f"dimensions={v.dimensions}"
    sig["distribution:min_submitted"] = str(settings.distribution.min_submitted)
    return sig


def diff_signatures(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """Human-readable differences, one line each, in a stable order."""
    lines = []
    for key in sorted(expected.keys() | actual.keys()):
        want, have = expected.get(key), actual.get(key)
        if want == have:
            continue
        if have is None:
            lines.append(f"{key} is missing (expected {want})")
        elif want is None:
            lines.append(f"{key} is not part of docs2qa's layout (found {have})")
        else:
            lines.append(f"{key} is '{have}', expected '{want}'")
    return lines
