"""How much two texts share their words, in order: ROUGE-L over lowercase word tokens.

The eval scores answers with it (finetune/evaluate/metrics.py); generation's dedup and export's
leakage check use it to tell a near-copy of a question from the same question in other words,
which sentence embeddings cannot: MiniLM puts "How do I create a new token?" and "What are the
steps to create a new token?" at cosine 0.94 and "How do I stream the logs?" beside "How do I
stream logs?" at 0.98, while their ROUGE-L is 0.5 and 0.91.
"""

from __future__ import annotations

import re

_NON_ALNUM = re.compile(r"[^a-z0-9]+")

# ROUGE-L at or above which two questions are one question with trivial edits (a word added or
# changed, another auxiliary), below which they ask in other words. Measured on pennant
# questions read by hand: near-copies 0.75-1.0 ("What happens when the health check passes?" /
# "What happens to an app when health check passes?" is the lowest), rewordings 0.43-0.73
# ("What does a personal token do?" of "What is a personal token?" the highest).
NEAR_COPY = 0.75


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's default tokenizer: lowercase, runs of non-alphanumerics split."""
    return _NON_ALNUM.sub(" ", text.lower()).split()


def lcs_length(a: list[str], b: list[str]) -> int:
    # One row of the dynamic-programming table at a time: answers can be long.
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (LCS-based) of prediction against reference, in [0, 1]."""
    pred, ref = rouge_tokens(prediction), rouge_tokens(reference)
    if not pred or not ref:
        return 0.0
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)
