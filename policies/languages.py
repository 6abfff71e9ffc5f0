"""Language codes a policy may use: the ISO 639-1 codes the language detector reports, and common mistakes."""

from __future__ import annotations

import difflib

_CODES = """
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de
    dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id
    ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu
    lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu
    rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr
    ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
"""

#: Every ISO 639-1 code; the detector (moderation.language) reports one of these or "und".
ISO_639_1 = frozenset(_CODES.split())

#: The detector's code for text whose language it cannot tell (usable in conditions only).
UNDETERMINED = "und"

#: Codes people write for a language that are not its ISO 639-1 code (639-2 codes, countries, old codes).
COMMON_MISTAKES = {
    "eng": "en",
    "spa": "es",
    "esp": "es",
    "ger": "de",
    "deu": "de",
    "fre": "fr",
    "fra": "fr",
    "pol": "pl",
    "rum": "ro",
    "ron": "ro",
    "rus": "ru",
    "chi": "zh",
    "zho": "zh",
    "cn": "zh",
    "jpn": "ja",
    "jp": "ja",
    "kor": "ko",
    "por": "pt",
    "ita": "it",
    "ukr": "uk",
    "ua": "uk",
    "dut": "nl",
    "nld": "nl",
    "tur": "tr",
    "ara": "ar",
    "gr": "el",
    "gre": "el",
    "ell": "el",
    "cz": "cs",
    "cze": "cs",
    "ces": "cs",
    "dk": "da",
    "dan": "da",
    "swe": "sv",
    "nor": "no",
    "fin": "fi",
    "hun": "hu",
    "heb": "he",
    "iw": "he",
    "in": "id",
    "ind": "id",
    "ji": "yi",
    "jw": "jv",
    "vie": "vi",
    "hin": "hi",
    "tha": "th",
    "per": "fa",
    "fas": "fa",
}


#: Language names people write instead of codes.
LANGUAGE_NAMES = {
    "english": "en",
    "spanish": "es",
    "español": "es",
    "german": "de",
    "deutsch": "de",
    "french": "fr",
    "français": "fr",
    "polish": "pl",
    "polski": "pl",
    "romanian": "ro",
    "russian": "ru",
    "chinese": "zh",
    "mandarin": "zh",
    "italian": "it",
    "portuguese": "pt",
    "dutch": "nl",
    "japanese": "ja",
    "korean": "ko",
    "arabic": "ar",
    "turkish": "tr",
    "ukrainian": "uk",
    "hindi": "hi",
    "greek": "el",
    "hebrew": "he",
    "swedish": "sv",
    "czech": "cs",
}


def base_code(code: str) -> str:
    """Return the language part of a code (`pt` for `pt-br`)."""
    return code.split("-", 1)[0]


def suggest(code: str) -> str | None:
    """Return the ISO 639-1 code most likely meant by an unknown code or language name, if any."""
    folded = code.strip().casefold().replace("_", "-")
    if folded in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[folded]
    base = base_code(folded)
    if base in COMMON_MISTAKES:
        return COMMON_MISTAKES[base]
    if base in ISO_639_1:
        return folded if folded != code else base
    close = difflib.get_close_matches(base, sorted(ISO_639_1), n=1, cutoff=0.5)
    return close[0] if close else None
