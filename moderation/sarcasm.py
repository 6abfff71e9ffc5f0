"""Sarcasm over a problem: praise or thanks wrapped around a harm ("thanks for breaking my phone").

VADER reads "Thank you so much for breaking my phone. Truly excellent work." as glowing praise.
A text is sarcastic here when an ironic cue meets a harm done to the customer, in one of these
forms (the harm is looked for where the form says, and never past a "but"/"however", because
"thanks for the reply, but it is still broken" thanks sincerely):
- gratitude for a harm: "thanks/thank you/cheers ... for" with the harm later in the sentence
  ("cheers @airline for losing my suitcase");
- relish of an ordeal: "love how", "gotta love", "really appreciate being" with the harm later
  in the sentence ("love how your app logs me out");
- ironic set phrases with a harm anywhere: "so glad I paid", "nothing says ... like", "just what
  I needed", "so much for", "yeah right"; "thanks for nothing" needs no harm;
- an interjection opening a sentence, the harm after it: "Oh great, another update that deletes
  all my settings", "Great job @bank, locked out of my account";
- a verdict of praise after the harm, in a text with no contrast: "... snaps after a month.
  Well done", "... still hasn't moved. Amazing service as always".
Harms are things done to the customer or their purchase (broke/deleted/lost my..., charged twice,
locked out, on hold, cold food, a wait of hours...), not bad luck in general ("we lost the
match"). The caller drops sarcasm when the text tells a solved problem ("thanks for fixing my
broken screen"). `sarcasm_evidence` returns the cue and the harm, for the verdict's explanation.
"""

from __future__ import annotations

import re

from moderation.textgate import normalise, words_of

_CONTRAST = re.compile(r"\b(?:but|however|although|though|except|shame|pity)\b")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)|\n")

_GRATITUDE = re.compile(
    r"\b(?:thanks?|thank\s+(?:you|u)|cheers|ty)(?:\s+(?:so\s+much|very\s+much|a\s+lot|again|guys|all))?"
    r"(?:\s+@\w+)*\s+(?:for|4)\b"
)
_RELISH = re.compile(
    r"\b(?:(?:gotta|got\s+to|have\s+to|you\s+have\s+to|i|really|just|so)\s+)?(?:love|loving|loved|adore|enjoy|enjoying|"
    r"appreciate|appreciated)\s+(?:how|that|it\s+when|when|the\s+way|being|waiting|paying|getting|having|sitting|"
    r"spending|standing|queuing|queueing)\b"
)
_SET_PHRASE = re.compile(
    r"\bso\s+(?:glad|happy|pleased)\s+(?:i|we)\s+(?:paid|bought|chose|picked|waited|ordered|upgraded|spent|"
    r"switched|signed\s+up)\b|\bnothing\s+says\s+(?:[\w-]+\s+){1,3}?like\b|\bjust\s+what\s+i\s+(?:needed|wanted)\b"
    r"|\bexactly\s+what\s+i\s+(?:needed|wanted)\b|\bso\s+much\s+for\b|\byeah\s+right\b"
)
_FOR_NOTHING = re.compile(r"\b(?:thanks?|thank\s+you|cheers)\s+(?:\w+\s+)?for\s+nothing\b")
_INTERJECTION = re.compile(
    r"(?:^|[.!?]\s+|\n)(?:@\w+\s+)*(?:oh\s+|ah\s+|well\s+|just\s+|how\s+)?(?:great|wonderful|brilliant|fantastic|"
    r"perfect|lovely|nice|awesome|amazing|excellent|superb|terrific|splendid|marvell?ous|fabulous|great\s+job|"
    r"good\s+job|nice\s+one|well\s+done|bravo|class\s+act|thanks?\s+a\s+(?:lot|bunch|million)|"
    r"what\s+a\s+(?:treat|surprise|joy|delight|time\s+to\s+be\s+alive))"
    r"(?:\s+(?:customer\s+)?(?:service|support|work|stuff|experience))?(?:\s+@\w+)*\s*(?:[,!…:]|\.(?:\s|$)|-)"
)
_VERDICT = re.compile(
    r"\b(?:(?:truly|really|just|such|so|what|very|absolutely)\s+)?(?:excellent|amazing|great|brilliant|stellar|"
    r"fantastic|wonderful|outstanding|superb|top[\s-]notch|first[\s-]class|world[\s-]class|five[\s-]star|"
    r"exceptional|impeccable|flawless|stunning|top)\s+(?:work|job|service|support|design|customer\s+service|effort|"
    r"quality|experience|engineering|planning|stuff|product)\b|\blove\s+it\b|\bthanks?\s+a\s+(?:lot|bunch|million)\b"
    r"|\b(?:well\s+done|nice\s+one|good\s+job|great\s+job|bravo|class\s+act|10/10)\b"
    r"|\bvery\s+(?:generous|kind|thoughtful)\s+of\s+you\b"
    r"|\bmade\s+my\s+(?:day|week|holiday|morning|evening|weekend|trip|year)\b"
    r"|\bbest\s+(?:customer\s+)?(?:experience|service|airline|company|support)\s+ever\b"
)
_POSSESSIONS = r"(?:all\s+|both\s+|half\s+)?(?:of\s+)?(?:my|our|me|us)\b"
_HARM = re.compile(
    r"\b(?<!\bi\s)(?<!\bwe\s)(?:break(?:s|ing)?|broke|delet(?:e|es|ed|ing)|wip(?:e|es|ed|ing)|eras(?:e|es|ed|ing)|corrupt(?:s|ed|ing)?|"
    rf"destroy(?:s|ed|ing)?|ruin(?:s|ed|ing)?|los(?:e|es|ing)|lost|cancell?(?:s|ed|ing)?|ignor(?:e|es|ed|ing)|"
    rf"leav(?:e|es|ing)|left|overcharg(?:e|es|ed|ing)|scratch(?:ed|ing)?|dent(?:ed)?)\s+{_POSSESSIONS}"
    r"|\bcharg(?:e|es|ed|ing)\s+(?:me\b|my\s+(?:\S+\s+)?(?:card|account))|\b(?:turns?|turned|shuts?|switch(?:es)?|"
    r"switched|cuts?)\s+(?:itself\s+)?(?:off|out)\s+(?:again|randomly|every|all\s+the\s+time|mid)\b"
    r"|\b(?:broken|bricked|crash(?:es|ed|ing)?|froze|freez(?:es|ing)|damaged|defective|faulty|expired|stale|mouldy|"
    r"moldy|rotten|soggy|snaps|snapped|shreds|shredded|melted|leaks|leaking|glitch\w*|outage|overcharged|ripped|"
    r"torn|stained|dented|chipped|scratched|cracked|smashed|shattered)\b"
    r"|\b(?:a|an)\s+(?:(?:massive|big|huge|large|deep)\s+)?(?:rip|tear|hole|stain|dent|crack|scratch)\s+(?:in|on|down|"
    r"across|along)\b|\bstopped\s+\w+ing\b|\b(?:drops?|dropped|dropping|disconnects?|disconnecting|cuts?\s+out)\s+"
    r"(?:out\s+)?(?:every|all\s+the\s+time|constantly|randomly|again|mid)\b"
    r"|\b(?:not|never|stopped|isn'?t|doesn'?t|won'?t|didn'?t|hasn'?t|haven'?t|still\s+(?:not|hasn'?t|haven'?t))"
    r"\s+(?:even\s+|actually\s+)?(?:work(?:s|ing)?|arrived?|come|came|moved|turned\s+up|load(?:s|ing)?|respond(?:ed)?|"
    r"repl(?:y|ied)|fixed|delivered|refunded|shipped)\b"
    r"|\b(?:charged|billed|charging|billing)\s+(?:me\s+)?(?:twice|double|again|extra)\b|\b(?:late|hidden)\s+fees?\b"
    r"|\bon\s+hold\b|\bcut\s+(?:me\s+|us\s+)?off\b|\b(?:logs?|logged|logging|kicks?|kicked|locks?|locked|throws?|threw)"
    r"\s+(?:me\s+|us\s+)?out\b|\b(?:hangs?|hung)\s+up\b|\bin\s+the\s+rain\b|\bstill\s+waiting\b"
    r"|\b(?:a|the|my|our)\s+(?:missing|wrong|cold)\s+\w+|\b(?:got|gets|been|was|were|is|are)\s+(?:cancell?ed|"
    r"delayed|late|lost|stuck|missing)\b|\bno\s+(?:response|reply|refund|signal|service|internet|wifi|power)\b"
    r"|\b(?:took|take|takes|waited|waiting|wait|queued|queuing|queueing|sat|stuck)\s+(?:\w+\s+){0,3}?"
    r"(?:(?:a|an|\d+|two|three|four|five|six|ten|twenty|forty)\s+(?:minutes|mins|hours?|hrs|days|weeks?|months?)|ages|"
    r"forever)\b|\b(?:\d+|two|three|four|five|six|seven|eight)\s+(?:weeks|months)\b"
    r"|\b(?:second|third|fourth|fifth|\d+(?:nd|rd|th))\s+(?:day|time|week)\s+(?:running|in\s+a\s+row)\b"
    r"|\b(?:bill|bills|price|prices|premium|fees?|rent|subscription|tariff)\s+(?:has\s+|have\s+)?(?:gone|went|goes|going)"
    r"\s+up\b|\b(?:raised|increased|hiked|doubled)\s+(?:my|our|the)\s+(?:bill|price|prices|premium|fees?|tariff)\b"
)


def _words(text: str) -> frozenset[str]:
    """Split a gate's word list."""
    return frozenset(text.split())


# Gates: a form's regex runs only when one of its words is in the text, and none runs without a
# harm word (every match of `_HARM` holds one, or "glitch").
_HARM_WORDS = _words(
    "break breaks breaking broke delete deletes deleted deleting wipe wipes wiped wiping erase erases erased erasing "
    "corrupt corrupts corrupted corrupting destroy destroys destroyed destroying ruin ruins ruined ruining lose "
    "loses losing lost cancel cancels cancells cancelled canceled cancelling canceling ignore ignores ignored "
    "ignoring leave leaves leaving left overcharge overcharges overcharged overcharging scratch scratched scratching "
    "dent dented charge charges charged charging turn turns turned shut shuts switch switches switched cut cuts "
    "broken bricked crash crashes crashed crashing froze freezes freezing damaged defective faulty expired stale "
    "mouldy moldy rotten soggy snaps snapped shreds shredded melted leaks leaking outage ripped torn stained chipped "
    "cracked smashed shattered rip tear hole stain crack stopped drop drops dropped dropping disconnect disconnects "
    "disconnecting work works working arrive arrived come came moved load loads loading respond responded reply "
    "replied fixed delivered refunded shipped billed billing fee fees hold log logs logged logging kick kicks kicked "
    "lock locks locked throw throws threw hang hangs hung rain waiting missing wrong cold delayed late stuck response "
    "refund signal service internet wifi power took take takes waited wait queued queuing queueing sat weeks months "
    "running row bill bills price prices premium rent subscription tariff raised increased hiked doubled"
)
_GRATITUDE_WORDS = _words("thanks thank cheers ty")
_RELISH_WORDS = _words("love loving loved adore enjoy enjoying appreciate appreciated")
_SET_PHRASE_WORDS = _words("glad happy pleased says needed wanted much yeah")
_INTERJECTION_WORDS = _words(
    "great wonderful brilliant fantastic perfect lovely nice awesome amazing excellent superb terrific splendid "
    "marvellous marvelous fabulous good well bravo class thanks thank treat surprise joy delight alive"
)
_VERDICT_WORDS = _words(
    "excellent amazing great brilliant stellar fantastic wonderful outstanding superb top first world five "
    "exceptional impeccable flawless stunning love thanks thank well nice good bravo class 10 generous kind "
    "thoughtful made best"
)
GATE_WORDS = (
    _HARM_WORDS | _GRATITUDE_WORDS | _RELISH_WORDS | _SET_PHRASE_WORDS | _INTERJECTION_WORDS | _VERDICT_WORDS
) | {"nothing"}
"""Every word some gate of `sarcasm_evidence` opens on: passing them all as `words` runs every regex."""


def _first_harm(lowered: str, start: int, end: int) -> str | None:
    """Return the first harm between two positions, stopping at a contrast ("but", "however")."""
    contrast = _CONTRAST.search(lowered, start, end)
    match = _HARM.search(lowered, start, contrast.start() if contrast else end)
    return _shown(match) if match else None


def _sentence_end(lowered: str, start: int) -> int:
    """Return the end of the sentence that contains position `start`."""
    end = _SENTENCE_END.search(lowered, start)
    return end.start() if end else len(lowered)


def _shown(match: re.Match[str]) -> str:
    """Return matched text as shown in explanations: its words, mentions and punctuation left out."""
    return " ".join(w for w in re.findall(r"[@\w'/]+", match.group()) if not w.startswith("@"))


def sarcasm_evidence(lowered: str, words: frozenset[str] | None = None) -> tuple[str, str] | None:
    """Return (ironic cue, harm) when a lowercased text wraps a harm in praise or thanks, else None.

    The forms are listed in the module docstring; "thanks for nothing" returns ("thanks for
    nothing", "nothing"). `words` are the text's [a-z0-9]+ words (see `textgate.words_of`) when
    already known. The caller checks first that the text tells no solved problem.
    """
    if words is None:
        words = words_of(lowered)
    if not _GRATITUDE_WORDS.isdisjoint(words) and "nothing" in words:
        nothing = _FOR_NOTHING.search(lowered)
        if nothing:
            return _shown(nothing), "nothing"
    if _HARM_WORDS.isdisjoint(words) and "glitch" not in lowered:
        return None
    for gate, pattern in ((_GRATITUDE_WORDS, _GRATITUDE), (_RELISH_WORDS, _RELISH)):
        if not gate.isdisjoint(words):
            for match in pattern.finditer(lowered):
                harm = _first_harm(lowered, match.end(), _sentence_end(lowered, match.end()))
                if harm:
                    return _shown(match), harm
    if not _SET_PHRASE_WORDS.isdisjoint(words):
        phrase = _SET_PHRASE.search(lowered)
        if phrase:
            harm = _first_harm(lowered, 0, len(lowered))
            if harm:
                return _shown(phrase), harm
    if not _INTERJECTION_WORDS.isdisjoint(words):
        for match in _INTERJECTION.finditer(lowered):
            harm = _first_harm(lowered, match.end(), len(lowered))
            if harm:
                return _shown(match), harm
    if not _VERDICT_WORDS.isdisjoint(words) and not _CONTRAST.search(lowered):
        for match in _VERDICT.finditer(lowered):
            harm = _first_harm(lowered, 0, match.start())
            if harm:
                return _shown(match), harm
    return None


def sarcasm_reason(text: str) -> str:
    """Explain a sarcastic text's verdict: "sarcasm: thanks for + breaking my" (cue + harm)."""
    evidence = sarcasm_evidence(normalise(text))
    if evidence is None:
        return "sarcasm over a problem"
    cue, harm = evidence
    return f"sarcasm: {cue} + {harm}"
