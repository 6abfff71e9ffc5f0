import json
import threading
from pathlib import Path

import pytest

import moderation.language as language_module
from moderation.language import (
    DETECTOR_LANGUAGES,
    detect_language,
    detect_languages,
    lingua_probabilities,
    normalise_hint,
)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Moje zamówienie nie dotarło, czekam już dwa tygodnie", "pl"),
        ("Comanda mea nu a ajuns încă, este inacceptabil", "ro"),
        ("Мой заказ так и не пришёл", "ru"),
        ("Моє замовлення досі не прийшло, це жахливо", "uk"),
        ("我的订单还没到", "zh"),
        ("注文した商品が届きません", "ja"),
        ("주문이 아직 도착하지 않았어요", "ko"),
        ("طلبي لم يصل بعد", "ar"),
        ("Η παραγγελία μου δεν έφτασε", "el"),  # noqa: RUF001
        ("Mi pedido no ha llegado todavía", "es"),
        ("Ma commande n'est jamais arrivée", "fr"),
        ("Meine Bestellung ist nicht angekommen", "de"),
        ("Il mio ordine non è arrivato", "it"),
        ("O meu pedido ainda não chegou", "pt"),
        ("Mijn bestelling is nog niet aangekomen", "nl"),
        ("Siparişim hala gelmedi, çok kötü", "tr"),
        ("@brand my order never arrived, where is it?", "en"),
        ("@user die in a fire", "en"),
    ],
)
def test_detects_language(text, code):
    detected, confidence = detect_language(text)
    assert detected == code
    assert 0.3 <= confidence <= 0.95


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # Polish, Romanian, Russian, Chinese: complaints, insults, questions, thanks.
        ("Gdzie jest moja paczka? Zapłaciłem tydzień temu", "pl"),
        ("Ty idioto, naucz się czytać", "pl"),
        ("spierdalaj", "pl"),
        ("Czy wysyłacie do Niemiec?", "pl"),
        ("Super, dzięki!", "pl"),
        ("Unde este coletul meu? Am plătit acum o săptămână", "ro"),
        ("Sunteți niște hoți, dați-mi banii înapoi", "ro"),
        ("Aplicatia nu mai merge deloc, ce bataie de joc", "ro"),  # Romanian typed without diacritics
        ("Livrati si in Republica Moldova?", "ro"),
        ("Ты идиот, научись читать", "ru"),
        ("Здравствуйте, можно вернуть обувь без чека?", "ru"),  # no letter tells ru from uk: words do
        ("Приложение опять не работает, позор", "ru"),
        ("Где моя посылка? Я заплатил неделю назад", "ru"),
        ("你是白痴吗", "zh"),
        ("请问可以退货吗？", "zh"),  # noqa: RUF001
        ("垃圾公司，骗子", "zh"),  # noqa: RUF001
        # Cyrillic without a telling letter: Ukrainian and Bulgarian words.
        ("Де моя посилка? Я заплатив тиждень тому", "uk"),
        ("Вече месец чакам да ми върнат парите", "bg"),
        # Short insults in listed languages are caught by their words.
        ("Eres un idiota, aprende a leer", "es"),
        ("Sei proprio un idiota", "it"),
        ("T'es vraiment un abruti", "fr"),
        ("Du bist so ein Idiot", "de"),
        # Languages without word lists: lingua names them.
        ("Min beställning har inte kommit fram än", "sv"),
        ("Moje objednávka pořád nedorazila", "cs"),  # "moje" is Polish too
        ("Moja objednávka stále neprišla", "sk"),
        ("Tilaukseni ei ole vieläkään saapunut", "fi"),  # ä is not German here
        ("A rendelésem még mindig nem érkezett meg", "hu"),
        ("Pesanan saya belum sampai juga", "id"),
        ("Kapan paket saya dikirim?", "id"),  # "paket" is German too
        ("Min pakke er stadig ikke kommet frem", "da"),
        ("Đơn hàng của tôi vẫn chưa được giao", "vi"),
        ("Moja narudžba još nije stigla", "hr"),
    ],
)
def test_detects_languages_customers_write_in(text, code):
    assert detect_language(text)[0] == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Moje zamówienie nie dotarło, what the fuck", "pl"),
        ("Zamówienie nie dotarło, you are fucking idiots", "pl"),
        ("kurwa mać, fuck this shit", "pl"),
        ("jesteście idiotami, fuck you", "pl"),
        ("Comanda mea nu a ajuns, you fucking idiots", "ro"),
        ("sunteti niste idioti, fuck off", "ro"),
        ("wtf nu mi-a venit coletul, fucking scam", "ro"),
        ("Мой заказ не пришёл, fucking idiots", "ru"),
        ("вы идиоты, fuck you", "ru"),
        ("你们是白痴 fuck you", "zh"),
        ("what the fuck 我的包裹呢", "zh"),
        ("mi pedido no ha llegado, fucking idiots", "es"),
        ("il mio ordine non è arrivato, you fucking idiots", "it"),
    ],
)
def test_english_swearing_does_not_make_a_message_english(text, code):
    assert detect_language(text)[0] == code


@pytest.mark.parametrize(
    "text",
    [
        "lol",
        "slay",
        "Wow!!",
        "Brutal.",
        "Dm sent",
        "bruh",
        "ngl ur app kinda trash rn",
        "fr fr no cap",
        "yall are clowns",
        "Nope. Still nada.",
        "Crazy liberals",
        "Dominos is ass",
        "Lmfaoooooo",
        "Girl who used tumblr?¿?¿",
        "@user Antifa is a domestic terrorist group",
        "antifa blocking the road in Salzburg",
        "Hola amigos! Great show tonight",
        "Merci! Love it",
        "Danke schön, see you soon",
        "déjà vu all over again",
        "my package is late again smh",
        "Can I return shoes without a receipt?",
        "Y u do this to me",
        "Watching @user make Josh Hamilton whiff is a wonderful thing. C'mon @user",
    ],
)
def test_short_english_with_slang_and_loanwords_stays_english(text):
    assert detect_language(text)[0] == "en"


def test_entities_are_stripped_and_empty_is_undetermined():
    assert detect_language("@brand https://t.co/abc #sale") == ("und", 0.0)
    assert detect_language("😡😡") == ("und", 0.0)
    assert detect_language("") == ("und", 0.0)
    assert detect_language("   !!! ??? 123") == ("und", 0.0)
    assert detect_language("🙏🏻❤️‍🔥") == ("und", 0.0)


def test_unknown_latin_defaults_to_english_with_low_confidence():
    assert detect_language("Refund??") == ("en", 0.35)
    assert detect_language("slay") == ("en", 0.35)


def test_hints():
    assert detect_language("Мой заказ", "en-GB") == ("en", 0.9)
    assert detect_language("Мой заказ", "und")[0] == "ru"
    assert detect_language("Мой заказ", "qme")[0] == "ru"
    assert detect_language("my order never arrived", "pl") == ("pl", 0.9)
    assert detect_language("Moja objednávka stále neprišla", "sk") == ("sk", 0.9)
    assert detect_language("😡", "zh-TW") == ("zh", 0.9)
    assert normalise_hint("in") == "id"
    assert normalise_hint("zxx") is None
    assert normalise_hint("pt_BR") == "pt"
    assert normalise_hint("x-klingon") is None


def test_batch_matches_single_and_checks_lengths():
    texts = [
        "hello there, how are you",
        "Мой заказ",
        "😡",
        "Pesanan saya belum sampai juga",  # decided by lingua
        "Приложение опять не работает",  # Cyrillic decided by lingua
        "Moje objednávka pořád nedorazila",
        "Girl who used tumblr?¿?¿",
    ]
    assert detect_languages(texts) == [detect_language(t) for t in texts]
    assert detect_languages(texts, [None, "pl", None, None, None, None, None])[1] == ("pl", 0.9)
    assert detect_languages([]) == []
    with pytest.raises(ValueError):
        detect_languages(texts, [None])


def test_confidence_is_a_probability_for_every_path():
    texts = ["Pesanan saya belum sampai juga", "Приложение опять не работает", "lol", "我的订单还没到"]
    for _, confidence in detect_languages(texts):
        assert 0.0 <= confidence <= 0.95


def test_detector_knows_the_languages_brands_hear_from():
    required = {"en", "es", "de", "fr", "it", "pt", "nl", "pl", "ro", "ru", "uk", "tr"}
    required |= {"zh", "ja", "ko", "ar", "hi"}
    assert required <= set(DETECTOR_LANGUAGES)
    assert len(DETECTOR_LANGUAGES) == len(set(DETECTOR_LANGUAGES))
    probabilities = lingua_probabilities(["Min beställning har inte kommit fram än", "Мой заказ не пришёл"])
    assert max(probabilities[0], key=probabilities[0].__getitem__) == "sv"
    assert set(probabilities[1]) <= set(DETECTOR_LANGUAGES)
    assert all(0.0 < p <= 1.0 for p in probabilities[0].values())


DEV_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["complaints_dev", "offensive_dev", "sentiment_dev"])
def test_english_dev_tweets_are_almost_all_english(name):
    path = DEV_DATA / f"{name}.jsonl"
    if not path.exists():
        pytest.skip(f"labelled dev data not found at {path}")
    texts = [json.loads(line)["text"] for line in path.read_text("utf-8").splitlines() if line.strip()]
    other = sum(code not in ("en", "und") for code, _ in detect_languages(texts))
    # An English complaint misdetected as Polish loses its acknowledgement: at most 1 in 400
    # (measured 0.17%, 0.04%, 0%; some of those few tweets are in fact Portuguese or French).
    assert other / len(texts) <= 0.0025


def test_detector_is_built_once_across_threads(monkeypatch):
    built = []
    real_build = language_module._build_detector
    gate = threading.Barrier(8)

    def counting_build():
        built.append(1)
        return real_build()

    monkeypatch.setattr(language_module._DetectorHolder, "detector", None)
    monkeypatch.setattr(language_module, "_build_detector", counting_build)
    results = []

    def worker():
        gate.wait()
        results.append(language_module._detector())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1
    assert len(results) == 8
    assert all(detector is results[0] for detector in results)


def test_warm_up_builds_the_language_detector_before_the_first_batch() -> None:
    """A worker warms its moderator up before it reports ready: lingua is built by then."""
    from moderation import language
    from moderation.classifier import Moderator

    language._DetectorHolder.detector = None
    Moderator().warm_up()
    assert language._DetectorHolder.detector is not None
