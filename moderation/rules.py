"""Rule signals: complaint keywords and problem phrases, question/praise/sarcasm/spam cues, typography.

Signals (one float per text):
- `problem`: count of problem phrases ("never arrived", "not working", "charged twice",
  "still waiting", "no response", harm done to the customer's things: "deleted all my photos",
  "locked out", "the pocket has ripped"...), the strongest sign of a customer with a real problem.
  Set phrases of eagerness ("can't wait") and durations of a feat ("rich in 2 weeks") are not problems.
- `keyword_hits`: count of distinct complaint keywords (see `DEFAULT_KEYWORDS`) present.
- `negation`: count of negations ("not", "never", "n't", "no"...).
- `grievance`: count of grievance cues ("why is", "supposed to", "still", "again",
  "seriously", "please fix", "having problems"...).
- `first_person`: 1.0 when the author speaks about themselves ("my order", "I", "we").
- `question`: 1.0 for a question (a "?" or an interrogative opening), else 0.
- `praise`: count of praise cues ("thank you", "love", "awesome", "great service"...); 0 when
  the text is sarcastic, as its praise is ironic.
- `resolved`: count of statements of a solved problem ("sorted out my replacement",
  "refunded me", "arrived today", "quick response"), negated ones ("still not fixed") aside.
- `sarcasm`: 1.0 when praise or thanks wraps a harm done to the customer ("great, another broken
  phone", "thanks for breaking my phone"), and no solved problem is told; see `moderation.sarcasm`.
- `spam`: 0..1 from links with promo words, crypto, "DM me for", follower selling, prize claims
  ("you have been selected", "claim here"), contact "on WhatsApp", guaranteed returns.
- `caps_ratio`: share of letters in capitals in words of 2+ letters (0..1).
- `repeated_punct`: count of runs like "!!", "???", "?!?!".
- `mentions`, `urls`: counts of @mentions and links.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from moderation.sarcasm import sarcasm_evidence
from moderation.textgate import GatedPattern, GateSet, normalise, words_of

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

_NEG = (
    r"(?:not|n't|never|no longer|wont|won't|cant|can't|cannot|doesnt|doesn't|didnt|didn't|isnt|isn't|"
    r"arent|aren't|wasnt|wasn't|havent|haven't|hasnt|hasn't|still not|unable to)"
)


def _rule(pattern: str, triggers: str, substrings: tuple[str, ...] = ()) -> GatedPattern:
    """Compile one problem-phrase rule with its gate (see moderation.textgate)."""
    return GatedPattern(re.compile(pattern), triggers.split(), substrings)


_DURATION = r"(?:hours?|days?|weeks?|months?)"
# Problem phrases, one gated regex per family; `problem` is the total number of matches.
_PROBLEM_RULES: tuple[GatedPattern, ...] = (
    _rule(
        r"\b(?:never|not|stopped|still\s+(?:not|haven'?t|hasn'?t))\s+(?:arrived|received|delivered|got|came|shipped|"
        r"refunded|fixed|resolved|heard|responded|answered|working|work|loading|charging|connecting|cooling|heating|"
        r"syncing|printing|draining|spinning|updating|responding)\b",
        "never not stopped still",
    ),
    _rule(
        rf"\b{_NEG}\s+(?:even\s+)?(?:work|working|load|loading|open|start|connect|charge|charging|turn\s+on|"
        r"log\s*in|sign\s*in|access|get\s+through|receive|deliver|arrive|respond|reply|help|fix|refund|"
        r"find\s+my|track|been\s+(?:delivered|refunded|fixed|resolved|contacted|answered))\b",
        "not never no wont won cant can cannot doesnt doesn didnt didn isnt isn arent aren wasnt wasn havent "
        "haven hasnt hasn still unable",
    ),
    _rule(
        r"\b(?:charged|billed|charging|billing)\s+(?:me\s+)?(?:twice|two\s+times|double|again|for\s+something)\b"
        r"|\bdouble[\s-]charged\b|\bovercharg\w*",
        "charged billed charging billing double",
        ("overcharg",),
    ),
    _rule(
        r"\bstill\s+(?:waiting|no\b|nothing|broken|down|not|haven'?t|hasn'?t|can'?t|cannot|missing)",
        "still",
    ),
    _rule(
        r"\b(?:been|was|kept|keep)\s+(?:waiting|on\s+hold|holding|charged|ignored|cut\s+off|disconnected)\b",
        "been was kept keep",
    ),
    _rule(
        r"\b(?:no|zero)\s+(?:responses?|repl(?:y|ies)|answers?|one\s+(?:answers|responds|replied|helps)|help|refund|signal|service|"
        r"internet|power|wifi|water|heat|updates?|word|email|call\s*back|tracking|sound|connection|coverage)\b",
        "no zero",
    ),
    _rule(
        r"\b(?:got|gets)\s+(?:cancell?ed|delayed|lost|damaged|broken|stuck)\b"
        r"|\b(?:is|are|was|were|keeps?|been|went|goes|still)\s+(?:down|broken|dead|missing|late|delayed|"
        r"cancell?ed|faulty|damaged|defective|crashing|freezing|glitching|lagging|wrong|out\s+of\s+stock)\b"
        r"|\bbeen\s+(?:lost|stolen)\b",
        "down broken dead missing late delayed cancelled canceled faulty damaged defective crashing freezing "
        "glitching lagging wrong out lost stuck stolen",
    ),
    _rule(
        r"\b(?:broken|damaged|defective|faulty|cracked|smashed|leaking|expired|mouldy|moldy|stale|rotten|"
        r"raw|undercooked|cold)\s+(?:on\s+arrival|item|product|phone|screen|box|package|parcel|order|bottle|"
        r"food|meal|burger|pizza|fries|chips|coffee|drink|sandwich|chicken|laptop|device|unit|tv|part|parts|charger|"
        r"when|after)\b",
        "broken damaged defective faulty cracked smashed leaking expired mouldy moldy stale rotten raw "
        "undercooked cold",
    ),
    _rule(
        r"\b(?:crash(?:es|ed|ing)?|froze|freezes|freezing|keeps\s+(?:crashing|freezing|restarting|dropping|"
        r"disconnecting|logging|failing)|error\s+(?:code|message)|glitch\w*|outage|lagging|bricked)\b",
        "crash crashes crashed crashing froze freezes freezing keeps error outage lagging bricked",
        ("glitch",),
    ),
    _rule(
        r"\b(?:wrong|missing)\s+(?:item|items|order|size|colou?r|product|part|parts|address|charge|amount|"
        r"bill)\b",
        "wrong missing",
    ),
    _rule(
        r"\b(?:lost|cancell?ed|delayed|late)\s+(?:my|our|the)\s+(?:order|package|parcel|luggage|bag|baggage|"
        r"flight|train|delivery|booking|reservation|payment|account|data)\b",
        "lost cancelled canceled delayed late",
    ),
    _rule(
        r"\b(?:refund|money\s+back|compensation|replacement)\b|\b(?:rip(?:ped)?\s*off|scammed|fraudulent)\b",
        "refund money compensation replacement rip ripped ripoff scammed fraudulent",
    ),
    _rule(
        r"\b(?:worst|terrible|awful|horrible|appalling|shocking|poor|bad|disgraceful|pathetic|abysmal|useless)"
        r"\s+(?:customer\s+)?(?:service|support|experience|company|app|update|quality|product|delivery|airline|"
        r"bank|isp|provider|help|response|communication)\b",
        "worst terrible awful horrible appalling shocking poor bad disgraceful pathetic abysmal useless",
    ),
    _rule(
        r"\b(?:disappointed|disappointing|unacceptable|frustrat\w+|fed\s+up|sick\s+of|tired\s+of|furious|"
        r"annoyed|ridiculous|joke\s+of\s+a)\b",
        "disappointed disappointing unacceptable fed sick tired furious annoyed ridiculous joke",
        ("frustrat",),
    ),
    _rule(
        rf"\b{_DURATION}\s+(?:now|later|and\s+still|on\s+hold|waiting|late|overdue)\b"
        rf"|\b(?<!\bin\s)(?:\d+|two|three|four|five|six|several|many)\s+(?:{_DURATION}|times)\b",
        "hour hours day days week weeks month months times",
    ),
    # "can't" states a problem, except in set phrases of eagerness or praise ("can't wait", "can't fault").
    _rule(
        r"\b(?:can'?t|cannot)\b(?!\s+(?:wait|get\s+enough|thank|recommend|fault|complain|go\s+wrong|beat)\b"
        r"(?!\s+(?:any|much)\s+longer|\s+forever|\s+any\s*more))"
        r"|\bunable\s+to\b|\bwon'?t\s+let\s+me\b",
        "can cant cannot unable won wont",
    ),
    _rule(
        r"\b(?:doesn'?t|didn'?t|don'?t|isn'?t|wasn'?t|won'?t|aren'?t|haven'?t|hasn'?t)\s+(?:work|arrive|"
        r"show|come|load|respond|help|care|answer)",
        "doesn doesnt didn didnt don dont isn isnt wasn wasnt won wont aren arent haven havent hasn hasnt",
    ),
    # Harm done to the customer's things or account ("broke my phone", "deletes all my settings").
    _rule(
        r"\b(?<!\bi\s)(?<!\bwe\s)(?:break(?:s|ing)?|broke|delet(?:es|ed|ing)|wip(?:es|ed|ing)|eras(?:es|ed|ing)|corrupt(?:s|ed|ing)|"
        r"destroy(?:s|ed|ing)|ruin(?:s|ed|ing)|los(?:es|ing)|bricked|melted|shred(?:s|ded)|snap(?:s|ped)|"
        r"scratched|leak(?:s|ed|ing)|overheat(?:s|ed|ing)|exploded)\s+(?:all\s+|half\s+|both\s+)?(?:of\s+)?"
        r"(?:my|our|me|us|apart|after|within|everywhere|all\s+over|on\s+(?:day|the\s+first))\b"
        r"|\bcould\s+have\s+(?:killed|burn(?:ed|t)|hurt|injured|electrocuted|poisoned)\b|\bcaught\s+(?:on\s+)?fire\b",
        "break breaks breaking broke deletes deleted deleting wipes wiped wiping erases erased erasing corrupts "
        "corrupted corrupting destroys destroyed destroying ruins ruined ruining loses losing bricked melted "
        "shreds shredded snaps snapped scratched leaks leaked leaking overheats overheated overheating exploded "
        "killed burned burnt hurt injured electrocuted poisoned fire",
    ),
    # Damage to the goods ("the pocket has ripped", "a ripped dress", "a massive rip down the side").
    _rule(
        r"\b(?:has|have|had|was|were|is|are|arrived|came|got|already)\s+(?:\w+\s+)?(?:ripped|torn|stained|dented|"
        r"chipped|scratched|cracked|smashed|shattered)\b|\b(?:a|an)\s+(?:ripped|torn|stained|dented|chipped|scratched|"
        r"shattered)\s+\w+|\b(?:a|an)\s+(?:(?:massive|big|huge|large|small|deep)\s+)?(?:rip|tear|hole|stain|dent|"
        r"crack|scratch|chip)s?\s+(?:in|on|down|across|along|all\s+over)\b",
        "ripped torn stained dented chipped scratched cracked smashed shattered rip rips tear tears hole holes stain "
        "stains dent dents crack cracks scratch scratches chip chips",
    ),
    # A connection that keeps failing ("the wi-fi drops every ten minutes").
    _rule(
        r"\b(?:drops?|dropped|dropping|disconnects?|disconnected|disconnecting|cuts?\s+out|cutting\s+out|buffers|"
        r"buffering)\s+(?:out\s+)?(?:every|all\s+the\s+time|constantly|randomly|again|mid[\s-])",
        "drop drops dropped dropping disconnect disconnects disconnected disconnecting cut cuts cutting buffers "
        "buffering",
    ),
    # Locked out, cut off, hung up on, sent round in circles.
    _rule(
        r"\b(?:logs?|logged|logging|kicks?|kicked|kicking|locks?|locked|locking|throws?|threw)\s+(?:me|us)\s+out\b"
        r"|\blocked\s+out\b|\bcut\s+(?:me\s+|us\s+)?off\b|\b(?:hangs?|hung)\s+up\s+on\s+(?:me|us)\b"
        r"|\b(?:round|around)\s+in\s+circles\b",
        "log logs logged logging kick kicks kicked kicking lock locks locked locking throw throws threw cut hang "
        "hangs hung circles",
    ),
    # A delivery that is not here ("says delivered but it isn't here") or took far too long.
    _rule(
        r"\b(?:isn'?t|is\s+not|wasn'?t|not|never|hasn'?t|haven'?t)\s+(?:here|turned\s+up|showed\s+up|shown\s+up|"
        r"come\s+through|came\s+through)\b|\b(?:says|said|shows|showing|marked)\s+(?:as\s+|it\s+was\s+)?delivered\b"
        r"|(?<!only\s)(?<!just\s)\btook\s+(?:over\s+|nearly\s+|almost\s+|more\s+than\s+)?(?:(?:a|an)\s+(?:week|month|"
        r"fortnight)|(?:\d+|two|three|four|five|six)\s+(?:weeks|months))\b|\btook\s+(?:ages|forever)\b",
        "here turned showed shown come came delivered took",
    ),
)
_NEGATION = re.compile(
    r"\b(?:not|no|never|nothing|nobody|none|nowhere|neither|nor|without)\b|n't\b|\b(?:cant|wont|dont|doesnt|"
    r"didnt|isnt|arent|wasnt|werent|havent|hasnt|couldnt|shouldnt)\b",
)
_GRIEVANCE = re.compile(
    r"\bwhy\s+(?:is|are|was|were|do|does|did|has|have|would|can'?t|won'?t|isn'?t|aren'?t|doesn'?t|didn'?t|"
    r"not|the\s+hell|on\s+earth)\b|\bsupposed\s+to\b|\bpromised\b|\bshould\s+(?:have|'ve|be)\b|\bstill\b|"
    r"\bagain\b|\breally\s*\?|\bseriously\b|\beven\s+though\b|\bplease\s+(?:fix|help|sort|respond|reply|"
    r"explain|stop|resolve|look\s+into)\b|\bget\s+(?:your|ur)\s+act\s+together\b|\bsort\s+(?:it|this)\s+out\b|"
    r"\bno\s+luck\b|\bhaving\s+(?:problems?|issues?|trouble)\b|\b(?:tried|trying)\b|\bany\s+suggestions\b|"
    r"\bwhat\s+(?:is\s+going\s+on|happened|the\s+hell|a\s+joke)\b|\bthis\s+is\s+(?:ridiculous|insane|"
    r"a\s+joke|unacceptable)\b|\bnot\s+happy\b|\bnever\s+again\b|\bdone\s+with\b|\bfail(?:ed|s)?\b"
    r"|\bnever\s+(?:buying|ordering|shopping|using|flying|eating|dealing|coming\s+back|going\s+back)\b"
    r"|\b(?:disgraceful|shameful|outrageous|appalling|disgusting)\b|\bhow\s+you\s+treat\b",
)
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|im|i've|ive|i'd|my|me|mine|we|our|us)\b")
_QUESTION_OPENING = re.compile(
    r"^(?:\s*(?:@\w+\s*)*)(?:hi|hello|hey)?[\s,!.]*(?:how|what|when|where|why|who|which|can(?!'t)|could|would|will|"
    r"is|are|do|does|did|should|may|any|anyone|has|have)\b",
)
_PRAISE = re.compile(
    r"\b(?:thanks?(?:\s+(?:you|u|so\s+much|a\s+million))?|thx|ty|cheers|love(?:d|s)?|loving|awesome|amazing|excellent|"
    r"brilliant|fantastic|wonderful|superb|outstanding|great\s+(?:job|service|work|team|experience|support|"
    r"product|food|stuff)|well\s+done|kudos|shout\s*out|props\s+to|appreciate\w*|impressed|happy\s+with|"
    r"best\s+(?:ever|service|customer|company|team|app|purchase|buy|decision|thing|investment)|perfect|"
    r"delicious|legends?|heroes|hero|lifesaver|incredible|stunning|flawless|exceptional|top\s+notch|"
    r"favou?rite|recommend|5\s+stars|five\s+stars|10/10)\b",
)
# A problem that has been solved ("sorted out my replacement", "refunded me", "arrived today"):
# told as thanks, it is praise, not a complaint. Ignored when a negation comes just before it.
_RESOLVED = re.compile(
    r"\b(?:sorted|fixed|resolved|solved|replaced|refunded)\b|\bfor\s+(?:sorting|fixing|resolving|replacing|repairing|"
    r"refunding)\b"
    r"|\b(?:arrived|came|delivered)\s+(?:today|this\s+morning|yesterday|early|quickly|on\s+time|safely|"
    r"in\s+(?:one\s+piece|perfect\s+condition))\b"
    r"|\b(?:quick|fast|speedy|prompt|swift)\s+(?:response|reply|delivery|service|turnaround|fix|help)\b"
    r"|\babove\s+and\s+beyond\b|\bthanks?\s+(?:you\s+)?for\s+(?:the|your)\s+(?:help|support|quick)\b",
)
# Words just before a resolution that make it negated or not yet real ("not fixed", "need it replaced").
_NEGATED_BEFORE = re.compile(
    r"(?:\b(?:not|nt|never|no|yet|nothing|nobody|need|needs|want|wants|how|when|if)|n't|"
    r"\b(?:cant|wont|dont|didnt|isnt|wasnt|hasnt|havent|arent|still))\W+(?:\w+\W+){0,2}$"
    r"|\b(?:to|be|get|getting)\W+$"
)
_SPAM_STRONG = re.compile(
    r"\b(?:dm|message|inbox|text|whatsapp|telegram)\s+(?:me\s+)?(?:for|to\s+(?:get|earn|buy|know|join))\b"
    r"|\b(?:buy|get|cheap|real|instant|gain|grow)\s+(?:\d+k?\s+)?(?:(?:instagram|insta|ig|twitter|tiktok|youtube|"
    r"facebook|fb|real|active|organic|genuine|targeted)\s+)?(?:followers|likes|subscribers|views|retweets)\b"
    r"|\byou(?:'ve|\s+have)\s+(?:been\s+selected|won)\b|\bclaim\s+(?:it\s+|yours\s+)?(?:here|now)\b"
    r"|\b(?:message|contact|text|dm|write\s+to|reach)\s+(?:him|her|me|us|them)\s+(?:on|via)\s+(?:whatsapp|telegram|"
    r"signal|wickr|snapchat|instagram)\b|\bmade\s+me\s+(?:rich|a\s+millionaire)\b"
    r"|\bguaranteed\s+(?:\d+\s*%\s+)?(?:daily\s+|weekly\s+|monthly\s+)?(?:returns?|profits?|income)\b"
    r"|\b(?:followers|likes)\s+for\s+(?:sale|cheap)\b|\bcheck\s+(?:out\s+)?my\s+(?:bio|profile|page|channel)\b"
    r"|\blink\s+in\s+(?:my\s+)?bio\b|\b(?:bitcoin|btc|ethereum|eth|crypto|nft|airdrop|forex|usdt|binance|"
    r"dogecoin|memecoin|presale)\b|\bbinary\s+options?\b|\b(?:earn|make)\s+(?:\$|£|€)?\d+[k]?\b"
    r"|\bwork\s+from\s+home\b|\bonlyfans\b|\b100x\b|\bpassive\s+income\b|\bget\s+rich\b"
    r"|\bfollow\s+(?:me\s+)?(?:back|for\s+follow)\b|\bf4f\b|\bl4l\b",
)
_SPAM_PROMO = re.compile(
    r"\b(?:free|giveaway|win|winner|prize|discount|coupon|promo(?:\s+code)?|deal|offer|limited|click|congratulations|"
    r"congrats|gift\s+card|voucher|"
    r"buy\s+now|shop\s+now|sign\s+up|subscribe|cash|investment|invest|profit|bonus|sale)\b|\d+\s*%\s*off",
)
_PRAISE_EMOJI = re.compile("[❤😍🙏👍💯😊🥰]")
_URL = re.compile(r"https?://\S+|www\.\S+|\b\w+\.(?:com|net|org|io|ly|co|xyz|shop|biz)/\S*", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")

_NEGATION_GATE = GatedPattern(
    _NEGATION,
    [
        "not",
        "no",
        "never",
        "nothing",
        "nobody",
        "none",
        "nowhere",
        "neither",
        "nor",
        "without",
        "cant",
        "wont",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "havent",
        "hasnt",
        "couldnt",
        "shouldnt",
    ],
    ("n't",),
)
_GRIEVANCE_GATE = GatedPattern(
    _GRIEVANCE,
    [
        "why",
        "supposed",
        "promised",
        "should",
        "still",
        "again",
        "really",
        "seriously",
        "even",
        "please",
        "get",
        "sort",
        "no",
        "having",
        "tried",
        "trying",
        "any",
        "what",
        "this",
        "not",
        "never",
        "done",
        "fail",
        "failed",
        "fails",
        "disgraceful",
        "shameful",
        "outrageous",
        "appalling",
        "disgusting",
        "how",
    ],
)
_FIRST_PERSON_GATE = GatedPattern(_FIRST_PERSON, ["i", "im", "ive", "my", "me", "mine", "we", "our", "us"])
_PRAISE_GATE = GatedPattern(
    _PRAISE,
    [
        "thanks",
        "thank",
        "thx",
        "ty",
        "cheers",
        "love",
        "loved",
        "loves",
        "loving",
        "awesome",
        "amazing",
        "excellent",
        "brilliant",
        "fantastic",
        "wonderful",
        "superb",
        "outstanding",
        "great",
        "well",
        "kudos",
        "shout",
        "shoutout",
        "props",
        "impressed",
        "happy",
        "best",
        "perfect",
        "delicious",
        "legend",
        "legends",
        "hero",
        "heroes",
        "lifesaver",
        "incredible",
        "stunning",
        "flawless",
        "exceptional",
        "top",
        "favourite",
        "favorite",
        "recommend",
        "5",
        "five",
        "10",
    ],
    ("appreciat",),
)
_SPAM_STRONG_GATE = GatedPattern(
    _SPAM_STRONG,
    [
        "dm",
        "message",
        "inbox",
        "text",
        "whatsapp",
        "telegram",
        "buy",
        "get",
        "cheap",
        "real",
        "instant",
        "gain",
        "grow",
        "followers",
        "likes",
        "check",
        "link",
        "bitcoin",
        "btc",
        "ethereum",
        "eth",
        "crypto",
        "nft",
        "airdrop",
        "forex",
        "usdt",
        "binance",
        "dogecoin",
        "memecoin",
        "presale",
        "binary",
        "earn",
        "make",
        "work",
        "onlyfans",
        "100x",
        "passive",
        "follow",
        "f4f",
        "l4l",
        "selected",
        "won",
        "claim",
        "whatsapp",
        "signal",
        "wickr",
        "snapchat",
        "instagram",
        "rich",
        "millionaire",
        "guaranteed",
    ],
)
_SPAM_PROMO_GATE = GatedPattern(
    _SPAM_PROMO,
    [
        "free",
        "giveaway",
        "win",
        "winner",
        "prize",
        "discount",
        "coupon",
        "promo",
        "deal",
        "offer",
        "limited",
        "click",
        "buy",
        "shop",
        "sign",
        "subscribe",
        "cash",
        "investment",
        "invest",
        "profit",
        "bonus",
        "sale",
        "off",
        "congratulations",
        "congrats",
        "gift",
        "voucher",
    ],
)
_RESOLVED_GATE = GatedPattern(
    _RESOLVED,
    [
        "sorted",
        "fixed",
        "resolved",
        "solved",
        "replaced",
        "refunded",
        "sorting",
        "fixing",
        "resolving",
        "replacing",
        "repairing",
        "refunding",
        "arrived",
        "came",
        "delivered",
        "quick",
        "fast",
        "speedy",
        "prompt",
        "swift",
        "above",
        "thanks",
        "thank",
    ],
)
_REPEATED_PUNCT = re.compile(r"[!?]{2,}|\.{4,}")
_CAPS_WORD = re.compile(r"\b[A-Za-z]{2,}\b")
_UPPER_BYTES = bytes(range(65, 91))
_NAMED_GATES = (
    _NEGATION_GATE,
    _GRIEVANCE_GATE,
    _FIRST_PERSON_GATE,
    _PRAISE_GATE,
    _SPAM_STRONG_GATE,
    _SPAM_PROMO_GATE,
    _RESOLVED_GATE,
)
_ALL_GATES = GateSet((*_NAMED_GATES, *_PROBLEM_RULES))
_TOKEN = re.compile(r"[a-z0-9]+")


def caps_ratio(text: str) -> float:
    """Share of capitals among letters of 2+ letter words, links and mentions aside; 0 below 3 capitals."""
    encoded = text.encode("utf-8", "replace")
    if len(encoded) - len(encoded.translate(None, _UPPER_BYTES)) < 3:
        return 0.0
    stripped = _URL.sub(" ", text) if "/" in text or "www." in text.lower() else text
    if "@" in stripped:
        stripped = _MENTION.sub(" ", stripped)
    letters = "".join(_CAPS_WORD.findall(stripped)).encode("ascii")
    if len(letters) < 8:
        return 0.0
    return (len(letters) - len(letters.translate(None, _UPPER_BYTES))) / len(letters)


def resolved_count(lowered: str) -> int:
    """Count statements of a solved problem in lowercased text, skipping negated ones ("still not fixed")."""
    count = 0
    for match in _RESOLVED.finditer(lowered):
        if not _NEGATED_BEFORE.search(lowered, max(0, match.start() - 40), match.start()):
            count += 1
    return count


def spam_score(lowered: str, urls: int, counts: tuple[int, int] | None = None) -> float:
    """Spam likelihood 0..1 of lowercased text: strong cues 0.6 each, promo words 0.12 (0.25 with a link).

    `counts` (strong cues, promo words) can be passed when already computed.
    """
    if counts is None:
        words = words_of(lowered)
        counts = (_SPAM_STRONG_GATE.count(lowered, words), _SPAM_PROMO_GATE.count(lowered, words))
    strong, promo = counts
    score = 0.6 * strong + (0.25 if urls else 0.12) * promo + (0.15 if urls and (strong or promo) else 0.0)
    return min(1.0, score)


class KeywordMatcher:
    """Finds which of a configurable list of keywords or phrases occur in a text.

    Matching is on whole words, case-insensitive, ignoring punctuation: text and keywords are
    both reduced to runs of [a-z0-9], so "never arrived" matches "Never... arrived" and
    "e-mail" matches "e mail". Phrases are checked only when their first word is present.
    """

    def __init__(self, keywords: Sequence[str]) -> None:
        normalised = (" ".join(_TOKEN.findall(normalise(k))) for k in keywords)
        self.keywords: tuple[str, ...] = tuple(dict.fromkeys(k for k in normalised if k))
        self._single = frozenset(k for k in self.keywords if " " not in k)
        self._phrases: dict[str, tuple[str, ...]] = {}
        for phrase in (k for k in self.keywords if " " in k):
            first = phrase.split(" ", 1)[0]
            self._phrases[first] = (*self._phrases.get(first, ()), phrase)

    def find(self, text: str) -> tuple[str, ...]:
        """Return the distinct keywords found, in order of first appearance."""
        return self.find_in_tokens(_TOKEN.findall(normalise(text)))

    def find_in_tokens(self, tokens: list[str]) -> tuple[str, ...]:
        """Like `find`, for a text already split into [a-z0-9]+ tokens of its normalised form."""
        words = set(tokens)
        hits = [k for k in self._single if k in words]
        if self._phrases:
            padded = f" {' '.join(tokens)} "
            for first in words.intersection(self._phrases):
                hits.extend(p for p in self._phrases[first] if f" {p} " in padded)
        if len(hits) > 1:
            padded = f" {' '.join(tokens)} "
            hits.sort(key=lambda k: padded.index(f" {k} "))
        return tuple(hits)


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
            "resolved",
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
        lowered = normalise(text)
        tokens = _TOKEN.findall(lowered)
        words = frozenset(tokens)
        urls = len(_URL.findall(text)) if "/" in text or "www." in lowered else 0
        counts = _ALL_GATES.counts(lowered, words)
        negation, grievance, first_person, praise_words, spam_strong, spam_promo, resolved = counts[
            : len(_NAMED_GATES)
        ]
        if resolved:
            resolved = resolved_count(lowered)
        problem = sum(counts[len(_NAMED_GATES) :])
        keyword_hits = len(self._keywords.find_in_tokens(tokens))
        question = 1.0 if "?" in text or _QUESTION_OPENING.search(lowered) else 0.0
        sarcasm = 1.0 if not resolved and sarcasm_evidence(lowered, words) else 0.0
        # Praise wrapped around a harm is ironic: it does not count as praise.
        praise = (
            0 if sarcasm else praise_words + (len(_PRAISE_EMOJI.findall(text)) if not text.isascii() else 0)
        )
        repeated = len(_REPEATED_PUNCT.findall(text)) if "!" in text or "?" in text or "...." in text else 0
        return (
            float(problem),
            float(keyword_hits),
            float(negation),
            float(grievance + lowered.count("#fail")),
            1.0 if first_person else 0.0,
            question,
            float(praise),
            float(resolved),
            sarcasm,
            spam_score(lowered, urls, (spam_strong, spam_promo)),
            caps_ratio(text),
            float(repeated),
            float(len(_MENTION.findall(text))) if "@" in text else 0.0,
            float(urls),
        )
