"""Answer metrics: ROUGE-L, SQuAD token F1, yes/no exact match, embedding cosine, and the
measures that keep them honest: ROUGE-L at the gold answer's length, answer length, echo.

ROUGE-L and F1 are written here (a few lines each) rather than pulled in as dependencies;
they follow rouge_score (no stemming) and the SQuAD v1.1 evaluation script exactly.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from docs2qa.wording import lcs_length, rouge_l, rouge_tokens  # noqa: F401  (rouge_l: scored as metrics.rouge_l)

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)
# true/false answers are the same polarity as yes/no: "Is X on by default?" -> "True, ..." is right.
_POLARITY = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}


def rouge_l_at_gold_length(prediction: str, reference: str) -> float:
    """ROUGE-L recall of the prediction's first |reference| tokens, in [0, 1].

    Neither length games it: ROUGE-L F rises for answers as short as a short gold answer
    (precision), and recall rises for long answers that say everything. Cut at the gold
    length, padding gains nothing (the extra tokens are cut off) and a short answer can
    cover at most len(prediction)/len(reference) of the gold answer.
    """
    pred, ref = rouge_tokens(prediction), rouge_tokens(reference)
    if not pred or not ref:
        return 0.0
    return lcs_length(pred[: len(ref)], ref) / len(ref)


def words(text: str) -> int:
    return len(rouge_tokens(text))


# Words that a restatement may add without saying anything new.
_FUNCTION_WORDS = {
    "a",
    "an",
    "the",
    "is",
    "are",
    "it",
    "its",
    "of",
    "to",
    "in",
    "on",
    "and",
    "or",
    "this",
    "that",
    "be",
    "by",
    "for",
    "with",
    "you",
    "your",
    "can",
    "s",
}


def echoes_question(prediction: str, question: str) -> bool:
    """The answer restates its question: it holds most of the question in order (LCS covers
    >= 60% of the question's tokens) and adds at most one content word of its own.
    "Yes." or "Yes, it does" to "Does it crawl?" is an answer, not an echo."""
    pred, asked = rouge_tokens(prediction), rouge_tokens(question)
    if not pred or not asked:
        return False
    new = {t for t in pred if t not in asked and t not in _FUNCTION_WORDS}
    return lcs_length(pred, asked) >= 0.6 * len(asked) and len(new) <= 1


def squad_normalize(text: str) -> str:
    """SQuAD v1.1: lowercase, drop punctuation and articles, squeeze whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1: overlap of normalized token bags, in [0, 1]."""
    pred, ref = squad_normalize(prediction).split(), squad_normalize(reference).split()
    if not pred or not ref:
        # SQuAD's rule: two empty answers agree, one empty answer scores nothing.
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def polarity(text: str) -> str | None:
    """'yes' or 'no' from an answer's first word (yes/no/true/false), else None."""
    words = squad_normalize(text).split()
    return _POLARITY.get(words[0]) if words else None


def exact_match(prediction: str, reference: str, question_type: str) -> float | None:
    """1/0 for yes/no questions, None (not applicable) for others.

    A question counts as yes/no when its type says so or its gold answer starts with
    yes/no/true/false. Then the first words' polarities are compared; a yes_no question
    whose gold answer has no polarity word falls back to normalized full-text equality.
    """
    gold = polarity(reference)
    if gold is None and question_type != "yes_no":
        return None
    if gold is None:
        return float(squad_normalize(prediction) == squad_normalize(reference))
    return float(polarity(prediction) == gold)


class EmbeddingScorer:
    """Cosine similarity of answers under a sentence-transformers model, loaded once."""

    def __init__(self, model: str):
        import sentence_transformers

        from docs2qa.models.embedded import resolve_model

        self.model_id = model
        self._model = sentence_transformers.SentenceTransformer(resolve_model(model))

    def cosine(self, predictions: list[str], references: list[str]) -> list[float]:
        if not predictions:
            return []
        pred, ref = self._encode(predictions), self._encode(references)
        return [float(value) for value in (pred * ref).sum(axis=1)]

    def _encode(self, texts: list[str]):
        # Unit vectors: the row-wise dot product is the cosine.
        return self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
