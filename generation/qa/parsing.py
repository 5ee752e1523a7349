"""Strict parsers for what the generator and the judge write.

Strict means: a reply either yields complete, well-typed records or a `ParseError` that
says what is wrong (the caller keeps the raw text and may re-ask). The only tolerance is
for decoration small models add around the labels: whitespace, list numbering, bullets and
bold/heading markers ("1. **Q:** ..."). Text before the first label and after a blank
line that follows the last field is chatter and is ignored.
"""

from __future__ import annotations

import json
import re

from docs2qa.generation.qa.prompts import SCORE_NAMES, VERDICTS


class ParseError(ValueError):
    pass


# Optional decoration, then LABEL (optionally numbered, e.g. "Q1"), optional closing bold,
# a colon, optional closing bold, then the value.
_DECOR = r"^\s*(?:[-*+>]\s+|#{1,6}\s+|\(?\d{1,3}[.)]\s*)*(?:\*\*|__)?\s*"
_LABEL_TAIL = r"\s*\d{0,3}\s*(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*(?P<value>.*?)\s*$"


def _label_re(labels: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(sorted((re.escape(lbl) for lbl in labels), key=len, reverse=True))
    return re.compile(_DECOR + rf"(?P<label>{alternatives})" + _LABEL_TAIL, re.IGNORECASE)


_PAIR_LABELS = ("Q", "A", "EVIDENCE")
_PAIR_RE = _label_re(_PAIR_LABELS)
_CRITIQUE_LABELS = ("GROUNDED", "CORRECT", "USEFUL", "STANDALONE", "VERDICT", "REVISED", "RATIONALE")
_CRITIQUE_RE = _label_re(_CRITIQUE_LABELS)
_EMPTY_MARKERS = {"", "-", "—", "none", "n/a", '""', "''", "(none)", "(empty)"}


def _fields(text: str, pattern: re.Pattern) -> list[tuple[str, str]]:
    """(LABEL, value) in order. A value continues on following unlabelled lines until a
    blank line; unlabelled text elsewhere is chatter."""
    fields: list[list[str]] = []
    open_field = False
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            fields.append([match["label"].upper(), _strip_wrapping(match["value"])])
            open_field = True
        elif not line.strip():
            open_field = False
        elif open_field:
            fields[-1][1] = f"{fields[-1][1]}\n{_strip_wrapping(line.strip())}".strip()
    return [(label, value.strip()) for label, value in fields]


def _strip_wrapping(value: str) -> str:
    # Closing bold/italic left after the value ("**Q:** text**") carries no content.
    return re.sub(r"(?:\*\*|__)\s*$", "", value).strip()


def _empty(value: str) -> str:
    return "" if value.strip().lower() in _EMPTY_MARKERS else value


def parse_pairs_lines(text: str) -> list[dict]:
    """Q:/A:/EVIDENCE: blocks -> [{"question", "answer", "evidence"}]; evidence may be ''."""
    if text is None or not text.strip():
        raise ParseError("empty reply")
    fields = _fields(text, _PAIR_RE)
    if not fields:
        raise ParseError("no 'Q:' / 'A:' / 'EVIDENCE:' lines found")
    pairs: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    expected = {"Q": "question", "A": "answer", "EVIDENCE": "evidence"}
    for label, value in fields:
        if label == "Q":
            if current is not None:
                _finish_pair(current, len(pairs) + 1)
                pairs.append(current)
            current = {"question": value}
            continue
        if current is None:
            raise ParseError(f"'{label}:' appears before any 'Q:'")
        key = expected[label]
        if key in current:
            raise ParseError(f"pair {len(pairs) + 1} has two '{label}:' lines")
        if label == "EVIDENCE" and "answer" not in current:
            raise ParseError(f"pair {len(pairs) + 1} has 'EVIDENCE:' before 'A:'")
        current[key] = value
    assert current is not None  # fields is non-empty and its first label was checked above
    _finish_pair(current, len(pairs) + 1)
    pairs.append(current)
    return [{"question": p["question"], "answer": p["answer"], "evidence": _empty(p["evidence"])} for p in pairs]


def _finish_pair(pair: dict, number: int) -> None:
    missing = [label for label, key in (("A", "answer"), ("EVIDENCE", "evidence")) if key not in pair]
    if missing:
        raise ParseError(f"pair {number} lacks {', '.join(m + ':' for m in missing)}")
    for label, key in (("Q", "question"), ("A", "answer")):
        if not pair[key].strip():
            raise ParseError(f"pair {number} has an empty '{label}:'")


_FENCE_RE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n(.*?)\n?```", re.DOTALL | re.IGNORECASE)


def _load_json_object(text: str) -> dict:
    if text is None or not text.strip():
        raise ParseError("empty reply")
    stripped = text.strip()
    if not stripped.startswith("{"):
        fences = _FENCE_RE.findall(stripped)
        if len(fences) != 1:
            raise ParseError(
                "the reply is neither a JSON object nor one ```json block"
                if not fences
                else f"the reply holds {len(fences)} ```json blocks, expected one"
            )
        stripped = fences[0].strip()
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(value, dict):
        raise ParseError(f"expected a JSON object, got {type(value).__name__}")
    return value


def parse_pairs_json(text: str) -> list[dict]:
    """{"pairs": [{"question", "answer", "evidence"}]}, bare or in one ```json fence."""
    value = _load_json_object(text)
    if set(value) != {"pairs"}:
        raise ParseError(f"expected exactly the key 'pairs', got {sorted(value)}")
    items = value["pairs"]
    if not isinstance(items, list) or not items:
        raise ParseError("'pairs' must be a non-empty list")
    pairs = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ParseError(f"pair {number} is not an object")
        keys = set(item)
        if keys != {"question", "answer", "evidence"}:
            raise ParseError(f"pair {number} must have exactly question, answer, evidence; got {sorted(keys)}")
        if not all(isinstance(item[k], str) for k in keys):
            raise ParseError(f"pair {number}: question, answer and evidence must be strings")
        question, answer = item["question"].strip(), item["answer"].strip()
        if not question or not answer:
            raise ParseError(f"pair {number} has an empty {'question' if not question else 'answer'}")
        pairs.append({"question": question, "answer": answer, "evidence": item["evidence"].strip()})
    return pairs


def parse_pairs(text: str, fmt: str) -> list[dict]:
    return parse_pairs_lines(text) if fmt == "lines" else parse_pairs_json(text)


# ---------------------------------------------------------------- judge

_SCORE_RE = re.compile(r"^([1-5])(?:\s*/\s*5)?\.?$")


def _score(name: str, value) -> int:
    if isinstance(value, bool):
        raise ParseError(f"{name} must be an integer 1-5, got {value!r}")
    if isinstance(value, int):
        if 1 <= value <= 5:
            return value
        raise ParseError(f"{name} must be an integer 1-5, got {value}")
    match = _SCORE_RE.match(str(value).strip())
    if not match:
        raise ParseError(f"{name} must be an integer 1-5, got {str(value)[:20]!r}")
    return int(match[1])


def _verdict(value) -> str:
    verdict = str(value).strip().strip(".").strip("*").strip().lower()
    if verdict not in VERDICTS:
        raise ParseError(f"verdict must be keep, revise or drop, got {str(value)[:20]!r}")
    return verdict


def _critique(scores: dict, verdict, revised, rationale) -> dict:
    verdict = _verdict(verdict)
    revised = _empty(str(revised or "")).strip()
    if verdict == "revise" and not revised:
        raise ParseError("verdict is revise but no revised answer is given")
    rationale = str(rationale or "").strip()
    if not rationale:
        raise ParseError("the rationale is missing")
    return {
        "scores": {name: _score(name, scores[name]) for name in SCORE_NAMES},
        "verdict": verdict,
        "revised_answer": revised if verdict == "revise" else "",
        "rationale": " ".join(rationale.split()),
    }


def parse_critique_lines(text: str) -> dict:
    """GROUNDED/CORRECT/USEFUL/STANDALONE/VERDICT/REVISED/RATIONALE lines -> critique dict."""
    if text is None or not text.strip():
        raise ParseError("empty reply")
    found: dict[str, str] = {}
    for label, value in _fields(text, _CRITIQUE_RE):
        if label in found:
            raise ParseError(f"'{label}:' appears twice")
        found[label] = value
    required = [lbl for lbl in _CRITIQUE_LABELS if lbl != "REVISED"]
    missing = [lbl for lbl in required if lbl not in found]
    if missing:
        raise ParseError(f"missing {', '.join(m + ':' for m in missing)}")
    scores = {name: found[name.upper()] for name in SCORE_NAMES}
    return _critique(scores, found["VERDICT"], found.get("REVISED", ""), found["RATIONALE"])


def parse_critique_json(text: str) -> dict:
    value = _load_json_object(text)
    allowed = {*SCORE_NAMES, "verdict", "revised_answer", "rationale"}
    unknown = set(value) - allowed
    missing = {*SCORE_NAMES, "verdict", "rationale"} - set(value)
    if unknown or missing:
        raise ParseError(f"critique keys wrong: missing {sorted(missing)}, unknown {sorted(unknown)}")
    revised = value.get("revised_answer") or ""
    if not isinstance(revised, str) or not isinstance(value["rationale"], str):
        raise ParseError("revised_answer and rationale must be strings")
    return _critique({n: value[n] for n in SCORE_NAMES}, value["verdict"], revised, value["rationale"])


def parse_critique(text: str, fmt: str) -> dict:
    return parse_critique_lines(text) if fmt == "lines" else parse_critique_json(text)
