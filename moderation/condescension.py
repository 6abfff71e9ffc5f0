"""Condescension aimed at people: the polite troll's sneer at a brand's customers or staff.

A polite troll swears at no one ("With all due respect, only a fool would buy anything from
your company"; "your customers are remarkably gullible people"), so neither the profanity model
nor the insult lexicon sees them. A cue here always names or implies whom it belittles:
- customers: "only a fool would (buy...)", "anyone who shops here has more money than sense",
  "your customers/fans/users are ... gullible/sheep/the least discerning", "people who still
  fall for your marketing", "you'd have to be stupid to buy";
- staff: "a child could run your company better", "your engineers could not design a paper
  cup", "your staff were hired for their lack of intelligence", "paid for doing nothing",
  "... is garbage and so are the people who make it".
Judgements of competence alone ("your support team is useless") are not cues: that is how
angry customers talk about service. The classifier decides what a cue means (a troll only when
no real problem is told); `condescension_targets` names the groups aimed at, for explanations.
"""

from __future__ import annotations

import re

from moderation.textgate import GatedPattern, GateSet, normalise, words_of

_CUSTOMERS = (
    r"(?:(?:your|their|its|the|these|those|ur|all\s+the)\s+(?:\w+\s+)?(?:customers?|customer\s+base|clients?|"
    r"buyers?|users?|fans|fanboys|fan\s*base|shoppers|subscribers|followers|supporters|audience)"
    r"|(?:anyone|anybody|everyone|everybody|people|folks?|those|whoever)\s+(?:who|that)\s+(?:still\s+|actually\s+|"
    r"ever\s+|would\s+|willingly\s+|even\s+)?(?:buys?|bought|shops?|shopped|uses?|used|pays?|paid|trusts?|"
    r"trusted|believes?|orders?|ordered|flies|fly|banks?|falls?|fell|likes?|defends?|stays?|chooses?))"
)
_STAFF = (
    r"(?:(?:your|their|its|the|these|those|ur)\s+(?:\w+\s+)?(?:staff|employees|workers|team|engineers|developers|"
    r"devs|designers|management|managers|board|ceo|executives|execs|bosses|interns?|agents|reps|representatives|"
    r"programmers|coders|leadership|founders?|people)"
    r"|the\s+people\s+(?:who|that)\s+(?:make|made|run|design|designed|build|built|work|sell))"
)
_JUDGEMENT = (
    r"(?:gullible|naive|dim(?:-witted)?|dimwitted|dense|simple[\s-]minded|simpletons?|brainless|witless|"
    r"mindless|sheep|sheeple|suckers|easily\s+(?:fooled|led|duped|impressed)|least\s+(?:discerning|intelligent|"
    r"bright|clever)|not\s+(?:the\s+|very\s+)?(?:brightest|sharpest|smartest|bright|clever)|lack\s+of\s+(?:any\s+)?"
    r"(?:intelligence|brains?|common\s+sense|sense)|(?:no|zero)\s+(?:brains?|common\s+sense)|two\s+brain\s+cells"
    r"|an?\s+iq\s+(?:of|below|lower)|room[\s-]temperature\s+iq|heads?\s+(?:examined|checked|tested))"
)
# One character of the same clause: a judgement must not be read across "and"/"but" or a comma.
_GAP = r"(?:(?!\b(?:and|but|while|whereas|though)\b)[^.!?,;])"
_AIMED_AT_CUSTOMERS = re.compile(
    r"\bonly\s+(?:a|an|the)\s+(?:\w+\s+)?(?:fool|idiot|moron|imbecile|sucker|clown|simpleton|halfwit|dunce|"
    r"madman|lunatic|muppet|mug)s?\s+would\b"
    r"|\b(?:you(?:'d|\s+would)|one\s+would|you)\s+(?:have|need)\s+to\s+be\s+(?:an?\s+)?(?:\w+\s+)?(?:fool|idiot|"
    r"moron|mad|insane|crazy|stupid|dumb|gullible|naive|desperate)\s+to\s+(?:buy|use|trust|fly|shop|bank|pay|"
    r"order|believe|choose)\b"
    r"|\bmore\s+money\s+than\s+(?:sense|brains)\b|\bsimple\s+folks?\b"
    r"|\b(?:who|that)\s+(?:still\s+)?(?:fall|falls|fell)\s+for\s+(?:your|their|this|these|the)\s+(?:\w+\s+)?(?:"
    r"marketing|ads|advertising|lies|hype|nonsense|rubbish|tricks|scams?|spin|gimmicks?|propaganda)\b"
    rf"|\b{_CUSTOMERS}\b{_GAP}{{0,60}}?\b(?:are|is|seem|seems|must\s+be|look|looks|sound|sounds|were|get|deserve|"
    rf"deserves)\b{_GAP}{{0,40}}?\b{_JUDGEMENT}\b"
)
_AIMED_AT_STAFF = re.compile(
    r"\b(?:a|any|my)\s+(?:\w+[\s-])?(?:child|kid|toddler|monkey|chimp(?:anzee)?|hamster|goldfish|potato|"
    r"(?:five|5|six|6|ten|10)[\s-]year[\s-]old)\s+could\s+(?:run|do|design|build|manage|make|write|code|"
    r"organi[sz]e|fix)\b"
    r"|\bcould(?:n'?t|\s+not)\s+(?:organi[sz]e|run|design|build|manage|plan|make|code|write|cook)\s+(?:an?\s+)?"
    r"(?:piss[\s-]?up|p[ie]ss\s+up|paper\s+(?:cup|plane|bag)|lemonade\s+stand|bath|raffle|sandwich|cup\s+of\s+tea|"
    r"(?:\w+\s+)?if\s+(?:their|your|his|her)\s+li(?:fe|ves)\s+depended\s+on\s+it)\b"
    r"|\bpaid\s+(?:for|to)\s+do(?:ing)?\s+(?:absolutely\s+|literally\s+)?nothing\b"
    r"|\b(?:is|are|'s|was)\s+(?:\w+\s+){0,2}?(?:garbage|trash|rubbish|junk|crap|a\s+joke|pathetic|worthless|a\s+"
    r"disgrace|an\s+embarrassment)\b[^.!?]{0,20}?\band\s+so\s+(?:are|is|were|was)\s+(?:you|everyone|everybody|"
    r"whoever|anyone|the\s+(?:people|staff|team|idiots|clowns|fools|morons)|your\s+(?:staff|team|employees|"
    r"people|ceo|management|engineers|customers|fans))\b"
    rf"|\b{_STAFF}\b{_GAP}{{0,60}}?\b(?:are|is|seem|seems|must\s+be|look|looks|sound|sounds|were|was|get|"
    rf"been\s+hired)\b{_GAP}{{0,50}}?\b{_JUDGEMENT}\b"
)


def _words(text: str) -> list[str]:
    """Split a gate's word list."""
    return text.split()


# Every match holds one of its gate's words (a judgement, or the word a set phrase cannot do without).
_JUDGEMENT_WORDS = _words(
    "gullible naive dim dimwitted dense simple simpletons simpleton brainless witless mindless sheep sheeple suckers "
    "easily least brightest sharpest smartest bright clever lack brain brains sense iq examined checked tested"
)
_CUSTOMERS_GATE = GatedPattern(
    _AIMED_AT_CUSTOMERS,
    _JUDGEMENT_WORDS
    + _words("only fool idiot moron mad insane crazy stupid dumb desperate money folk folks fall falls fell"),
)
_STAFF_GATE = GatedPattern(
    _AIMED_AT_STAFF,
    _JUDGEMENT_WORDS
    + _words(
        "child kid toddler monkey chimp chimpanzee hamster goldfish potato year piss pissup pess paper lemonade bath "
        "raffle sandwich cup depended paid garbage trash rubbish junk crap joke pathetic worthless disgrace "
        "embarrassment"
    ),
)
_GATES = GateSet((_CUSTOMERS_GATE, _STAFF_GATE))


def condescension_counts(lowered: str, words: frozenset[str]) -> tuple[int, int]:
    """Return the number of condescending cues aimed at (customers, staff) in a lowercased text."""
    customers, staff = _GATES.counts(lowered, words)
    return customers, staff


def condescension_targets(lowered: str, words: frozenset[str]) -> list[str]:
    """Name the groups a lowercased text belittles ("customers", "staff"), for explanations."""
    customers, staff = condescension_counts(lowered, words)
    return [name for name, count in (("customers", customers), ("staff", staff)) if count]


def condescension_reason(text: str) -> str:
    """Explain a condescending text's verdict: "condescension aimed at customers" (or staff, or both)."""
    lowered = normalise(text)
    targets = condescension_targets(lowered, words_of(lowered)) or ["people"]
    return "condescension aimed at " + " and ".join(targets)
