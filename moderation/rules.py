"""Rule signals: complaint keywords and problem phrases, question/praise/sarcasm/spam cues, typography.

Signals (one float per text):
- `problem`: count of problem phrases ("never arrived", "not working", "charged twice",
  "still waiting", "no response"...), the strongest sign of a customer with a real problem.
- `keyword_hits`: count of distinct complaint keywords (see `DEFAULT_KEYWORDS`) present.
- `negation`: count of negations ("not", "never", "n't", "no"...).
- `grievance`: count of grievance cues ("why is", "supposed to", "still", "again",
  "seriously", "please fix", "having problems"...).
- `first_person`: 1.0 when the author speaks about themselves ("my order", "I", "we").
- `question`: 1.0 for a question (a "?" or an interrogative opening), else 0.
- `praise`: count of praise cues ("thank you", "love", "awesome", "great service"...).
- `sarcasm`: 1.0 when an ironic opener meets a problem ("great, another broken phone").
- `spam`: 0..1 from links with promo words, crypto, "DM me for", follower selling.
- `caps_ratio`: share of letters in capitals in words of 2+ letters (0..1).
- `repeated_punct`: count of runs like "!!", "???", "?!?!".
- `mentions`, `urls`: counts of @mentions and links.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DEFAULT_KEYWORDS: tuple[str, ...] = (
    "order",
    "delivery",
    "package",
    "parcel",
    "refund",
    "return",
    "broken",
    "damaged",
    "defective",
    "faulty",
    "never arrived",
    "never received",
    "charged twice",
    "double charged",
    "overcharged",
    "still waiting",
    "cancel",
    "cancelled",
    "support",
    "customer service",
    "complaint",
    "missing",
    "wrong",
    "late",
    "delayed",
    "error",
    "bug",
    "crash",
    "outage",
    "not working",
    "stopped working",
    "scam",
    "ripped off",
    "disappointed",
    "unacceptable",
    "terrible",
    "worst",
    "awful",
    "rude",
    "lost",
    "stuck",
    "on hold",
    "no response",
    "ignored",
    "replacement",
    "warranty",
    "fix",
    "issue",
    "problem",
)

_NEG = r"(?:not|n't|never|no longer|wont|won't|cant|can't|cannot|doesnt|doesn't|didnt|didn't|isnt|isn't|" \
    r"arent|aren't|wasnt|wasn't|havent|haven't|hasnt|hasn't|still not|unable to)"
_PROBLEM = re.compile(
    r"\b(?:never|not|still\s+(?:not|haven'?t|hasn'?t))\s+(?:arrived|received|delivered|got|came|shipped|"
    r"refunded|fixed|resolved|heard|responded|answered|working|work|loading|charging|connecting)\b"
    rf"|\b{_NEG}\s+(?:even\s+)?(?:work|working|load|loading|open|start|connect|charge|charging|turn\s+on|log\s*in|"
    r"sign\s*in|access|get\s+through|receive|deliver|arrive|respond|reply|help|fix|refund|find\s+my|track|"
    r"been\s+(?:delivered|refunded|fixed|resolved|contacted|answered))\b"
    r"|\b(?:charged|billed)\s+(?:me\s+)?(?:twice|two\s+times|double|again|for\s+something)\b|\bdouble[\s-]charged\b"
    r"|\bovercharg\w*|\bstill\s+(?:waiting|no\b|nothing|broken|down|not|haven'?t|hasn'?t|can'?t|cannot|missing)"
    r"|\b(?:been|was|kept|keep)\s+(?:waiting|on\s+hold|holding|charged|ignored|cut\s+off|disconnected)\b"
    r"|\bno\s+(?:response|reply|answer|one\s+(?:answers|responds|replied|helps)|help|refund|signal|service|internet|"
    r"power|wifi|water|heat|updates?|word|email|call\s*back|tracking|sound|connection|coverage)\b"
    r"|\b(?:is|are|was|were|keeps?|been|went|goes|still)\s+(?:down|broken|dead|missing|late|delayed|"
    r"cancell?ed|faulty|damaged|defective|crashing|freezing|glitching|lagging|wrong|out\s+of\s+stock)\b"
    r"|\b(?:broken|damaged|defective|faulty|cracked|smashed|leaking|expired|mouldy|moldy|stale|rotten|"
    r"raw|undercooked|cold)\s+(?:on\s+arrival|item|product|phone|screen|box|package|parcel|order|bottle|food|"
    r"meal|burger|pizza|laptop|device|unit|tv|part|parts|charger|when|after)\b"
    r"|\b(?:crash(?:es|ed|ing)?|froze|freezes|freezing|keeps\s+(?:crashing|freezing|restarting|dropping|"
    r"disconnecting|logging|failing)|error\s+(?:code|message)|glitch\w*|outage|lagging|bricked)\b"
    r"|\b(?:wrong|missing)\s+(?:item|items|order|size|colou?r|product|part|parts|address|charge|amount|bill)\b"
    r"|\b(?:lost|cancell?ed|delayed|late)\s+(?:my|our|the)\s+(?:order|package|parcel|luggage|bag|baggage|"
    r"flight|train|delivery|booking|reservation|payment|account|data)\b"
    r"|\b(?:refund|money\s+back|compensation|replacement)\b|\b(?:rip(?:ped)?\s*off|scammed|fraudulent)\b"
    r"|\b(?:worst|terrible|awful|horrible|appalling|shocking|poor|bad|disgraceful|pathetic|abysmal|useless)"
    r"\s+(?:customer\s+)?(?:service|support|experience|company|app|update|quality|product|delivery|airline|"
    r"bank|isp|provider|help|response|communication)\b"
    r"|\b(?:disappointed|disappointing|unacceptable|frustrat\w+|fed\s+up|sick\s+of|tired\s+of|furious|"
    r"annoyed|ridiculous|joke\s+of\s+a)\b"
    r"|\b(?:hours?|days?|weeks?|months?)\s+(?:now|later|and\s+still|on\s+hold|waiting|late|overdue)\b"
    r"|\b(?:\d+|two|three|four|five|six|several|many)\s+(?:hours?|days?|weeks?|months?|times)\b"
    r"|\b(?:can'?t|cannot|unable\s+to|won'?t\s+let\s+me)\b"
    r"|\b(?:doesn'?t|didn'?t|don'?t|isn'?t|wasn'?t|won'?t|aren'?t|haven'?t|hasn'?t)\s+(?:work|arrive|"
    r"show|come|load|respond|help|care|answer)",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:not|no|never|nothing|nobody|none|nowhere|neither|nor|without)\b|n't\b|\b(?:cant|wont|dont|doesnt|"
    r"didnt|isnt|arent|wasnt|werent|havent|hasnt|couldnt|shouldnt)\b",
    re.IGNORECASE,
)
_GRIEVANCE = re.compile(
    r"\bwhy\s+(?:is|are|was|were|do|does|did|has|have|would|can'?t|won'?t|isn'?t|aren'?t|doesn'?t|didn'?t|"
    r"not|the\s+hell|on\s+earth)\b|\bsupposed\s+to\b|\bpromised\b|\bshould\s+(?:have|'ve|be)\b|\bstill\b|"
    r"\bagain\b|\breally\s*\?|\bseriously\b|\beven\s+though\b|\bplease\s+(?:fix|help|sort|respond|reply|"
    r"explain|stop|resolve|look\s+into)\b|\bget\s+(?:your|ur)\s+act\s+together\b|\bsort\s+(?:it|this)\s+out\b|"
    r"\bno\s+luck\b|\bhaving\s+(?:problems?|issues?|trouble)\b|\b(?:tried|trying)\b|\bany\s+suggestions\b|"
    r"\bwhat\s+(?:is\s+going\s+on|happened|the\s+hell|a\s+joke)\b|\bthis\s+is\s+(?:ridiculous|insane|"
    r"a\s+joke|unacceptable)\b|\bnot\s+happy\b|\bnever\s+again\b|\bdone\s+with\b|#fail\b|\bfail(?:ed|s)?\b",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|im|i've|ive|i'd|my|me|mine|we|our|us)\b", re.IGNORECASE)
_QUESTION_OPENING = re.compile(
    r"^(?:\s*(?:@\w+\s*)*)(?:hi|hello|hey)?[\s,!.]*(?:how|what|when|where|why|who|which|can|could|would|will|"
    r"is|are|do|does|did|should|may|any|anyone|has|have)\b",
    re.IGNORECASE,
)
_PRAISE = re.compile(
    r"\b(?:thanks?(?:\s+(?:you|u|so\s+much|a\s+million))?|thx|ty|love(?:d|s)?|loving|awesome|amazing|excellent|"
    r"brilliant|fantastic|wonderful|superb|outstanding|great\s+(?:job|service|work|team|experience|support|"
    r"product|food|stuff)|well\s+done|kudos|shout\s*out|props\s+to|appreciate\w*|impressed|happy\s+with|"
    r"best\s+(?:ever|service|customer|company|team|app)|perfect|delicious|legend|favou?rite|recommend|"
    r"5\s+stars|five\s+stars|10/10)\b|❤|😍|🙏|👍|💯|😊|🥰",
    re.IGNORECASE,
)
_SARCASM_OPENER = re.compile(
    r"\b(?:(?:oh\s+)?great|(?:oh\s+)?wonderful|(?:oh\s+)?brilliant|fantastic|perfect|lovely|nice|awesome)"
    r"[,.!…]*\s+(?:another|just|now|yet|so|more|my|the|thanks|again)\b|\bthanks?\s+(?:a\s+lot|for\s+nothing|"
    r"for\s+(?:ruining|wasting|losing|breaking|the\s+(?:broken|late|missing|wrong)))|\byeah\s+right\b|"
    r"\bso\s+much\s+for\b|\bjust\s+what\s+i\s+(?:needed|wanted)\b|\blove\s+(?:how|that|it\s+when|when)\b|"
    r"\bcheers\s+for\s+nothing\b|\bwell\s+done\b.*\b(?:again|broken|late|lost|not)\b",
    re.IGNORECASE,
)
_SPAM_STRONG = re.compile(
    r"\b(?:dm|message|inbox|text|whatsapp|telegram)\s+(?:me\s+)?(?:for|to\s+(?:get|earn|buy|know|join))\b"
    r"|\b(?:buy|get|cheap|real|instant|gain|grow)\s+(?:\d+k?\s+)?(?:followers|likes|subscribers|views|retweets)\b"
    r"|\b(?:followers|likes)\s+for\s+(?:sale|cheap)\b|\bcheck\s+(?:out\s+)?my\s+(?:bio|profile|page|channel)\b"
    r"|\blink\s+in\s+(?:my\s+)?bio\b|\b(?:bitcoin|btc|ethereum|eth|crypto|nft|airdrop|forex|usdt|binance|"
    r"dogecoin|memecoin|presale)\b|\bbinary\s+options?\b|\b(?:earn|make)\s+(?:\$|£|€)?\d+[k]?\b"
    r"|\bwork\s+from\s+home\b|\bonlyfans\b|\b100x\b|\bpassive\s+income\b|\bget\s+rich\b"
    r"|\bfollow\s+(?:me\s+)?(?:back|for\s+follow)\b|\bf4f\b|\bl4l\b",
    re.IGNORECASE,
)
_SPAM_PROMO = re.compile(
    r"\b(?:free|giveaway|win|winner|prize|discount|coupon|promo(?:\s+code)?|deal|offer|limited|click|"
    r"buy\s+now|shop\s+now|sign\s+up|subscribe|cash|investment|invest|profit|bonus|sale)\b|\d+\s*%\s*off",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://\S+|www\.\S+|\b\w+\.(?:com|net|org|io|ly|co|xyz|shop|biz)/\S*", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_REPEATED_PUNCT = re.compile(r"[!?]{2,}|\.{4,}")
_CAPS_WORD = re.compile(r"\b[A-Za-z]{2,}\b")


def caps_ratio(text: str) -> float:
    """Share of capital letters among letters of words of 2+ letters (0..1); 0 for short texts."""
    words = _CAPS_WORD.findall(_MENTION.sub(" ", _URL.sub(" ", text)))
    letters = sum(len(w) for w in words)
    if letters < 8:
        return 0.0
    return sum(1 for w in words for ch in w if ch.isupper()) / letters


def spam_score(text: str, urls: int) -> float:
    """Spam likelihood 0..1: strong cues weigh 0.6 each, promo words 0.25 (doubled with a link)."""
    strong = len(_SPAM_STRONG.findall(text))
    promo = len(_SPAM_PROMO.findall(text))
    score = 0.6 * strong + (0.25 if urls else 0.12) * promo + (0.15 if urls and (strong or promo) else 0.0)
    return min(1.0, round(score, 4))


class KeywordMatcher:
    """Finds which of a configurable list of keywords or phrases occur in a text (whole words)."""

    def __init__(self, keywords: Sequence[str]) -> None:
        self.keywords: tuple[str, ...] = tuple(dict.fromkeys(k.strip().lower() for k in keywords if k.strip()))
        by_length = sorted(self.keywords, key=len, reverse=True)
        alternatives = "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in by_length)
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if by_length else None

    def find(self, text: str) -> tuple[str, ...]:
        """Return the distinct keywords found, in order of first appearance, normalised to lowercase."""
        if self._pattern is None:
            return ()
        found = (" ".join(m.lower().split()) for m in self._pattern.findall(text))
        return tuple(dict.fromkeys(found))


class RuleScorer:
    """Hand-written rule signals for intent (complaint, question, praise, spam) and typography."""

    name = "rules"

    def __init__(self, keywords: Sequence[str] = DEFAULT_KEYWORDS) -> None:
        self._keywords = KeywordMatcher(keywords)

    def score(self, texts: Sequence[str]) -> dict[str, list[float]]:
        """Score a batch of texts with the rule set."""
        names = (
            "problem",
            "keyword_hits",
            "negation",
            "grievance",
            "first_person",
            "question",
            "praise",
            "sarcasm",
            "spam",
            "caps_ratio",
            "repeated_punct",
            "mentions",
            "urls",
        )
        out: dict[str, list[float]] = {name: [] for name in names}
        for text in texts:
            for name, value in zip(names, self.score_one(text), strict=True):
                out[name].append(value)
        return out

    def score_one(self, text: str) -> tuple[float, ...]:
        """Score one text; values are in the order of the signal names of `score`."""
        urls = len(_URL.findall(text))
        problem = len(_PROBLEM.findall(text))
        keyword_hits = len(self._keywords.find(text))
        question = 1.0 if "?" in text or _QUESTION_OPENING.search(text) else 0.0
        praise = len(_PRAISE.findall(text))
        sarcasm = 1.0 if _SARCASM_OPENER.search(text) and (problem or keyword_hits) else 0.0
        return (
            float(problem),
            float(keyword_hits),
            float(len(_NEGATION.findall(text))),
            float(len(_GRIEVANCE.findall(text))),
            1.0 if _FIRST_PERSON.search(text) else 0.0,
            question,
            float(praise),
            sarcasm,
            spam_score(text, urls),
            round(caps_ratio(text), 4),
            float(len(_REPEATED_PUNCT.findall(text))),
            float(len(_MENTION.findall(text))),
            float(urls),
        )
