import pytest

from moderation.language import detect_language, detect_languages, normalise_hint


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


def test_entities_are_stripped_and_empty_is_undetermined():
    assert detect_language("@brand https://t.co/abc #sale") == ("und", 0.0)
    assert detect_language("😡😡") == ("und", 0.0)


def test_unknown_latin_defaults_to_english_with_low_confidence():
    assert detect_language("Refund??") == ("en", 0.35)


def test_hints():
    assert detect_language("Мой заказ", "en-GB") == ("en", 0.9)
    assert detect_language("Мой заказ", "und")[0] == "ru"
    assert detect_language("Мой заказ", "qme")[0] == "ru"
    assert normalise_hint("in") == "id"
    assert normalise_hint("zxx") is None


def test_batch_matches_single_and_checks_lengths():
    texts = ["hello there, how are you", "Мой заказ", "😡"]
    assert detect_languages(texts) == [detect_language(t) for t in texts]
    assert detect_languages(texts, [None, "pl", None])[1] == ("pl", 0.9)
    with pytest.raises(ValueError):
        detect_languages(texts, [None])
