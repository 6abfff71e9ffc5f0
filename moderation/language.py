"""Fast offline language detection: Unicode script first, then stopwords and diacritics for Latin.

Contract: `detect_language(text, hint)` returns `(code, confidence)` with an ISO 639-1 code
(or "und") and a confidence in 0..1. `detect_languages` is the batched form.

Decisions (documented because the classifier depends on them):
- A platform hint (X's `lang`) is trusted when present and meaningful: it is normalised
  ("en-GB" -> "en", X's legacy "in" -> "id", "iw" -> "he") and returned with confidence 0.9.
  X's non-language codes ("und", "qme", "zxx", "qht", "qam", "qct", "qst", "art") are ignored.
- URLs, @mentions, #hashtags and HTML entities are stripped before detection.
- Text with no letters left (emoji-only, punctuation, only links/mentions) is "und", 0.0.
- Latin-script text with letters but no stopword or diacritic evidence (e.g. "Refund??",
  "lol") is "en" with low confidence (0.35): the English lexicons are the best we have for it
  and the low confidence lets policy send it to humans when it matters.
- English wins ties, and another Latin language needs a full point of its own evidence
  (one word of its own, or two shared words) to beat it, so that a stray "de" or "la" in an
  English post does not flip it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

UNDETERMINED = "und"
_W = TypeVar("_W", str, bytes)

_IGNORED_HINTS = frozenset({"", "und", "qme", "zxx", "qht", "qam", "qct", "qst", "art", "xx"})
_HINT_ALIASES = {"in": "id", "iw": "he", "ji": "yi", "jw": "jv", "zh-cn": "zh", "zh-tw": "zh"}
_HINT_CONFIDENCE = 0.9
_DEFAULT_EN_CONFIDENCE = 0.35

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
_RUSSIAN_ONLY = re.compile(r"[ыэъё]", re.IGNORECASE)
_UKRAINIAN_ONLY = re.compile(r"[іїєґ]", re.IGNORECASE)
_BELARUSIAN_ONLY = re.compile(r"[ў]", re.IGNORECASE)
_SERBIAN_ONLY = re.compile(r"[јљњћђџ]", re.IGNORECASE)
_PERSIAN_ONLY = re.compile(r"[پچژگ]")
_URDU_ONLY = re.compile(r"[ٹڈڑےں]")

# Latin-script languages: frequent function words and greetings. A word may belong to several.
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
    "qué también hay fue era sin sobre todo nada bien ha han hemos todavía aún nunca usted",
    "fr": "le la les de des du et est un une que qui pas pour dans sur avec ce cette ces je tu il "
    "elle nous vous ils mon ma mes ne au aux mais ou où très bonjour merci suis c'est sont été c est "
    "avoir être fait plus rien toujours",
    "de": "der die das und ist nicht ein eine einen ich du er sie wir ihr mit von zu den dem des "
    "auf für fur ist sind war auch noch nur aber wie was wenn bei nach mein meine hallo danke "
    "bitte immer schon kein keine habe hat haben",
    "it": "il lo la gli le di che e è un una per non con sono mi ti si del della dei delle ma come "
    "anche ho ha hanno questo questa ciao grazie sempre ancora niente molto tutto perché quando",
    "pt": "o a os as de que e do da dos das em no na nos nas um uma para por com não nao se mais "
    "mas como eu você voce meu minha seu sua ele ela isso isto obrigado obrigada olá ola até "
    "também ainda nada muito foi está estou são",
    "nl": "de het een en is van dat niet ik je jij wij we zijn op te met voor maar ook nog al "
    "wat hoe waarom geen mijn hij zij ze heb heeft hebben dank bedankt hallo alsjeblieft "
    "altijd nooit niets wel",
    "pl": "i w z na nie że się to jest do jak ale co po tak za od o mnie mi jestem być był była "
    "moje mój moja już tylko bardzo dzień dobry dziękuję dzięki cześć jeszcze nic zawsze "
    "przez dla czy gdzie kiedy dlaczego proszę",
    "ro": "și si în in de la cu pe un o este nu să sa ce mai din pentru am ai sunt eu tu el "
    "ea noi voi lor foarte bună buna mulțumesc multumesc salut încă inca nimic totul dar "
    "când unde cum",
    "tr": "ve bir bu da de ne için icin ile çok cok ben sen o biz siz onlar değil degil var yok "
    "ama gibi daha sonra merhaba teşekkürler tesekkurler lütfen lutfen neden nasıl nerede "  # noqa: RUF001
    "hala hiç hic şey sey mı mu mü",  # noqa: RUF001
}
# Letters that only (or mostly) appear in one of the supported Latin languages.
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

_LATIN_LANGS: tuple[str, ...] = tuple(_STOPWORDS)
_WORD_SETS = {lang: frozenset(words.split()) for lang, words in _STOPWORDS.items()}
# Per language: words only it uses (weight 1) and words it shares with others (weight 0.5).
_OWN_WORDS: tuple[frozenset[str], ...] = tuple(
    frozenset(w for w in _WORD_SETS[lang] if not any(w in _WORD_SETS[o] for o in _LATIN_LANGS if o != lang))
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


def normalise_hint(hint: str | None) -> str | None:
    """Return the primary language subtag of a platform hint, or None when it is not a language."""
    if not hint:
        return None
    code = hint.strip().lower().replace("_", "-")
    if code in _HINT_ALIASES:
        return _HINT_ALIASES[code]
    primary = code.split("-", 1)[0]
    if primary in _IGNORED_HINTS or not primary.isalpha() or len(primary) > 3:
        return None
    return _HINT_ALIASES.get(primary, primary)


def strip_entities(text: str) -> str:
    """Remove URLs, @mentions, #hashtags and HTML entities, which carry no language."""
    return _STRIP.sub(" ", text)


def detect_language(text: str, hint: str | None = None) -> tuple[str, float]:
    """Detect the language of one text, returning (ISO 639-1 code or "und", confidence 0..1)."""
    hinted = normalise_hint(hint)
    if hinted is not None:
        return hinted, _HINT_CONFIDENCE
    if text.isascii():
        ascii_words = _ascii_words(text)
        return _score_latin(ascii_words, len(ascii_words), "", _ASCII_WORD_WEIGHTS)
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
            return _resolve_script(best_script, body), confidence
    return _score_latin(words, len(words), "".join(_DIACRITIC_CHARS.findall(lowered)), _WORD_WEIGHTS)


def detect_languages(
    texts: Sequence[str], hints: Sequence[str | None] | None = None
) -> list[tuple[str, float]]:
    """Detect the language of every text in a batch; `hints` (if given) aligns with `texts`."""
    if hints is None:
        return [detect_language(text) for text in texts]
    if len(hints) != len(texts):
        raise ValueError(f"hints has {len(hints)} items but texts has {len(texts)}")
    return [detect_language(text, hint) for text, hint in zip(texts, hints, strict=True)]


def _script_of(ch: str) -> str:
    """Return the non-Latin script a character belongs to, or "" (memoised per character)."""
    script = _SCRIPT_CACHE.get(ch)
    if script is None:
        script = next((name for name, pattern in _SCRIPTS if pattern.match(ch)), "")
        if len(_SCRIPT_CACHE) < 65536:
            _SCRIPT_CACHE[ch] = script
    return script


def _resolve_script(script: str, body: str) -> str:
    """Map a dominant non-Latin script to a language code."""
    if script == "cyrillic":
        if _BELARUSIAN_ONLY.search(body):
            return "be"
        if _UKRAINIAN_ONLY.search(body) and not _RUSSIAN_ONLY.search(body):
            return "uk"
        if _SERBIAN_ONLY.search(body):
            return "sr"
        return "ru"
    if script in ("han", "kana"):
        return "ja" if _SCRIPTS[2][1].search(body) else "zh"
    if script == "arabic":
        if _URDU_ONLY.search(body):
            return "ur"
        if _PERSIAN_ONLY.search(body):
            return "fa"
        return "ar"
    return script


def _ascii_words(text: str) -> list[bytes]:
    """Split ASCII text into lowercase letter-only words, dropping URLs, @mentions and #hashtags.

    Works on bytes with a translation table: faster than a Unicode regex tokenizer.
    """
    lowered = _ASCII_ENTITIES.sub(b" ", text.lower().encode("ascii"))
    return lowered.translate(_ASCII_LETTERS_ONLY).split()


def _score_latin(
    words: Sequence[_W],
    word_count: int,
    diacritics: str,
    weights: dict[_W, tuple[tuple[int, float], ...]],
) -> tuple[str, float]:
    """Score Latin-script words by stopwords (via `weights`) and diacritic letters."""
    if word_count == 0:
        return UNDETERMINED, 0.0
    distinct = weights.keys() & words
    scores = [0.0] * len(_LATIN_LANGS)
    for word in distinct:
        for index, weight in weights[word]:
            scores[index] += weight
    for ch in diacritics:
        scores[_CHAR_LANG[ch]] += 0.75
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
