"""Toxicity signals: a profanity model over the whole batch plus a lexicon of insults aimed at people.

Signals (all 0..1, one per text):
- `profanity`: alt-profanity-check's `predict_prob` (a linear model over words, evaluated by
  `moderation.profanity` without importing scikit-learn), raised to at
  least 0.9 when masked profanity ("f***ing", "sh*t") appears, which the model cannot see.
- `insult`: an insult or threat aimed at a person ("you idiot", "you are pathetic", "kill
  yourself", a name used as address "..., losers." or said of someone "everyone who buys this
  is an idiot"): 1.0 for insults aimed at people and threats, 0.6 for insulting names with no
  clear target ("what a bunch of morons").
- `mockery`: derision without swearing, the mark of a polite troll ("nobody asked", "cry
  more", "imagine buying from these clowns"): 0.5 per cue, +0.25 when derision or an insult
  comes with laughter ("lol", "haha"), capped at 1.0.
- `condescension`: the number (capped at 2) of condescending cues aimed at a brand's customers or
  staff, the polite troll's sneer ("only a fool would buy this", "your customers are remarkably
  gullible"); see `moderation.condescension`.
- `toxicity`: the headline score, `max(calibrated profanity, insult, 0.6 * mockery)`. The
  calibration `p ** k` maps the model's probability so that `PROFANITY_MIDPOINT` lands on 0.5,
  keeping 0.5 as the offensive/not-offensive line (tuned on OLID dev data).
Profanity alone never makes a troll: that judgement belongs to the classifier, which looks at
`insult`, `mockery`, `condescension` and the complaint signals, not at `toxicity`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from moderation.condescension import condescension_counts
from moderation.profanity import ProfanityModel, shared_profanity_model
from moderation.textgate import GatedPattern, GateSet, normalise, words_of

PROFANITY_MIDPOINT = 0.2
_EXPONENT = math.log(0.5) / math.log(PROFANITY_MIDPOINT)

_YOU = (
    r"(?:you|u|ya|yall|y'all|you guys|you people|you lot|you all|ur|your|you're|youre|you are|u r|ur a|you r)"
)
_INSULT_NOUNS = (
    r"idiots?|morons?|imbeciles?|losers?|clowns?|fools?|dumbass(?:es)?|dipshits?|scumbags?|"
    r"retards?|halfwits?|cretins?|buffoons?|jokes?|trash|garbage|scum|pigs?|rats?|snakes?|"
    r"frauds?|liars?|hypocrites?|cowards?|parasites?|degenerates?|crooks?|thie(?:f|ves)|scammers?|charlatans?|"
    r"pieces? of (?:shit|crap|garbage|trash)|"
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
    rf"absolute|massive|big|little|stupid|dumb|all|just|bunch\s+of|useless|worthless|pathetic|clueless|lying|"
    rf"utter)\s+){{0,4}}(?:{_INSULT_NOUNS})\b"
    rf"|{_YOU}\s+(?:are|r|re)\s+(?:so\s+|really\s+|just\s+|such\s+)?(?:{_INSULT_ADJECTIVES})\b"
    rf"|(?:kill|hang|shoot)\s+(?:yo)?urself|\bkys\b|go\s+die\b|die\s+in\s+a\s+(?:fire|hole|ditch)"
    rf"|\bi\s+hope\s+(?:you|u)\s+(?:die|rot|suffer|burn|get\s+(?:cancer|hit|fired))"
    rf"|(?:shut|shutup)\s*(?:the\s+\w+\s+)?up\b|\bstfu\b|\bgtfo\b|(?<!the\s)\bfuck\s+(?:you|u|off|yourself)\b"
    rf"|\bscrew\s+(?:you|u)\b|\bgo\s+to\s+hell\b|\beat\s+(?:shit|a\s+dick)\b|\bsuck\s+my\b"
    rf"|\byour\s+(?:mom|mum|mother|momma)\b|\bstupid\s+(?:bitch|cunt|ass)\b)",
)
_UNTARGETED_INSULT = re.compile(
    rf"\b(?:bunch of|such (?:an?|)|what an?|these|those|dumb|stupid|fucking|absolute)\s+(?:{_INSULT_NOUNS})\b"
    r"|\b(?:idiots|morons|imbeciles|retards|dumbasses|scumbags|libtards|snowflakes)\b",
)
# Names for people, used on their own ("..., losers.") or said of someone ("everyone who buys
# this is an idiot"): aimed at a person even without "you".
_PERSON_NOUNS = (
    r"idiots?|morons?|imbeciles?|losers?|clowns?|fools?|dumbass(?:es)?|dipshits?|retards?|cretins?|"
    r"buffoons?|muppets?|halfwits?|scumbags?|dickheads?|assholes?|wankers?|twats?|cunts?|liars?|frauds?|"
    r"hypocrites?|crooks?|thief|thieves|cowards?"
)
_PERSON_INSULT = re.compile(
    rf"(?:^|[,.!?;:]\s*)(?:@\w+\s+)*(?:(?:you|u|ya)\s+)?(?:(?:stupid|dumb|fucking|bloody|absolute|total|pathetic|"
    rf"little|useless|worthless|lying)\s+)?(?:{_PERSON_NOUNS})\s*(?:[.!?,;:]|\blol\b|\blmao\b|$)"
    rf"|\b(?:is|are|'s|'re)\s+(?:(?:all|such|a|an|total|complete|absolute|bunch\s+of|fucking|bloody|massive|"
    rf"clueless|lying|useless|worthless|pathetic|utter)\s+){{0,3}}"
    rf"(?:{_PERSON_NOUNS})\b",
)
_MOCKERY = re.compile(
    r"\b(?:nobody|no one|noone)\s+(?:cares|asked|likes you|wants you)\b|\bwho\s+asked\b|\bcry\s+more\b"
    r"|\bgo\s+cry\b|\bcry\s+(?:about\s+it|harder|me\s+a\s+river)\b|\bkeep\s+crying\b|\btouch\s+grass\b"
    r"|\bskill\s+issue\b|\bstay\s+poor\b|\byour\s+(?:\w+\s+)?(?:junk|garbage|trash|crap)\b"
    r"|\bstay\s+(?:mad|pressed|salty)\b|\bcope\b|\bseethe\b|\bmald\b|\bratio\b|\bok\s+boomer\b"
    r"|\bimagine\s+(?:buying|using|paying|being|thinking|working)\b|\bget\s+a\s+(?:life|real\s+job|clue|brain)\b"
    r"|\blearn\s+(?:to\s+read|how\s+to\s+\w+)\b|\bgo\s+back\s+to\s+(?:school|sleep|your)\b|\bdo\s+(?:us|everyone|the\s+world)"
    r"\s+a\s+favou?r\b|\bclowns?\b|\blmao+\s+(?:at\s+)?(?:you|u)\b|\bnot\s+(?:even\s+)?funny\b"
    r"|\bsit\s+down\b|\bbless\s+your\s+heart\b|\bnice\s+try\b|\bhow\s+(?:dumb|stupid)\s+(?:are|can)\b"
    r"|\bworst\s+(?:person|human)\b|\bnobody\s+will\s+miss\b|\bdelete\s+(?:your|ur)\s+account\b",
)
_MASKED_PROFANITY = re.compile(
    r"\b(?:f[\*#@!$%]+(?:k|ck|ing|in|ed|er)?\w*|sh[\*#@!$%]+t\w*|b[\*#@!$%]+(?:tch|ch)\w*|"
    r"a[\*#@!$%]{2}(?:hole)?|c[\*#@!$%]+nt\w*|d[\*#@!$%]+(?:mn|ck)\w*|wtf|stfu|fml)",
)


_INSULT_GATE = GatedPattern(
    _INSULT_PATTERNS,
    [
        "you",
        "u",
        "ya",
        "yall",
        "y",
        "ur",
        "your",
        "youre",
        "kill",
        "hang",
        "shoot",
        "kys",
        "go",
        "die",
        "i",
        "shut",
        "shutup",
        "stfu",
        "gtfo",
        "fuck",
        "screw",
        "eat",
        "suck",
        "stupid",
    ],
)
_UNTARGETED_GATE = GatedPattern(
    _UNTARGETED_INSULT,
    [
        "bunch",
        "such",
        "what",
        "these",
        "those",
        "dumb",
        "stupid",
        "fucking",
        "absolute",
        "idiots",
        "morons",
        "imbeciles",
        "retards",
        "dumbasses",
        "scumbags",
        "libtards",
        "snowflakes",
    ],
)
_MOCKERY_GATE = GatedPattern(
    _MOCKERY,
    [
        "nobody",
        "no",
        "noone",
        "who",
        "cry",
        "stay",
        "cope",
        "seethe",
        "mald",
        "ratio",
        "ok",
        "imagine",
        "get",
        "learn",
        "go",
        "do",
        "clown",
        "clowns",
        "not",
        "sit",
        "bless",
        "nice",
        "how",
        "worst",
        "delete",
    ],
    ("lmao",),
)
_MASKED_GATE = GatedPattern(_MASKED_PROFANITY, ["wtf", "stfu", "fml"], tuple("*#@!$%"))
_PERSON_GATE = GatedPattern(
    _PERSON_INSULT,
    [
        f"{stem}{suffix}"
        for stem in [
            "idiot",
            "moron",
            "imbecile",
            "loser",
            "clown",
            "fool",
            "dipshit",
            "retard",
            "cretin",
            "buffoon",
            "muppet",
            "halfwit",
            "scumbag",
            "dickhead",
            "asshole",
            "wanker",
            "twat",
            "cunt",
            "liar",
            "fraud",
            "hypocrite",
            "crook",
            "coward",
        ]
        for suffix in ("", "s")
    ]
    + ["dumbass", "dumbasses", "thief", "thieves"],
)
_GATES = GateSet((_INSULT_GATE, _UNTARGETED_GATE, _MOCKERY_GATE, _MASKED_GATE, _PERSON_GATE))
_LAUGHTER_WORDS = frozenset({"lol", "lmao", "lmfao", "rofl", "haha", "hahaha", "hahahaha", "kek"})
_LAUGHTER_EMOJI = ("\U0001f602", "\U0001f923")


def calibrate_profanity(probability: float) -> float:
    """Map the profanity model's probability so that PROFANITY_MIDPOINT becomes 0.5."""
    if probability <= 0.0:
        return 0.0
    return min(1.0, probability**_EXPONENT)


def _laughs(text: str, words: frozenset[str]) -> bool:
    """Return True when the text laughs ("lol", "haha", crying-laughing emoji)."""
    if not _LAUGHTER_WORDS.isdisjoint(words):
        return True
    return not text.isascii() and any(emoji in text for emoji in _LAUGHTER_EMOJI)


def lexicon_scores(text: str) -> tuple[float, float, bool, float]:
    """Return (insult, mockery, masked profanity present, condescension) for one text from the lexicons.

    insult: 1.0 for an insult or threat aimed at a person ("you idiot", "..., losers.",
    "everyone who buys this is an idiot"), 0.6 for insulting names with no clear target,
    else 0. mockery: 0.5 per derisive cue, plus 0.25 when derision or an insult comes with
    laughter ("lol", "haha"), capped at 1.0. condescension: condescending cues aimed at
    customers or staff, capped at 2.
    """
    lowered = normalise(text)
    words = words_of(lowered)
    targeted, untargeted, derision, masked, person = _GATES.counts(lowered, words)
    insult = 1.0 if targeted or person else 0.6 if untargeted else 0.0
    derision += "\U0001f921" in text
    mockery = min(1.0, 0.5 * derision)
    if (derision or insult) and _laughs(text, words):
        mockery = min(1.0, mockery + 0.25)
    condescension = float(min(2, sum(condescension_counts(lowered, words))))
    return insult, mockery, bool(masked), condescension


def insult_score(text: str) -> float:
    """Return 1.0 for an insult or threat aimed at a person, 0.6 for untargeted insulting names, else 0."""
    return lexicon_scores(text)[0]


def mockery_score(text: str) -> float:
    """Return the derision score 0..1: the signal of a troll who does not swear."""
    return lexicon_scores(text)[1]


def condescension_score(text: str) -> float:
    """Return the number (0..2) of condescending cues aimed at customers or staff."""
    return lexicon_scores(text)[3]


class ToxicityScorer:
    """Scores profanity (model, whole batch at once), insults aimed at people, mockery and condescension."""

    name = "toxicity"

    def __init__(self, model: ProfanityModel | None = None) -> None:
        self._model = model if model is not None else shared_profanity_model()

    def score(self, texts: Sequence[str]) -> dict[str, list[float]]:
        """Score a batch; the profanity model runs once over all texts."""
        if not texts:
            return {"profanity": [], "insult": [], "mockery": [], "condescension": [], "toxicity": []}
        probabilities = self._model.predict_prob(texts)
        profanity: list[float] = []
        insults: list[float] = []
        mockery: list[float] = []
        condescension: list[float] = []
        toxicity: list[float] = []
        for text, probability in zip(texts, probabilities, strict=True):
            prof = float(probability)
            insult, mock, masked, sneer = lexicon_scores(text)
            if masked:
                prof = max(prof, 0.9)
            profanity.append(prof)
            insults.append(insult)
            mockery.append(mock)
            condescension.append(sneer)
            toxicity.append(max(calibrate_profanity(prof), insult, 0.6 * mock))
        return {
            "profanity": profanity,
            "insult": insults,
            "mockery": mockery,
            "condescension": condescension,
            "toxicity": toxicity,
        }
