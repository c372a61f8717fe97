"""Text features the consensus ranker is built from, standard library only.

Everything here works on *distinct* content (distinct sentences, a set of terms), so saying the same
thing twice adds nothing, and generic politeness ("I hope this helps") is treated as stop words.
Terms are folded (plural/tense) for matching, but each keeps the word people wrote, for display.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n")

# Function words plus the vocabulary of generic filler and sign-offs: neither is substance.
STOP = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been before
    being below between both but by can cannot could couldn did didn do does doesn doing don down
    during each either etc even ever every few for from further get gets got had hadn has hasn have
    haven having he her here hers herself him himself his how however i if in into is isn it its
    itself just let ll me might more most much must mustn my myself need no nor not now of off often
    on once one only or other our ours ourselves out over own re really same shall she should
    shouldn so some such than that the their theirs them themselves then there these they this
    those through thus to too under until up upon us ve very via was wasn we well were weren what
    when where which while who whom whose why will with within without won would wouldn yes yet
    you your yours yourself yourselves s t d m o y
    sure certainly absolutely okay ok hello hi hey dear thanks thank thankyou please welcome glad
    happy hope hoping helps help helpful useful assist assistance questions question ask asking feel
    free know anything else further clarification clarify unclear great good nice wonderful luck
    best regards sincerely cheers enjoy appreciate appreciated wish wishes remember note overall
    conclusion summary summarize basically simply actually indeed course matter fact things thing
    something stuff way ways lot lots many various several kind kinds sort type types like just
    hopefully additional additionally furthermore moreover important importantly let's
    believe think guess probably maybe perhaps
    """.split()
)

# Talk about the answering itself: how carefully it was made, how good it is, the steps taken. A
# claim about the answer is no evidence about the question, so a sentence made only of these words
# (and stop words) carries no substance: "I approached this carefully and double-checked every step".
# The words still count as terms (a maths answer's "step 2" keeps its numbers and its other words).
SELF_TALK = frozenset(
    """
    approach approached approaching careful carefully care cared caring check checked checking double
    recheck rechecked verify verified verifying review reviewed reviewing revisit revisited consider
    considered considering consideration reason reasoned reasoning reasonable logic logical logically
    step thought thoughtful thoughtfully thinking think thought attention attentive attentively effort
    efforts diligent diligently thorough thoroughly rigorous rigorously precise precisely accurate
    accurately accuracy correct correctly correctness clarity clear clearly complete completely
    completeness comprehensive comprehensively balanced balance honest honestly objective objectively
    fair fairly sound solid reliable reliably consistent consistently coherent coherently carefully
    response responses answer answered answering explanation explanations explain explained explaining
    reply replies solution solutions work worked working process made make making making sure ensure
    ensured ensuring took take taking taken tried try trying aim aimed aiming strive strived goal
    angle angles perspective perspectives aspect aspects point points part parts piece whole entire
    matter topic issue subject detail details detailed start finish end beginning follow follows
    followed following easy easier simple understand understandable understood read reading readable
    reflect reflects reflected look looked looking keep kept keeping settle settled settling put
    every each last previous next first final overall full fully best better quality high highest
    possible possibly confident confidence sure certain certainly truly genuinely really
    """.split()
)

_REFUSAL = re.compile(
    r"\b(?:i(?:'m| am) (?:not (?:able|trained|programmed|designed|capable)|unable|sorry, but)"
    r"|i (?:can(?:no|')t|do not|don't) (?:help|assist|provide|answer|do that|have (?:access|the ability))"
    r"|as an ai(?: language model)?|i(?:'m| am) (?:just )?an? (?:ai|language model))",
    re.IGNORECASE,
)
_PIVOT = re.compile(r"\b(?:however|but (?:i|here|we)|that said|here(?:'s| is| are)|nevertheless)\b", re.I)


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude plural/tense folding: 'answers' and 'answer' are the same content unit."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _informative(raw: str) -> bool:
    low = raw.lower()
    return low not in STOP and (len(low) > 1 or low.isdigit())


def terms(text: str) -> list[str]:
    """Informative terms in order: lower-cased, folded, stop words and filler dropped."""
    return [stem(raw.lower()) for raw in _WORD.findall(text) if _informative(raw)]


@dataclass(frozen=True, slots=True)
class Text:
    """What the ranker needs of one answer, computed in one pass."""

    terms: frozenset[str]  # distinct folded terms
    surface: dict[str, str]  # folded term -> the word as first written in this answer
    chars: int  # characters of distinct sentences with an informative term that is not self-talk
    refusal: bool


def analyse_text(text: str) -> Text:
    seen: set[str] = set()
    surface: dict[str, str] = {}
    chars = 0
    for piece in _SENTENCE.split(text):
        found = False
        for raw in _WORD.findall(piece):
            if _informative(raw):
                found = found or raw.lower() not in SELF_TALK
                key = stem(raw.lower())
                if surface.setdefault(key, raw) != raw and raw.islower():
                    surface[key] = raw  # "Prioritise" opening a sentence is still the word "prioritise"
        sentence = piece.strip()
        if found and sentence not in seen:
            seen.add(sentence)
            chars += len(sentence)
    return Text(frozenset(surface), surface, chars, is_refusal(text))


def is_refusal(text: str) -> bool:
    """Declines near the start and never pivots to an answer ("As an AI…, however, …" is fine)."""
    found = _REFUSAL.search(text[:300])
    return found is not None and not _PIVOT.search(text[found.end() : found.end() + 300])


def common_surface(term: str, texts: list[Text]) -> str:
    """The form most answers wrote a folded term in ("Paris", never a fold); lower case if anyone used it."""
    forms = Counter(t.surface[term] for t in texts if term in t.surface)
    lower = Counter({form: c for form, c in forms.items() if form.islower()})
    return min((lower or forms).items(), key=lambda kv: (-kv[1], kv[0]))[0] if forms else term
