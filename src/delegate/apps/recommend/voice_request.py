"""What a customer's request says, for the brand-voice lines of the recommender's answer.

:func:`customer_text` is the request as the model sees it (without money, which a small model
repeats); :func:`activity` and :func:`need` pick out what the customer is doing and what they
ask for, in the request's own words, for the stand-in lines and the advice of a second request
(see :mod:`delegate.apps.recommend.voice`).
"""

from __future__ import annotations

import re

from .catalog import tokenize

__all__ = ["GENERIC_WORDS", "activity", "customer_text", "need"]

# Words of a request that say nothing about what the customer is doing (beside stop words).
GENERIC_WORDS = frozenset(tokenize(
    "need want wanting looking look something anything everything nothing ideally keep wear make "
    "go get let use still also around away bit like enough less more max budget cheap please "
    "really good great nice thing stuff long day pair lot sell buy recommend suggest find show "
    "help"
))


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_MONEY = re.compile(
    r"[,;]?\s*(?:\b(?:for\s+)?(?:under|below|less than|no more than|not more than|nothing over"
    r"|at most|up to|max(?:imum)?|around|about|(?:my\s+)?budget(?:\s+is|\s+of)?)\s+)?"
    r"[$€£]\s?\d[\d,]*(?:\.\d+)?(?:\s*(?:max|tops|or less|a pair|each)\b)?",
    re.IGNORECASE,
)
_CHEAP = re.compile(r"\b(?:cheap|inexpensive|affordable|budget)\b\s*", re.IGNORECASE)
_ACTIVITIES = _word_set(
    "hike hikes hiking trip trips travel travels traveling travelling flight flights ride rides "
    "riding biking cycling run runs running fishing swim swimming camp camping climb climbing ski "
    "skiing commute commutes commuting gym backpacking trek treks trekking walk walks walking "
    "boat boating dinner town office paddling kayaking surfing lake river beach desert trail plane "
    "airport evenings sunset weekend workout workouts yoga touring scrambling wedding campfire "
    "epics"
)
_MODIFIERS = _word_set(
    "rainy winter summer spring fall autumn mountain trail long hot humid fly cold breezy chilly "
    "cool desert fishing backpacking bike city sunny warm wet day road gravel weekend hut-to-hut "
    "all-day multi-day"
)
_DETERMINERS = {"a": "a", "an": "an", "the": "the", "my": "your", "our": "your"}


def customer_text(query: str) -> str:
    """The request as the model sees it: without money ("under $30", "budget is $70") or
    "cheap", which a small model repeats and the checks then reject (the ceiling is applied by
    the matching, and the prices come from the catalog)."""
    text = _CHEAP.sub("", _MONEY.sub("", query))
    return " ".join(text.split()).strip(" ,;") or query


def activity(query: str) -> str:
    """What the customer is doing, as a short phrase of the request ("rainy hikes", "a long
    flight", "trail riding"), or ``""`` when no activity word occurs."""
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]*", customer_text(query))]
    for i, word in enumerate(words):
        if word in _ACTIVITIES or (word in _MODIFIERS and words[i + 1:i + 2]
                                   and words[i + 1] in _ACTIVITIES):
            start = i
            while start > 0 and words[start - 1] in _MODIFIERS and i - start < 2:
                start -= 1
            end = i + 1
            while end < len(words) and words[end] in _ACTIVITIES and end - i < 3:
                end += 1
            phrase = words[start:end]
            if start > 0 and words[start - 1] in _DETERMINERS:
                phrase.insert(0, _DETERMINERS[words[start - 1]])
            return " ".join(phrase)
    return ""


def need(query: str) -> str:
    """What the customer asks for, as the first run of content words of the request ("relaxed
    fit pants", "graphic tee"), or ``""``."""
    for clause in re.split(r"[,.;:!?()]", customer_text(query)):
        run: list[str] = []
        for word in re.findall(r"[A-Za-z][A-Za-z'-]*", clause):
            terms = tokenize(word)
            if terms and terms[0] not in GENERIC_WORDS and not terms[0].isdigit():
                run.append(word.lower())
                if len(run) == 3:
                    break
            elif run:
                break
        if run:
            return " ".join(run)
    return ""
