"""Builders for the eval tests: a LoRA adapter on a tiny model, canonical rows, a version.

The adapter's B matrices are drawn non-zero (peft initialises them to zero, which would
make tuned == base), so the tuned model's greedy text differs from the base model's.
"""

from __future__ import annotations

import json
from pathlib import Path

QUESTIONS = [
    ("Does the crawler read the sitemap?", "Yes, the crawler reads the sitemap before the next stage.", "yes_no"),
    ("What does the converter split?", "The converter splits every heading in one pass.", "factual"),
    (
        "How does the exporter store a dropped record?",
        "The exporter stores a dropped record with a clear reason.",
        "procedural",
    ),
    ("Is the robots file skipped?", "No, the judge checks the robots file.", "yes_no"),
    (
        "Why does each page follow the run manifest?",
        "Each page follows the run manifest and keeps the order.",
        "conceptual",
    ),
    ("Which stage checks each code block?", "A judge checks each code block when the cache is warm.", "factual"),
    ("Does a chunk write the question?", "True: a chunk writes the question in one pass.", "yes_no"),
]


def build_adapter(
    model_path: Path,
    out_dir: Path,
    *,
    dataset: dict | None = None,
    rank: int = 4,
    b_std: float = 0.5,
    base_model: str | None = None,
) -> Path:
    """A fine-tune output folder: out_dir/adapter (weights + tokenizer) and out_dir/manifest.json.

    `b_std` 0.5 changes the tiny model's text visibly; a real model stays fluent near 0.02.
    `base_model` is what the manifest names (default: the model path).
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)  # A is drawn here: the same adapter every time
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    peft = get_peft_model(
        model,
        LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM"),
    )
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, b_std)
    adapter = out_dir / "adapter"
    peft.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(model_path).save_pretrained(adapter)
    manifest = {"base_model": base_model or str(model_path), "dataset": dataset or {}}
    (out_dir / "manifest.json").write_text(json.dumps(manifest))
    return out_dir


def canonical_rows(split: str, count: int | None = None) -> list[dict]:
    chosen = QUESTIONS if count is None else QUESTIONS[:count]
    return [
        {
            "pair_id": f"{split}-{i}",
            "question": q,
            "answer": a,
            "context": f"Documentation: {a}",
            "question_type": t,
            "page_id": "p1",
            "url": "http://docs.test/a",
            "anchor_url": "http://docs.test/a#x",
            "title": "A",
            "heading_path": ["A"],
            "chunk_id": "c1",
            "fact_id": "",  # these rows do not say which fact they ask about
            "generator_model": "tiny",
            "min_judge_score": 4,
            "curation": "accepted",
        }
        for i, (q, a, t) in enumerate(chosen)
    ]


def write_demo_version(
    root: Path, *, system_prompt: str | None = "Answer from the docs.", include_context: bool = False
) -> Path:
    from docs2qa.datastore.versions import write_version

    splits = {"train": canonical_rows("train", 3), "validation": [], "test": canonical_rows("test")}
    return write_version(root, "demo", splits, {"system_prompt": system_prompt, "include_context": include_context}, {})


# Facts of the bundled demo site (docs2qa/demo_site), answer-first style: the answer is a span
# of the page, and each fact is asked twice, in different words (the train phrasing and the
# test phrasing), as a knowledge split does. Every answer form is here: truth values, numbers,
# commands and sentences of several lengths.
# (fact_id, page, question_type, train question, test question, answer)
DEMO = "https://acme-cloud.example/docs/"
DEMO_FACTS = [
    ("f01", "getting-started", "yes_no", "Must Free accounts verify a phone number to use GPUs?",
     "Do accounts on the Free plan need a verified phone before a GPU session?",
     "Yes, accounts on the Free plan must verify a mobile phone number before they can start a GPU session."),
    ("f02", "getting-started", "yes_no", "Is phone verification required for CPU sessions?",
     "Does a CPU session need a verified phone number?",
     "No, verification is not required for CPU sessions."),
    ("f03", "gpu-quotas", "yes_no", "Do unused GPU-hours roll over to the next week?",
     "Can GPU-hours left at the end of a week be used the week after?",
     "No, unused hours do not roll over to the next week."),
    ("f04", "gpu-quotas", "yes_no", "Does time waiting in the queue for a GPU count against the quota?",
     "Is queue time spent waiting for a GPU metered?",
     "No, time spent in the queue waiting for a GPU does not count."),
    ("f05", "gpu-quotas", "yes_no", "Do idle interactive GPU sessions count against the quota?",
     "Is idle time before the idle timeout counted as GPU usage?",
     "Yes, interactive GPU sessions count, including time spent idle before the idle timeout stops them."),
    ("f06", "datasets", "yes_no", "True or false: pinned dataset versions are deleted automatically.",
     "True or false: a pinned version can be deleted automatically when the versions limit is exceeded.",
     "False: pinned versions are never deleted automatically."),
    ("f07", "datasets", "yes_no", "True or false: dataset uploads are resumable.",
     "True or false: an interrupted dataset upload continues where it stopped when the command is run again.",
     "True: uploads are resumable, and running the same command again continues where it stopped."),
    ("f08", "api", "yes_no", "Do API tokens of a member who loses the Admin role keep working?",
     "Does a token with org:admin scope stay valid after its creator loses the Admin role?",
     "No, tokens created by a member with org:admin scope stop working if the member loses the Admin role."),
    ("f09", "gpu-quotas", "factual", "How many weekly GPU-hours does the Free plan include?",
     "What is the Free plan's weekly GPU-hour quota?", "20"),
    ("f10", "gpu-quotas", "factual", "How many weekly GPU-hours does the Pro plan include?",
     "What weekly GPU quota comes with Pro?", "60"),
    ("f11", "gpu-quotas", "factual", "What is the weight of an H100 when counting GPU usage?",
     "By how much is an hour on an H100 multiplied when usage is counted?", "8"),
    ("f12", "gpu-quotas", "factual", "How long do running GPU sessions continue after the quota is used up?",
     "What is the grace period for running GPU sessions at 100% of the quota?", "15 minutes"),
    ("f13", "cli", "factual", "With which status does the CLI exit when the weekly GPU quota is exceeded?",
     "What exit code means the weekly GPU quota was exceeded?", "4"),
    ("f14", "api", "factual", "After how many days do API tokens expire by default?",
     "What is the default lifetime of a personal access token?", "90 days"),
    ("f15", "api", "factual", "How long are list page tokens valid?",
     "For how long can a next_page_token be used?", "10 minutes"),
    ("f16", "datasets", "factual", "How many files can one dataset version hold on the Team plan?",
     "What is the Team plan's limit of files per version?", "50,000"),
    ("f17", "datasets", "factual", "How many days is a dataset deletion delayed?",
     "For how long can a deleted dataset be restored from the trash?", "7 days"),
    ("f18", "cli", "procedural", "How do you install the Acme CLI?",
     "Which command installs the acme command-line tool?", "pip install acme-notebooks"),
    ("f19", "cli", "procedural", "How do you store credentials for the CLI?",
     "Which command opens a browser to create a token for the CLI?", "acme login"),
    ("f20", "cli", "procedural", "How do you see this week's GPU usage from the terminal?",
     "Which CLI command shows the GPU quota used this week?", "acme quota"),
    ("f21", "cli", "procedural", "How do you write a dataset-metadata.yaml template?",
     "Which command creates a metadata template in a dataset folder?", "acme datasets init DIR"),
    ("f22", "cli", "procedural", "How do you add a version to a dataset from the CLI?",
     "Which command uploads an updated folder as a new dataset version?",
     "acme datasets version ./city-bike-trips-2024 -m \"Add December data, fix station ids\""),
    ("f23", "cli", "procedural", "How do you create a token that can submit to events?",
     "Which login command gives a token the events scope?", "acme login --scopes read,write,events"),
    ("f24", "cli", "procedural", "How do you print every HTTP request the CLI makes?",
     "Which flag makes the CLI show each request and its request_id?", "acme --debug"),
    ("f25", "cli", "procedural", "How do you show an event's top 20 on the leaderboard?",
     "Which command prints the first 20 rows of an event's public leaderboard?",
     "acme events leaderboard bike-demand-2025 --top 20"),
    ("f26", "api", "procedural", "How do you call the API with a token?",
     "How is the token sent to the REST API?",
     "curl -H \"Authorization: Bearer $ACME_TOKEN\" https://api.acme-cloud.example/v1/me"),
    ("f27", "gpu-quotas", "factual", "When does the weekly GPU quota reset?",
     "At what time is the GPU quota reset each week?", "The quota resets every Monday at 00:00 UTC."),
    ("f28", "getting-started", "factual", "Where are attached datasets mounted?",
     "Under which path does a notebook see an attached dataset?",
     "Attached datasets are mounted read-only under /datasets/<owner>/<slug>."),
    ("f29", "getting-started", "conceptual", "What happens to variables when a session switches to a GPU?",
     "What is kept and what is lost when the accelerator changes?",
     "The session restarts on a GPU machine; variables in memory are lost, files in /workspace are kept."),
    ("f30", "getting-started", "factual", "How long does a new notebook session take to start?",
     "How long does it usually take for a CPU session to start?",
     "A session starts on a CPU machine with the current default environment, which usually takes 20 to 40 seconds."),
    ("f31", "datasets", "conceptual", "Why copy a dataset folder to /scratch first?",
     "When is reading from /scratch faster than from the dataset mount?",
     "For many small random reads, copying the folder to /scratch first is usually faster."),
    ("f32", "datasets", "factual", "Which files does a dataset preview show for images?",
     "How are image files previewed on a dataset page?",
     "PNG, JPEG and WebP images are shown as a grid of the first 100 files in each folder."),
    ("f33", "api", "factual", "What happens to unsealed uploads?",
     "How long are uploads that were never sealed kept?", "Unsealed uploads are discarded after 24 hours."),
    ("f34", "api", "conceptual", "What happens to /v1 when /v2 is released?",
     "How long does the old API path stay available after a breaking change?",
     "/v1 stays available for at least 12 months after /v2 is released."),
    ("f35", "gpu-quotas", "factual", "When do you get a notice about your GPU quota?",
     "At which levels of the weekly quota are you warned?",
     "You receive an in-app notice and an email at 80% and at 100% of your weekly quota."),
    ("f36", "datasets", "conceptual", "What happens to notebooks when their dataset is deleted?",
     "Do notebooks keep working after a dataset they used is deleted?",
     "Notebooks that had the dataset attached keep their versions, but new sessions start without the mount."),
]  # fmt: skip


def demo_context(page: str, answer: str, limit: int = 1500) -> str:
    """The section of the demo page that shares most words with the answer, cut at `limit`
    characters (~400 tokens): a chunk as the chunker makes them (at most 512 tokens)."""
    import re

    from docs2qa.demo import demo_site_path

    text = (demo_site_path() / "docs" / f"{page}.md").read_text(encoding="utf-8")
    sections = [part for part in re.split(r"\n(?=## )", text) if part.strip()]
    wanted = set(re.findall(r"\w+", answer.lower()))
    best = max(sections, key=lambda part: len(wanted & set(re.findall(r"\w+", part.lower()))))
    return best[:limit]


def demo_fact_rows(split: str, count: int | None = None, *, fact_ids: bool = True) -> list[dict]:
    """Canonical rows of the demo facts: the train phrasing for 'train', the test one otherwise;
    the context is the page section the answer comes from."""
    rows = []
    for fact, page, qtype, train_q, test_q, answer in DEMO_FACTS[:count]:
        url = DEMO + page
        row = {
            "pair_id": f"{split}-{fact}",
            "question": train_q if split == "train" else test_q,
            "answer": answer,
            "context": demo_context(page, answer),
            "question_type": qtype,
            "page_id": page,
            "url": url,
            "anchor_url": url + "#x",
            "title": page,
            "heading_path": [page],
            "chunk_id": f"{page}-c",
            "generator_model": "hand-written",
            "min_judge_score": 4,
            "curation": "accepted",
        }
        rows.append(row | {"fact_id": fact if fact_ids else ""})
    return rows
