"""Offline language detection: cheap script and word evidence first, lingua where it is ambiguous.

Contract: `detect_languages(texts, hints)` returns one `(code, confidence)` per text, with an
ISO 639-1 code (or "und") and a confidence in 0..1; `detect_language(text, hint)` is the
single form and equals the batched one. The texts the cheap stage cannot settle go to lingua
in one parallel call per batch.

Stages, in order (documented because the classifier and the policy depend on them):
- A platform hint (X's `lang`) is trusted when present and meaningful: it is normalised
  ("en-GB" -> "en", X's legacy "in" -> "id", "iw" -> "he") and returned with confidence 0.9.
  X's non-language codes ("und", "qme", "zxx", "qht", "qam", "qct", "qst", "art") are ignored.
- URLs, @mentions, #hashtags and HTML entities are stripped before detection.
- Text with no letters left (emoji-only, punctuation, only links/mentions) is "und", 0.0.
- A non-Latin script covering 30% of the letters decides without an n-gram model: Han (zh; ja
  when kana appear), Hangul, Arabic (ar, fa, ur by their letters), Greek, Hebrew, Thai,
  Devanagari... Cyrillic is settled by letters only one language uses (`_CYRILLIC_MARKERS`:
  ы э ё are Russian, ў Belarusian...), then by words only one of ru, uk, bg uses
  (`_CYRILLIC_WORDS`); the rest goes to lingua, and stays "ru" when lingua is unsure.
- Latin script is scored on frequent words (function words, greetings, words customers use)
  and diacritics of en, es, fr, de, it, pt, nl, pl, ro, tr. English wins ties, and another
  language needs a full point of its own evidence (one word of its own, or two shared words)
  to beat it, so that a stray "de" or "la" in an English post does not flip it. A message that
  mixes languages belongs to the other one when it has two points and English less than 1.5
  times as many ("Zamówienie nie dotarło, you are fucking idiots" is Polish): a customer who
  swears in English is still writing in their language, and the English lexicons would read
  only the half that insults. English with a point of evidence is settled here, as is short
  text: 99.3% of the English dev tweets never reach lingua.
- The rest goes to lingua (lingua-language-detector, low-accuracy mode, `DETECTOR_LANGUAGES`):
  - the cheap stage named another language: kept when lingua agrees, when its evidence is
    strong (two points from its words and from letters no other detector language uses,
    `_MARKER_LETTERS`), or when lingua is unsure; English when lingua gives English 0.6 ("Girl who used tumblr?¿?¿"); lingua's
    choice when it names another word-listed language scoring within half a point ("t'es":
    fr, not es), or a language without a word list with 0.5 when the evidence is mere shared
    letters or words (`_UNLISTED_LETTERS`, `_UNLISTED_WORDS`: "moje" does not make Czech
    Polish, nor ä Finnish German), 0.95 when a word of the cheap language is there, and never
    when English words are (they mislead lingua about the rest);
  - English without any English word: lingua may name another language for text of at least
    4 words and 20 letters when it gives English at most 0.05 and its choice at least 0.5
    ("Pesanan saya belum sampai juga" is Indonesian);
  - otherwise short Latin text with no evidence ("Refund??", "lol", "slay") is "en" with low
    confidence (0.35): the English lexicons are the best we have for it, and the low
    confidence lets policy send it to humans when it matters.

Why this split, measured on the English dev tweets (16,959) and on hand-written messages in
30 languages: lingua alone calls English tweets something else ("Wow!!" Polish, "Dominos is
ass" Portuguese, "slay" Turkish): 8.5% of the complaint tweets and 9.2% of the offensive ones
in low-accuracy mode, 1.8% and 1.9% in high-accuracy mode, where this module is at 0.17% and
0.04% (before lingua: 0.17% and 0.05%; several are Portuguese or French tweets). The
high-accuracy mode also takes about 2 s and 290 MB to load ten Latin languages' models, with
the GIL held (it cannot overlap scoring), in every worker process, and `tactful classify`
must stay above 3,000 texts/s with start-up; the low-accuracy mode takes about 0.3 s and
50 MB for all of `DETECTOR_LANGUAGES`, loaded on the first ambiguous Latin text. It is weak on
short text (lingua says so for under 120 characters): hence word evidence decides short text
and lingua decides what the word lists do not know. The detector is built lazily, once per
process, under a lock; lingua's detector is thread-safe.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from lingua import Language, LanguageDetector

UNDETERMINED = "und"
_W = TypeVar("_W", str, bytes)

_IGNORED_HINTS = frozenset({"", "und", "qme", "zxx", "qht", "qam", "qct", "qst", "art", "xx"})
_HINT_ALIASES = {"in": "id", "iw": "he", "ji": "yi", "jw": "jv", "zh-cn": "zh", "zh-tw": "zh"}
_HINT_CONFIDENCE = 0.9
_DEFAULT_EN_CONFIDENCE = 0.35

# Languages the lingua detector chooses among. Latin: the word-listed ones plus European and
# Asian languages brands hear from, without the small languages that mostly steal English slang
# (Tagalog, Welsh, Irish, Albanian, Icelandic, Afrikaans...). Cyrillic: those that look alike.
# The others are settled by their script and never reach lingua; they are listed so that the
# detector knows them, at no cost (lingua loads a language's model on first use only).
LATIN_DETECTOR_LANGUAGES: tuple[str, ...] = (
    "en", "es", "de", "fr", "it", "pt", "nl", "pl", "ro", "tr", "sv", "da", "nb", "fi", "cs",
    "sk", "hu", "id", "vi", "hr", "sl", "lt", "lv", "et", "ca",
)  # fmt: skip
CYRILLIC_DETECTOR_LANGUAGES: tuple[str, ...] = ("ru", "uk", "be", "bg", "sr", "mk", "kk")
DETECTOR_LANGUAGES: tuple[str, ...] = (
    *LATIN_DETECTOR_LANGUAGES,
    *CYRILLIC_DETECTOR_LANGUAGES,
    "zh", "ja", "ko", "ar", "fa", "hi", "el", "he", "th",
)  # fmt: skip

# Gates for trusting lingua (see the module docstring).
_LINGUA_MIN_WORDS = 4
_LINGUA_MIN_LETTERS = 20
_LINGUA_MIN_TOP = 0.5  # lingua's probability of the language it names
_LINGUA_MAX_ENGLISH = 0.05  # lingua's probability of English, to name another language alone
_LINGUA_ENGLISH_VETO = 0.6  # lingua's probability of English, to overrule weak word evidence
_LINGUA_OVERRULE = 0.95  # lingua's probability of a language without a word list, to overrule one
_CYRILLIC_MIN_LETTERS = 12

_STRIP = re.compile(r"https?://\S+|www\.\S+|[@#][^\s@#]+|&[a-z]+;|&#\d+;", re.IGNORECASE)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_SCRIPT_CACHE: dict[str, str] = {}
_WORD = re.compile(r"[^\W\d_]+")

# Non-Latin scripts: (code or special marker, character class).
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("cyrillic", re.compile(r"[\u0400-\u04ff]")),
    ("han", re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")),
    ("kana", re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")),
    ("arabic", re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")),
    ("el", re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
    ("bn", re.compile(r"[\u0980-\u09ff]")),
    ("ta", re.compile(r"[\u0b80-\u0bff]")),
    ("ka", re.compile(r"[\u10a0-\u10ff]")),
    ("hy", re.compile(r"[\u0530-\u058f]")),
)
# Cyrillic letters that only one of the Cyrillic languages uses (checked in this order).
_CYRILLIC_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("be", re.compile(r"[ў]", re.IGNORECASE)),
    ("kk", re.compile(r"[әғқңөұүһ]", re.IGNORECASE)),
    ("mk", re.compile(r"[ѓќѕ]", re.IGNORECASE)),
    ("sr", re.compile(r"[јљњћђџ]", re.IGNORECASE)),
    ("ru", re.compile(r"[ыэё]", re.IGNORECASE)),
    ("uk", re.compile(r"[іїєґ]", re.IGNORECASE)),
)
_PERSIAN_ONLY = re.compile(r"[پچژگ]")
_URDU_ONLY = re.compile(r"[ٹڈڑےں]")

# Latin-script languages: frequent function words, greetings and words customers use
# (complaints, insults). A word may belong to several. Words are checked against the English
# dev tweets: none here may be common in English ("soy", "ty", "lan" were left out).
_STOPWORDS: dict[str, str] = {
    "en": "the and you your is are was were to of my me it this that for with have has had not but "
    "what why how when where can could would should will just been be do does did don doesn didn "
    "isn wasn won cant dont im ive its on at from they them their our we us about there here get "
    "got please thanks thank hi hello a an i all any still again if or so than too very out up "
    "no yes who which die after before because being into over only some such then these those "
    "he she him her his hers im u ur lol omg love like people know think good time now one day "
    "make going want go see need really right well never more much also even back way new "
    "today am guys hell oh ya yeah gonna wanna ain let most in as by em",
    "es": "el la los las de que y en un una es por con para no se lo le del al como pero más mas "
    "muy ya mi mis su sus tu yo esta está este esto son estoy hola gracias porque cuando donde "
    "qué también hay fue era sin sobre todo nada bien ha han hemos todavía aún nunca usted "
    "eres sois somos unos unas quiero tengo tiene nadie mierda hijos puta pedido dinero devolver "
    "ladrones vez funciona",
    "fr": "le la les de des du et est un une que qui pas pour dans sur avec ce cette ces je tu il "
    "elle nous vous ils mon ma mes ne au aux mais ou où très bonjour merci suis sont été est "
    "avoir être fait plus rien toujours vraiment votre vos commande personne putain merde argent "
    "colis marche",
    "de": "der die das und ist nicht ein eine einen ich du er sie wir ihr mit von zu den dem des "
    "auf für fur ist sind war auch noch nur aber wie was wenn bei nach mein meine hallo danke "
    "bitte immer schon kein keine habe hat haben bist seid geld bestellung keiner niemand scheiße "
    "scheiß arschloch paket funktioniert",
    "it": "il lo la gli le di che e è un una per non con sono mi ti si del della dei delle ma come "
    "anche ho ha hanno questo questa ciao grazie sempre ancora niente molto tutto perché quando "
    "sei siete proprio voglio mio mia miei soldi ordine nessuno cazzo vaffanculo pacco funziona",
    "pt": "o a os as de que e do da dos das em no na nos nas um uma para por com não nao se mais "
    "mas como eu você voce meu minha seu sua ele ela isso isto obrigado obrigada olá ola até "
    "também ainda nada muito foi está estou são vocês voces cadê cade dinheiro ninguém ninguem "
    "porra caralho encomenda pedido vez sei",
    "nl": "de het een en is van dat niet ik je jij wij we zijn op te met voor maar ook nog al "
    "wat hoe waarom geen mijn hij zij ze heb heeft hebben dank bedankt hallo alsjeblieft "
    "altijd nooit niets wel jullie bestelling geld niemand werkt pakket",
    "pl": "i w z na nie że się to jest do jak ale co po tak za od o mnie mi jestem być był była "
    "moje mój moja już tylko bardzo dzień dobry dziękuję dzięki cześć jeszcze nic zawsze "
    "przez dla czy gdzie kiedy dlaczego proszę kurwa spierdalaj jesteś jesteście wasz wasza "
    "zamówienie paczka nikt pieniądze znowu działa",
    "ro": "și si în in de la cu pe un o este nu să sa ce mai din pentru am ai sunt eu tu el "
    "ea noi voi lor foarte bună buna mulțumesc multumesc salut încă inca nimic totul dar "
    "când unde cum ești esti sunteți sunteti comanda coletul bani banii nimeni vreau nici deloc",
    "tr": "ve bir bu da de ne için icin ile çok cok ben sen o biz siz onlar değil degil var yok "
    "ama gibi daha sonra merhaba teşekkürler tesekkurler lütfen lutfen neden nasıl nerede "  # noqa: RUF001
    "hala hiç hic şey sey mı mu mü paramı sipariş siparis siparişim kimse amk kargo kargom",  # noqa: RUF001
}
# Letters that only (or mostly) appear in one of the word-listed Latin languages.
_DIACRITICS: dict[str, str] = {
    "es": "ñ¿¡",
    "fr": "œèêëàùûç",
    "de": "ßäöü",
    "it": "ìò",
    "pt": "ãõ",
    "pl": "łąęśźżńć",
    "ro": "ășțâî",
    "tr": "ğışİ",
    "nl": "ĳ",
}
# Those of them no other language of `LATIN_DETECTOR_LANGUAGES` uses: evidence that lingua's
# low-accuracy mode does not overrule (ä ö ü are Swedish, Finnish, Hungarian... too).
_MARKER_LETTERS = frozenset("ñ¿¡œßłąęśźżńșțğı")
_STRONG_EVIDENCE = 2.0  # points (words and marker letters) that lingua does not overrule
# Letters of the detector's other Latin languages that no word-listed language uses: with one
# of them, the word evidence may belong to a neighbour ("moje", "mi", "to" are Czech too).
_UNLISTED_LETTERS = re.compile("[řůěčšťďňľĺŕžýåøæőűāēīūļķņģėįųđ]")
# Frequent words of those languages (none is a listed word, none common in English tweets):
# with one of them, a listed word ("paket", "er") is no evidence either.
_UNLISTED_WORD_TEXT = (
    "och inte jag det har ikke jeg ikkje eller hvor hvad hva minä että mutta kiitos jsem není jsme "
    "prosím děkuji ďakujem nem és hogy egy köszönöm saya tidak yang belum sudah terima kasih "
    "không của và tôi được nije hvala kaj jaz taip labai ačiū nav paldies aitäh meva encara moltes "
    "gràcies perquè"
)
_UNLISTED_WORDS: frozenset[str | bytes] = frozenset(
    [*_UNLISTED_WORD_TEXT.split(), *(w.encode("ascii") for w in _UNLISTED_WORD_TEXT.split() if w.isascii())]
)
# A message that mixes English with another language is that language's when the other has
# strong evidence and English under this many times as much: a Polish customer who swears
# in English is still Polish, and English lexicons would read only half of the message.
_MIXED_ENGLISH_RATIO = 1.5

# Cyrillic words that tell Russian, Ukrainian and Bulgarian apart when no letter does (a word
# in more than one list tells nothing and is dropped).
_CYRILLIC_WORD_LISTS: dict[str, str] = {
    "ru": "что это как где можно спасибо здравствуйте почему когда уже мне меня если только очень "
    "сейчас заказ деньги опять нет",
    "uk": "що це як де можна дякую вітаю чому коли вже мені мене якщо тільки дуже зараз замовлення "
    "гроші знову ні",
    "bg": "какво това къде може благодаря защо кога вече ми много сега поръчка поръчката пари пак е",  # noqa: RUF001
}
_CYRILLIC_WORDS: dict[str, frozenset[str]] = {
    code: frozenset(
        word
        for word in words.split()
        if not any(word in other.split() for key, other in _CYRILLIC_WORD_LISTS.items() if key != code)
    )
    for code, words in _CYRILLIC_WORD_LISTS.items()
}

_LATIN_LANGS: tuple[str, ...] = tuple(_STOPWORDS)
_WORD_SETS = {lang: frozenset(words.split()) for lang, words in _STOPWORDS.items()}
# Per language: words only it uses (weight 1) and words it shares with others (weight 0.5).
# One-letter words weigh 0.5 even when only one list has them: "y", "w", "z" are English
# chat too ("y u do this", "w/ friends").
_OWN_WORDS: tuple[frozenset[str], ...] = tuple(
    frozenset(
        w
        for w in _WORD_SETS[lang]
        if len(w) > 1 and not any(w in _WORD_SETS[o] for o in _LATIN_LANGS if o != lang)
    )
    for lang in _LATIN_LANGS
)
_WORD_WEIGHTS: dict[str, tuple[tuple[int, float], ...]] = {
    word: tuple(
        (index, 1.0 if word in _OWN_WORDS[index] else 0.5)
        for index, lang in enumerate(_LATIN_LANGS)
        if word in _WORD_SETS[lang]
    )
    for word in frozenset().union(*_WORD_SETS.values())
}
_ASCII_WORD_WEIGHTS: dict[bytes, tuple[tuple[int, float], ...]] = {
    word.encode("ascii"): weights for word, weights in _WORD_WEIGHTS.items() if word.isascii()
}
_ASCII_LETTERS_ONLY = bytes(c if 97 <= c <= 122 else 32 for c in range(256))
_ASCII_ENTITIES = re.compile(rb"[@#&]\S*|https?://\S*|www\.\S*")
_CHAR_LANG: dict[str, int] = {
    ch: _LATIN_LANGS.index(lang) for lang, chars in _DIACRITICS.items() for ch in chars
}
_DIACRITIC_CHARS = re.compile("[" + "".join(sorted(_CHAR_LANG)) + "]")
_EN = 0


@dataclass(frozen=True, slots=True)
class _Pending:
    """A text the cheap stage could not settle: what lingua needs, and what to fall back on.

    `scores` holds the Latin word/diacritic points per `_LATIN_LANGS` (empty for Cyrillic);
    `evidence` the points of the fallback language from its words and marker letters only.
    """

    body: str
    fallback: tuple[str, float]
    scores: tuple[float, ...]
    evidence: float
    words: int
    letters: int


def normalise_hint(hint: str | None) -> str | None:
    """Return the primary language subtag of a platform hint, or None when it is not a language."""
    if not hint:
        return None
    code = hint.strip().lower().replace("_", "-")
    if code in _HINT_ALIASES:
        return _HINT_ALIASES[code]
    primary = code.split("-", 1)[0]
    if primary in _IGNORED_HINTS or not primary.isalpha() or not 2 <= len(primary) <= 3:
        return None
    return _HINT_ALIASES.get(primary, primary)


def strip_entities(text: str) -> str:
    """Remove URLs, @mentions, #hashtags and HTML entities, which carry no language."""
    return _STRIP.sub(" ", text)


def detect_language(text: str, hint: str | None = None) -> tuple[str, float]:
    """Detect the language of one text, returning (ISO 639-1 code or "und", confidence 0..1)."""
    return detect_languages([text], [hint])[0]


def detect_languages(
    texts: Sequence[str], hints: Sequence[str | None] | None = None
) -> list[tuple[str, float]]:
    """Detect the language of every text in a batch; `hints` (if given) aligns with `texts`."""
    if hints is not None and len(hints) != len(texts):
        raise ValueError(f"hints has {len(hints)} items but texts has {len(texts)}")
    results: list[tuple[str, float]] = []
    pending: list[tuple[int, _Pending]] = []
    for index, text in enumerate(texts):
        hinted = normalise_hint(hints[index]) if hints is not None else None
        outcome = (hinted, _HINT_CONFIDENCE) if hinted is not None else _cheap(text)
        if isinstance(outcome, _Pending):
            pending.append((index, outcome))
            outcome = outcome.fallback
        results.append(outcome)
    if pending:
        distributions = lingua_probabilities([item.body for _, item in pending])
        for (index, item), probabilities in zip(pending, distributions, strict=True):
            results[index] = _resolve(item, probabilities)
    return results


def lingua_probabilities(texts: Sequence[str]) -> list[dict[str, float]]:
    """Return lingua's probability of each of `DETECTOR_LANGUAGES` (non-zero ones) for each text."""
    detector = _detector()
    if len(texts) == 1:
        rows = [detector.compute_language_confidence_values(texts[0])]
    else:
        rows = detector.compute_language_confidence_values_in_parallel(list(texts))
    codes = _lingua_codes()
    return [{codes[value.language]: value.value for value in row if value.value > 0.0} for row in rows]


_PRELOAD_TEXTS = (
    "the parcel still has not arrived and nobody answers",
    "el paquete todavía no ha llegado y nadie contesta",
    "посылка до сих пор не пришла и никто не отвечает",
    "包裹还没有到达也没有人回答",
)


def preload_detector() -> None:
    """Build lingua's detector and load its models now rather than on the first ambiguous batch."""
    lingua_probabilities(_PRELOAD_TEXTS)


class _DetectorHolder:
    """The process-wide lingua detector and its code map, built on first use under a lock."""

    lock = threading.Lock()
    detector: LanguageDetector | None = None
    codes: dict[Language, str] = {}


def _detector() -> LanguageDetector:
    """Return the process-wide lingua detector, building it on first use (thread-safe)."""
    detector = _DetectorHolder.detector
    if detector is None:
        with _DetectorHolder.lock:
            detector = _DetectorHolder.detector
            if detector is None:
                detector, _DetectorHolder.codes = _build_detector()
                _DetectorHolder.detector = detector
    return detector


def _build_detector() -> tuple[LanguageDetector, dict[Language, str]]:
    """Build lingua's low-accuracy detector for `DETECTOR_LANGUAGES`, with its language -> code map.

    Cheap (lingua loads each language's model on first use); imported here so that processes
    that never meet an ambiguous text never import lingua.
    """
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    isos = [IsoCode639_1.from_str(code) for code in DETECTOR_LANGUAGES]
    codes = {
        Language.from_iso_code_639_1(iso): code for iso, code in zip(isos, DETECTOR_LANGUAGES, strict=True)
    }
    return LanguageDetectorBuilder.from_iso_codes_639_1(*isos).with_low_accuracy_mode().build(), codes


def _lingua_codes() -> dict[Language, str]:
    """Return the map from lingua's languages to our codes (built with the detector)."""
    _detector()
    return _DetectorHolder.codes


def _cheap(text: str) -> tuple[str, float] | _Pending:
    """Settle a text by script and word evidence, or return what lingua needs to settle it."""
    if text.isascii():
        ascii_words = _ascii_words(text)
        return _latin(text, None, ascii_words, _latin_scores(ascii_words, "", _ASCII_WORD_WEIGHTS))
    body = strip_entities(text)
    lowered = body.lower()
    words = _WORD.findall(lowered)
    letters = sum(map(len, words))
    if letters == 0:
        return UNDETERMINED, 0.0
    counts: dict[str, int] = {}
    for ch in _NON_ASCII.findall(body):
        script = _script_of(ch)
        if script:
            counts[script] = counts.get(script, 0) + 1
    if counts:
        best_script = max(counts, key=counts.__getitem__)
        best_count = counts[best_script]
        if best_count * 10 >= letters * 3:
            confidence = round(min(0.95, 0.6 + 0.35 * best_count / letters), 3)
            if best_script == "cyrillic":
                return _cyrillic(body, confidence, len(words), letters)
            return _resolve_script(best_script, body), confidence
    diacritics = "".join(_DIACRITIC_CHARS.findall(lowered))
    scores = _latin_scores(words, diacritics, _WORD_WEIGHTS)
    evidence = scores
    if diacritics:
        weak = "".join(ch for ch in diacritics if ch not in _MARKER_LETTERS)
        evidence = [a - b for a, b in zip(scores, _latin_scores((), weak, _WORD_WEIGHTS), strict=True)]
    return _latin(text, body, words, scores, evidence, _UNLISTED_LETTERS.search(lowered) is not None)


def _script_of(ch: str) -> str:
    """Return the non-Latin script a character belongs to, or "" (memoised per character)."""
    script = _SCRIPT_CACHE.get(ch)
    if script is None:
        script = next((name for name, pattern in _SCRIPTS if pattern.match(ch)), "")
        if len(_SCRIPT_CACHE) < 65536:
            _SCRIPT_CACHE[ch] = script
    return script


def _resolve_script(script: str, body: str) -> str:
    """Map a dominant non-Latin, non-Cyrillic script to a language code."""
    if script in ("han", "kana"):
        return "ja" if _SCRIPTS[2][1].search(body) else "zh"
    if script == "arabic":
        if _URDU_ONLY.search(body):
            return "ur"
        if _PERSIAN_ONLY.search(body):
            return "fa"
        return "ar"
    return script


def _cyrillic(body: str, confidence: float, words: int, letters: int) -> tuple[str, float] | _Pending:
    """Settle Cyrillic text by letters only one language uses; otherwise ask lingua (default ru)."""
    for code, pattern in _CYRILLIC_MARKERS:
        if pattern.search(body):
            return code, confidence
    present = frozenset(_WORD.findall(body.lower()))
    hits = {code: len(present & vocabulary) for code, vocabulary in _CYRILLIC_WORDS.items()}
    ranked = sorted(hits.values(), reverse=True)
    if ranked[0] > ranked[1]:
        return max(hits, key=hits.__getitem__), confidence
    return _Pending(body, ("ru", min(confidence, 0.6)), (), 0.0, words, letters)


def _ascii_words(text: str) -> list[bytes]:
    """Split ASCII text into lowercase letter-only words, dropping URLs, @mentions and #hashtags.

    Works on bytes with a translation table: faster than a Unicode regex tokenizer.
    """
    lowered = _ASCII_ENTITIES.sub(b" ", text.lower().encode("ascii"))
    return lowered.translate(_ASCII_LETTERS_ONLY).split()


def _latin_scores(
    words: Sequence[_W], diacritics: str, weights: dict[_W, tuple[tuple[int, float], ...]]
) -> list[float]:
    """Points per `_LATIN_LANGS` language from its words (via `weights`) and diacritic letters."""
    scores = [0.0] * len(_LATIN_LANGS)
    for word in weights.keys() & words:
        for index, weight in weights[word]:
            scores[index] += weight
    for ch in diacritics:
        scores[_CHAR_LANG[ch]] += 0.75
    return scores


def _latin(
    text: str,
    body: str | None,
    words: Sequence[_W],
    scores: list[float],
    evidence: list[float] | None = None,
    unlisted_letters: bool = False,
) -> tuple[str, float] | _Pending:
    """Settle Latin text from its word scores, or defer to lingua when the evidence is ambiguous.

    `evidence` is `scores` without the letters other languages share (None: the same);
    `unlisted_letters` says the text has letters of a language without a word list: then,
    as with one of `_UNLISTED_WORDS`, the word evidence is no evidence against lingua.
    """
    word_count = len(words)
    if word_count == 0:
        return UNDETERMINED, 0.0
    evidence = scores if evidence is None else evidence
    verdict = _score_latin(scores, word_count)
    english = scores[_EN]
    if verdict[0] == "en":
        other = max(evidence[1:])
        if other >= _STRONG_EVIDENCE and english < _MIXED_ENGLISH_RATIO * other:
            verdict = _LATIN_LANGS[evidence.index(other, 1)], round(min(0.7, 0.3 + 0.1 * other), 3)
        elif english >= 1.0 or not _long_enough(word_count, sum(map(len, words))):
            return verdict  # lingua could not overrule English here (see `_resolve_latin`)
    unlisted = unlisted_letters or not _UNLISTED_WORDS.isdisjoint(words)
    points = evidence[_LATIN_LANGS.index(verdict[0])] if verdict[0] != "en" and not unlisted else 0.0
    if points >= _STRONG_EVIDENCE:
        return verdict  # nor this
    return _Pending(
        strip_entities(text) if body is None else body,
        verdict,
        tuple(scores),
        points,
        word_count,
        sum(map(len, words)),
    )


def _score_latin(scores: list[float], word_count: int) -> tuple[str, float]:
    """Pick the Latin language with the most points (English on ties) and a confidence."""
    top = max(scores)
    best = scores.index(top)
    english = scores[_EN]
    if top <= 0.0:
        return "en", _DEFAULT_EN_CONFIDENCE
    if best != _EN and (top <= english or top < 1.0):
        best, top = _EN, english
        if top <= 0.0:
            return "en", _DEFAULT_EN_CONFIDENCE
    ordered = sorted(scores)
    runner_up = ordered[-2] if ordered[-1] == top else ordered[-1]
    margin = (top - runner_up) / top
    coverage = min(1.0, top / max(3.0, word_count * 0.25))
    confidence = 0.3 + 0.65 * (0.5 * margin + 0.5 * coverage)
    return _LATIN_LANGS[best], round(min(0.95, confidence), 3)


def _long_enough(words: int, letters: int) -> bool:
    """Whether a Latin text is long enough for lingua's low-accuracy mode to name a language alone."""
    return words >= _LINGUA_MIN_WORDS and letters >= _LINGUA_MIN_LETTERS


def _resolve(item: _Pending, probabilities: dict[str, float]) -> tuple[str, float]:
    """Combine the cheap stage's evidence with lingua's probabilities into the final answer."""
    if not probabilities:
        return item.fallback
    top = max(probabilities, key=probabilities.__getitem__)
    top_probability = probabilities[top]
    if not item.scores:  # Cyrillic without a telling letter
        if top_probability >= _LINGUA_MIN_TOP and item.letters >= _CYRILLIC_MIN_LETTERS:
            return top, _lingua_confidence(top_probability)
        return item.fallback
    return _resolve_latin(item, probabilities, top, top_probability)


def _resolve_latin(
    item: _Pending, probabilities: dict[str, float], top: str, top_probability: float
) -> tuple[str, float]:
    """Latin text: word evidence decides short text, lingua settles what the word lists cannot."""
    code, confidence = item.fallback
    english_probability = probabilities.get("en", 0.0)
    if code != "en":
        if top == code:
            return code, max(confidence, _lingua_confidence(top_probability))
        if item.evidence >= _STRONG_EVIDENCE:
            return code, confidence
        if top == "en" and english_probability >= _LINGUA_ENGLISH_VETO:
            return "en", _DEFAULT_EN_CONFIDENCE
        if top_probability < _LINGUA_MIN_TOP or top == "en":
            return code, confidence
        if top in _LATIN_LANGS:
            # Another word-listed language: lingua breaks a near tie ("t'es": es or fr?).
            if item.scores[_LATIN_LANGS.index(top)] >= item.scores[_LATIN_LANGS.index(code)] - 0.5:
                return top, _lingua_confidence(top_probability)
        elif (
            # a word of the cheap language (not shared with one lingua names) takes more to overrule
            top_probability >= (_LINGUA_OVERRULE if item.evidence >= 1.0 else _LINGUA_MIN_TOP)
            and item.scores[_EN] < 1.0  # English words mislead lingua about the rest
            and _long_enough(item.words, item.letters)
        ):
            return top, _lingua_confidence(top_probability)
        return code, confidence
    if (
        top != "en"
        and top_probability >= _LINGUA_MIN_TOP
        and english_probability <= _LINGUA_MAX_ENGLISH
        and item.scores[_EN] < 1.0
        and _long_enough(item.words, item.letters)
    ):
        return top, _lingua_confidence(top_probability)
    return code, confidence


def _lingua_confidence(probability: float) -> float:
    """Our confidence in a language named by lingua's low-accuracy mode (0.4..0.85)."""
    return round(min(0.85, 0.35 + 0.5 * probability), 3)
