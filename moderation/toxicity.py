"""Toxicity signals: a profanity model over the whole batch plus a lexicon of insults aimed at people.

Signals (all 0..1, one per text):
- `profanity`: alt-profanity-check's `predict_prob` (a linear model over words), raised to at
  least 0.9 when masked profanity ("f***ing", "sh*t") appears, which the model cannot see.
- `insult`: an insult or threat aimed at a person ("you idiot", "you are pathetic", "kill
  yourself"): 1.0 for second-person insults and threats, 0.6 for insulting names with no
  clear target ("what a bunch of morons").
- `mockery`: derision without swearing, the mark of a polite troll ("nobody asked", "cry
  more", "imagine buying from these clowns"): 0.5 per cue, capped at 1.0.
- `toxicity`: the headline score, `max(calibrated profanity, insult, 0.6 * mockery)`. The
  calibration `p ** k` maps the model's probability so that `PROFANITY_MIDPOINT` lands on 0.5,
  keeping 0.5 as the offensive/not-offensive line (tuned on OLID dev data).
Profanity alone never makes a troll: that judgement belongs to the classifier, which looks at
`insult`, `mockery` and the complaint signals, not at `toxicity`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from profanity_check import predict_prob

PROFANITY_MIDPOINT = 0.2
_EXPONENT = math.log(0.5) / math.log(PROFANITY_MIDPOINT)

_YOU = r"(?:you|u|ya|yall|y'all|you guys|ur|your|you're|youre|you are|u r|ur a|you r)"
_INSULT_NOUNS = (
    r"idiots?|morons?|imbeciles?|losers?|clowns?|fools?|dumbass(?:es)?|dipshits?|scumbags?|"
    r"retards?|halfwits?|cretins?|buffoons?|jokes?|trash|garbage|scum|pigs?|rats?|snakes?|"
    r"frauds?|liars?|hypocrites?|cowards?|parasites?|degenerates?|pieces? of (?:shit|crap|garbage|trash)|"
    r"waste of (?:space|oxygen|air)|bitch(?:es)?|cunts?|twats?|dickheads?|assholes?|wankers?|"
    r"pricks?|jerks?|creeps?|sluts?|whores?|nazis?|bigots?|sheep|snowflakes?"
)
_INSULT_ADJECTIVES = (
    r"pathetic|stupid|dumb|brainless|braindead|brain dead|retarded|worthless|useless|"
    r"disgusting|ugly|fat|clueless|incompetent|ignorant|delusional|insane|crazy|sick|"
    r"spineless|gutless|evil|vile|scum|trash|garbage|a joke|a disgrace|an embarrassment"
)
_INSULT_PATTERNS = re.compile(
    rf"\b(?:{_YOU}\s+(?:(?:are|r|re|is)\s+)?(?:(?:such|so|a|an|the|one|fucking|bloody|total|complete|"
    rf"absolute|massive|big|little|stupid|dumb)\s+){{0,3}}(?:{_INSULT_NOUNS})\b"
    rf"|{_YOU}\s+(?:are|r|re)\s+(?:so\s+|really\s+|just\s+|such\s+)?(?:{_INSULT_ADJECTIVES})\b"
    rf"|(?:kill|hang|shoot)\s+(?:yo)?urself|\bkys\b|go\s+die\b|die\s+in\s+a\s+(?:fire|hole|ditch)"
    rf"|\bi\s+hope\s+(?:you|u)\s+(?:die|rot|suffer|burn|get\s+(?:cancer|hit|fired))"
    rf"|(?:shut|shutup)\s*(?:the\s+\w+\s+)?up\b|\bstfu\b|\bgtfo\b|\bfuck\s+(?:you|u|off|yourself)\b"
    rf"|\bscrew\s+(?:you|u)\b|\bgo\s+to\s+hell\b|\beat\s+(?:shit|a\s+dick)\b|\bsuck\s+my\b"
    rf"|\byour\s+(?:mom|mum|mother|momma)\b|\bstupid\s+(?:bitch|cunt|ass)\b)",
    re.IGNORECASE,
)
_UNTARGETED_INSULT = re.compile(
    rf"\b(?:bunch of|such (?:an?|)|what an?|these|those|dumb|stupid|fucking|absolute)\s+(?:{_INSULT_NOUNS})\b"
    r"|\b(?:idiots|morons|imbeciles|retards|dumbasses|scumbags|libtards|snowflakes)\b",
    re.IGNORECASE,
)
_MOCKERY = re.compile(
    r"\b(?:nobody|no one|noone)\s+(?:cares|asked|likes you|wants you)\b|\bwho\s+asked\b|\bcry\s+more\b"
    r"|\bstay\s+(?:mad|pressed|salty)\b|\bcope\b|\bseethe\b|\bmald\b|\bratio\b|\bok\s+boomer\b"
    r"|\bimagine\s+(?:buying|using|paying|being|thinking|working)\b|\bget\s+a\s+(?:life|real\s+job|clue|brain)\b"
    r"|\blearn\s+(?:to\s+read|how\s+to\s+\w+)\b|\bgo\s+back\s+to\s+(?:school|sleep|your)\b|\bdo\s+(?:us|everyone|the\s+world)"
    r"\s+a\s+favou?r\b|\bclowns?\b|🤡|\blmao+\s+(?:at\s+)?(?:you|u)\b|\bnot\s+(?:even\s+)?funny\b"
    r"|\bsit\s+down\b|\bbless\s+your\s+heart\b|\bnice\s+try\b|\bhow\s+(?:dumb|stupid)\s+(?:are|can)\b"
    r"|\bworst\s+(?:person|human)\b|\bnobody\s+will\s+miss\b|\bdelete\s+(?:your|ur)\s+account\b",
    re.IGNORECASE,
)
_MASKED_PROFANITY = re.compile(
    r"\b(?:f[\*#@!$%]+(?:k|ck|ing|in|ed|er)?\w*|sh[\*#@!$%]+t\w*|b[\*#@!$%]+(?:tch|ch)\w*|"
    r"a[\*#@!$%]{2}(?:hole)?|c[\*#@!$%]+nt\w*|d[\*#@!$%]+(?:mn|ck)\w*|wtf|stfu|fml)",
    re.IGNORECASE,
)


def calibrate_profanity(probability: float) -> float:
    """Map the profanity model's probability so that PROFANITY_MIDPOINT becomes 0.5."""
    if probability <= 0.0:
        return 0.0
    return min(1.0, probability**_EXPONENT)


def insult_score(text: str) -> float:
    """Return 1.0 for an insult or threat aimed at a person, 0.6 for untargeted insulting names, else 0."""
    if _INSULT_PATTERNS.search(text):
        return 1.0
    if _UNTARGETED_INSULT.search(text):
        return 0.6
    return 0.0


def mockery_score(text: str) -> float:
    """Return 0.5 per derisive cue (capped at 1.0): the signal of a troll who does not swear."""
    return min(1.0, 0.5 * len(_MOCKERY.findall(text)))


class ToxicityScorer:
    """Scores profanity (model, whole batch at once), insults aimed at people and mockery."""

    name = "toxicity"

    def score(self, texts: Sequence[str]) -> dict[str, list[float]]:
        """Score a batch; the profanity model runs once over all texts."""
        if not texts:
            return {"profanity": [], "insult": [], "mockery": [], "toxicity": []}
        probabilities = predict_prob(list(texts))
        profanity: list[float] = []
        insults: list[float] = []
        mockery: list[float] = []
        toxicity: list[float] = []
        for text, probability in zip(texts, probabilities, strict=True):
            prof = float(probability)
            if _MASKED_PROFANITY.search(text):
                prof = max(prof, 0.9)
            insult = insult_score(text)
            mock = mockery_score(text)
            profanity.append(round(prof, 4))
            insults.append(insult)
            mockery.append(mock)
            toxicity.append(round(max(calibrate_profanity(prof), insult, 0.6 * mock), 4))
        return {"profanity": profanity, "insult": insults, "mockery": mockery, "toxicity": toxicity}
