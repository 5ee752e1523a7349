"""Questions written from an answer span's own words, without the model, for spans whose shape
gives the question away: "To raise a quota, open ..." asks "How do I raise a quota?", "If a
restore fails, ..." asks "What happens if a restore fails?".

Read on the held-out sites, SmolLM2-135M's questions were the rejects, not its spans: broken
grammar ("What does Skerry bills for?"), the wrong noun ("What happens to a body of up to 10
KB?"), advice asked as steps. A template cannot do that for the shapes below, and costs no
tokens. A span of no such shape is asked of the model as before; a templated question still
passes every gate and question rule (keep/), and is asked again in other words by the model
when the run rephrases.
"""

from __future__ import annotations

import re

from docs2qa.generation.qa.answer_first import _IMPERATIVE, opening

# A noun phrase the question can repeat: a few words, no clause of its own.
_NP = r"(?:[\w`'’./-]+ ){0,5}?[\w`'’./-]+"
_DETERMINER = re.compile(r"^(?:the|a|an|your)\s", re.I)
# "Each step", "Every signing request": asked "What is each step?", a thing of no identity.
_QUANTIFIER = re.compile(r"^(?:each|every|any|all|some|most|many|both|either|neither|no|other|another)\s", re.I)
# A sentence opening with a clause or a phrase, not with its subject: "By default Larkspur
# uses ...", "As soon as a `PUT` returns ...", "Because the Owner is ...".
_NOT_A_SUBJECT = re.compile(
    r"^(?:because|since|although|though|while|unless|until|as|by|after|before|during|for|in|on|at|to|with|"
    r"without|from|of|once|when|if|whenever|where|then|so|also|only|even|just)\s",
    re.I,
)
# "To raise a quota, open Settings → Quotas ...": the purpose is the task.
_PURPOSE_FIRST = re.compile(r"^To (?P<task>[a-z][\w`'’-]* [^,;:]{2,80}), (?P<rest>\S)")
# A task, case or definition that points at something the span does not name: "To avoid this",
# "If it expires", "`--parallel` is an additional limit on top of those".
_POINTS_ELSEWHERE = re.compile(
    r"\b(?:it|its|this|these|those|they|them|their|there|one|ones|above|below|either|both|so|that way|here|"
    r"again|instead|as well|too|also)\b",
    re.I,
)
# Instructions answer_first's _IMPERATIVE does not list ("put them on a queue", "lower the level").
_ADVICE = re.compile(
    r"^(?:put|lower|raise|increase|reduce|shorten|clone|hash|sync|serve|read|write|keep|avoid|either|"
    r"let|leave|turn|switch|give|look|wait|see|do|don't|never|always|roll|clear|renew|cancel|verify|reinstall|"
    r"please|consider|immediately|reset|restore|install|ignore|fix|rebuild|refresh|regenerate|reconnect|rerun|"
    r"re-run|notify|tell|email|log in|sign in|you should|you must|you need to|you'll need to)\b",
    re.I,
)
# A definition may say "its own attempts"; not "an additional limit on top of those".
_POINTS_BACK = re.compile(r"\b(?:this|these|those|above|below|such)\b", re.I)
# A purpose too vague to ask: "To get started, ...", "To learn more, ...", "To be safe, ...".
_VAGUE_TASK = re.compile(r"^(?:get (?:started|going)|learn|find out|be |keep (?:things|it) |make sure|see\b)")
# The rest points at a page, not an answer: "If you get stuck, the Troubleshooting page covers ...".
_POINTS_AT_PAGE = re.compile(r"\b(?:page|guide|section|quickstart|tutorial|FAQ|docs|documentation|read)\b")
# "When a restore fails, ...": the case is what is asked about.
_CASE_FIRST = re.compile(r"^(?P<word>When|If|Once|Whenever) (?P<case>[^,;: ]+ [^,;:]{2,100}), (?P<rest>\S)")
# A condition with no subject of its own ("If not set, ...", "When running locally, ...",
# "If enabled in the config file, ...") names nothing a question could repeat.
_SUBJECTLESS = re.compile(
    r"^(?:(?:not|set|left|given|called|omitted|present|absent|empty|true|false|[a-z]+ed)\b|"
    # Not a gerund that is the subject ("When sending is blocked"), nor "nothing".
    r"(?!(?:nothing|something|anything|everything)\b)[a-z]+ing\b(?! (?:is|are|was|fails?|stops?|succeeds?)\b))"
)
# "Use service keys for anything that runs unattended": advice on when to use a thing.
_USE_WHEN = re.compile(rf"^Use (?P<thing>{_NP}) (?:when|for|if|whenever|in|on)\b")
# "A `PUT` body larger than 5 GiB is rejected with ...": what is done to a thing.
_DONE_TO = re.compile(
    rf"^(?P<thing>{_NP}) (?:is|are) (?:always |never |then |automatically |silently )?"
    r"(?:rejected|refused|retried|queued|skipped|dropped|deleted|removed|cancell?ed|ignored|truncated|"
    r"blocked|paused|suspended|revoked|disabled|expired|archived|replaced|overwritten|rolled back)\b"
)
# "A customer-managed key is a KEK ...", "Session keys are short-lived keys ...".
# Not a ranking ("Data residency is the other reason ...", "Safetensors is the recommended format
# because ..."): what the thing is for, not what it is.
_IS_A = re.compile(
    rf"^(?P<thing>{_NP}) is (?:an?|the(?! (?:other|right|best|simplest|easiest|recommended|preferred|only|same|"
    r"first|last|usual|main)\b))\s"
)
# A plural is defined by a plural ("Packages are Python libraries"), not described by an
# adjective ("New flags are temporary unless ..."),
# nor told what is done to it ("Limits are enforced as token buckets").
_ARE = re.compile(
    rf"^(?P<thing>{_NP}s) are (?![\w-]+ed (?:as|by|to|in|on|at|for|from|with|when|if|unless|only)\b)"
    r"(?:[\w-]+ ){0,2}(?!(?:unless|as|was|has|does|is|this|its|thus|always|perhaps|whereas|across|plus|less)\b)"
    r"[\w-]+s\b"
)
# "Skerry bills for three things: ...", "A bucket holds your objects ...": what a thing does.
_DOES = re.compile(
    rf"^(?P<thing>{_NP}) (?P<verb>holds|contains|lists|includes|stores|records|covers|manages|grants|sends|"
    r"accepts|returns|controls|decides|defines|shows|keeps|bills|charges|supports|tracks|measures|reads|"
    r"writes|needs|requires|checks|creates|replaces|removes|blocks|caches)\b"
    # A noun, not a verb: "The DNS records are ...".
    r"(?! (?:are|is|were|was|can|must|may|will|should|do|have|that|which)\b)"
    # What is billed for ("Skerry bills for three things"); "uses about 30%" is no particle.
    r"(?P<particle>(?<=bills|arges) for)?"
)
# An adverb between a subject and its verb: "The job always runs every 6 hours".
_ADVERB = r"(?:always|also|only|never|then|now|still|usually|often|automatically|normally)"
# "Expired snapshots are kept in a recoverable state for 72 hours.": how long a thing stays so.
_KEPT_FOR = re.compile(
    rf"^(?P<thing>{_NP}) (?P<be>is|are) (?P<state>kept|retained|stored|held|valid|supported|cached|available)\b"
    r"[^.;:,]{0,60}?\bfor (?:up to |at most |at least |about )?\d"
)
# "Invitations expire after 14 days.": when a thing ends.
_EXPIRES_AFTER = re.compile(rf"^(?P<thing>{_NP}) (?P<verb>expires?) (?:after|within) ")
# "The agent sends a heartbeat every 30 seconds.": how often a thing does something.
_EVERY = re.compile(
    rf"^(?P<thing>{_NP}) (?:{_ADVERB} )?(?!(?:is|was|has|does|{_ADVERB})\b)(?P<verb>[a-z]+s)\b"
    r"(?P<what>[^.;:,]{0,60}?) every (?:\d|hour|day|week|month|minute)"
)
# A statement with its reason ("Newsletters are not allowed on the shared pools, because ...") or
# a reason with its consequence ("Roles are per workspace, so the same person can be ..."): the
# statement, its auxiliary put first, is what "Why" asks.
_AUX = (
    r"(?P<aux>is not|are not|is|are|can(?:not| not)?|can't|must not|must|should not|should|will not|will|"
    r"won't|isn't|aren't|do not|does not|don't|doesn't)"
)
# Not "so that": a purpose ("..., so that you can run commands outside ..."), not a consequence.
_BECAUSE = re.compile(rf"^(?P<thing>{_NP}) {_AUX} (?P<rest>[^,;:]{{3,100}}?),? (?:because|since) ")
_SO = re.compile(
    rf"^[^;:]{{3,150}}?, so (?!that\b)(?P<thing>{_NP}) {_AUX} (?P<rest>[^,;:]{{3,100}}?)(?=[,;:]|\.(?:\s|$)|$)"
)
# A statement of two clauses ("`90s` is valid and `30s` is not") asks two things.
_TWO_CLAUSES = re.compile(r"\b(?:and|or|but)\b.*\b(?:is|are|can|will|does|do)\b")
# The auxiliary a "Why" question puts first: "cannot" asks "Why can't ...", "is not" "Why isn't ...".
_AUX_FIRST = {
    "cannot": "can't", "can not": "can't", "is not": "isn't", "are not": "aren't", "must not": "mustn't",
    "should not": "shouldn't", "will not": "won't", "do not": "don't", "does not": "doesn't",
}  # fmt: skip
# A subject that is itself a clause or a pointer, not a thing: "What it stores ...", "This key ...".
_NOT_A_THING = re.compile(
    r"(?:^|\s)(?:this|that|these|those|it|they|its|their|there|here|which|who|what|when|if|and|or|but|"
    r"is|are|was|were|be|can|must|may|will|should|does|do|not|no|only|because)(?:\s|$)",
    re.I,
)
_YOU = re.compile(r"\b(?:you are|you were|you're|you've|you|your|yours|yourself)\b", re.I)
_AS_ME = {
    "you are": "I am", "you were": "I was", "you're": "I'm", "you've": "I've",
    "your": "my", "yours": "mine", "yourself": "myself",
}  # fmt: skip
# After a preposition or a verb that takes a person, "you" is the object (me); else the subject
# (I), as after a noun: "the value you expect".
_OBJECT_AFTER = re.compile(
    r"\b(?:to|for|with|from|at|by|of|about|asks|lets|sends|gives|tells|shows|allows|emails|notifies|charges|"
    r"bills|invites|mentions|contacts|removes|blocks|wants|reminds|prompts|redirects|warns|signs)\s+$",
    re.I,
)


def _as_asker(text: str) -> str:
    """The user's words as the asker says them: "you" -> "I"/"me", "your" -> "my"."""

    def swap(match: re.Match) -> str:
        words = match.group(0).lower()
        if words != "you":
            return _AS_ME[words]
        return "me" if _OBJECT_AFTER.search(text[: match.start()]) else "I"

    return _YOU.sub(swap, text)


def _thing(words: str, title: str) -> str | None:
    """The noun phrase `words` as a question repeats it, or None when it is no thing to ask
    about (a clause, a pointer, a lone common noun with no determiner)."""
    words = words.strip()
    if _NOT_A_THING.search(words) or _NOT_A_SUBJECT.match(words) or _QUANTIFIER.match(words) or len(words) < 2:
        return None
    first, _, rest = words.partition(" ")
    if _DETERMINER.match(words):
        # "The job", "the body": a lone common noun is the page's, not one a reader can name
        # ("A job" is any job).
        if first.lower() in ("the", "your") and " " not in rest and not re.search(r"[`A-Z]", rest):
            return None
        return first.lower() + " " + rest
    if not rest and first[0].isupper() and first.endswith("s") and not re.search(rf"\b{re.escape(first)}\b", title):
        return first.lower()  # "Logs are kept ...": a common noun opening the sentence
    if first[0] == "`" or any(c.isupper() for c in first[1:]) or not rest:
        return words  # `skerry`, S3, Tidewell: as written
    if first[0].isupper():
        # A name keeps its capital ("Corvid Hub", a word of the page title); a common noun
        # opening the sentence loses it ("Session keys are ...").
        named = re.match(r"`|[A-Z][a-z]", rest) or re.search(rf"\b{re.escape(first)}\b", title)
        return words if named else first.lower() + " " + rest
    return words


def _does_things(thing: str, title: str) -> bool:
    """Whether `thing` can be the subject of "does": with no determiner, only a name can, one the
    page title names or a code token. Not "Backups need ...", "Reading needs ...", nor "Synced"
    of "Synced segments refresh ..." (read as a name and a verb)."""
    if _DETERMINER.match(thing) or thing.startswith("`"):
        return True
    return " " not in thing and re.search(rf"\b{re.escape(thing)}\b", title) is not None and not thing.endswith("s")


def _base(verb: str) -> str:
    """The verb after "does": "bills" -> "bill", "catches" -> "catch", "applies" -> "apply"."""
    irregular = {"caches": "cache", "does": "do", "goes": "go", "has": "have"}
    if verb in irregular:
        return irregular[verb]
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if re.search(r"(?:ss|sh|ch|x|z)es$", verb):
        return verb[:-2]
    return verb[:-1]


def _how_long(prose: str, title: str) -> str | None:
    kept = _KEPT_FOR.match(prose)
    if kept:
        thing = _thing(kept["thing"], title)
        return f"How long {kept['be']} {_as_asker(thing)} {kept['state']}?" if thing else None
    expires = _EXPIRES_AFTER.match(prose)
    if expires:
        thing = _thing(expires["thing"], title)
        does = "does" if expires["verb"] == "expires" else "do"
        return f"When {does} {_as_asker(thing)} expire?" if thing else None
    every = _EVERY.match(prose)
    thing = _thing(every["thing"], title) if every else None
    if every is None or thing is None or not _does_things(thing, title):
        return None
    return f"How often does {_as_asker(thing)} {_base(every['verb'])}{_as_asker(every['what'])}?"


def _why(prose: str, title: str) -> str | None:
    said = _BECAUSE.match(prose) or _SO.match(prose)
    thing = _thing(said["thing"], title) if said else None
    if said is None or thing is None or _POINTS_ELSEWHERE.search(said["rest"]) or _TWO_CLAUSES.search(said["rest"]):
        return None
    if thing.lower() in ("you", "i", "we"):
        return None  # "..., so you can check the draft first": what the reader may do, not a fact
    aux = said["aux"].lower()
    aux = _AUX_FIRST.get(aux, aux)
    return f"Why {aux} {_as_asker(thing)} {_as_asker(said['rest'])}?"


def question_for(answer: str, stem: str, title: str = "") -> str | None:
    """The question `answer` asks by its shape, for the opening answer_first.opening chose
    (`stem`), or None when its shape gives none away and the model writes it."""
    prose = answer.strip()
    if "\n" in prose or not prose:
        return None  # a snippet or a list: the model says what it is for
    if stem == "How do I":
        purpose = _PURPOSE_FIRST.match(prose)
        if purpose is None or _POINTS_ELSEWHERE.search(purpose["task"]) or _VAGUE_TASK.match(purpose["task"]):
            return None
        if _POINTS_AT_PAGE.search(prose[purpose.start("rest") :]):
            return None  # "To get going, read the quickstart.": a pointer, not the steps
        return f"How do I {_as_asker(purpose['task'])}?"
    if stem == "How long":
        return _how_long(prose, title)
    if stem == "Why":
        return _why(prose, title)
    if stem == "When should I":
        use = _USE_WHEN.match(prose)
        thing = _thing(use["thing"], title) if use else None
        return f"When should I use {_as_asker(thing)}?" if thing else None
    if stem in ("What happens", "What"):
        done = _DONE_TO.match(prose)
        thing = _thing(done["thing"], title) if done else None
        if thing and not _POINTS_ELSEWHERE.search(thing):
            return f"What happens to {_as_asker(thing)}?"
    if stem == "What happens":
        case = _CASE_FIRST.match(prose)
        if case:
            rest = prose[case.start("rest") :]
            if (
                _POINTS_ELSEWHERE.search(case["case"])
                or _POINTS_AT_PAGE.search(rest)
                or _SUBJECTLESS.match(case["case"])
            ):
                return None
            # "If a server key has leaked, rotate it now.": what to do, not what follows.
            asked = "What should I do" if _IMPERATIVE.match(rest) or _ADVICE.match(rest) else "What happens"
            return f"{asked} {case['word'].lower()} {_as_asker(case['case'])}?"
        return None
    if stem == "What is":
        if _POINTS_BACK.search(prose):
            return None
        copula = _IS_A.match(prose)
        if copula:
            thing = _thing(copula["thing"], title)
            return f"What is {_as_asker(thing)}?" if thing else None
        plural = _ARE.match(prose)
        thing = _thing(plural["thing"], title) if plural else None
        return f"What are {_as_asker(thing)}?" if thing else None
    if stem == "What":
        does = _DOES.match(prose)
        thing = _thing(does["thing"], title) if does else None
        if does is None or thing is None:
            return None
        if not _does_things(thing, title):
            return None
        return f"What does {_as_asker(thing)} {_base(does['verb'])}{does['particle'] or ''}?"
    return None


def template_question(answer: str, question_type: str, title: str) -> str | None:
    """The question of `answer`, picked for `question_type` on the page `title`, when its shape
    gives it away (question_for); None when the model writes it."""
    return question_for(answer, opening(answer, question_type), title)


def fitting_question(answer: str, question_type: str, title: str, heading_path: list[str]) -> str | None:
    """The template's question of `answer` when the question rules (keep/off_target.py) pass it,
    else None and the model is asked: a templated question the rules drop would leave its fact
    with none. Asked once per unit when it is planned (generate.plan_units: Unit.templated),
    which its key, the step (steps.QuestionUnits) and the dry run read."""
    from docs2qa.generation.qa.keep.off_target import question_problem

    question = template_question(answer, question_type, title)
    if question is None or question_problem(question, answer, title, heading_path) is not None:
        return None
    return question
