"""Non-English messages: detected, never trolled on English lexicons, and sent to a person.

Every text here is hand-written for the test.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from moderation.classifier import ModerationInput, Moderator
from moderation.non_english import COMPLAINT_CEILING, NON_ENGLISH_CONFIDENCE, TOXICITY_CEILING, complaint_cues
from moderation.verdict import Category, Verdict
from policies.decision import Acknowledge, DecisionContext, MoveToPrivate, QueueForReview
from policies.engine import PolicyEngine
from policies.loader import default_policy_path, load_policy
from tactful.domain import Author, Channel, IncomingMessage, Platform

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

# (language, kind, text): complaints, insults and questions in the languages customers write in.
MESSAGES = [
    ("pl", "complaint", "Moje zamówienie nie dotarło, czekam już dwa tygodnie"),
    ("pl", "complaint", "Pieniądze pobrane dwa razy, proszę o zwrot"),
    ("pl", "complaint", "Aplikacja znowu nie działa, co za porażka"),
    ("pl", "insult", "Jesteście bandą złodziei, oddajcie pieniądze"),
    ("pl", "insult", "Ty idioto, naucz się czytać"),
    ("pl", "insult", "co za debile tam pracują"),
    ("pl", "insult", "spierdalaj"),
    ("pl", "question", "Dzień dobry, czy mogę zwrócić buty bez paragonu?"),
    ("pl", "question", "Czy wysyłacie do Niemiec?"),
    ("ro", "complaint", "Comanda mea nu a ajuns încă, este inacceptabil"),
    ("ro", "complaint", "Mi-ati luat banii de doua ori, vreau rambursare"),
    ("ro", "insult", "Sunteți niște hoți, dați-mi banii înapoi"),
    ("ro", "insult", "Ești un idiot, învață să citești"),
    ("ro", "insult", "ce idioti lucreaza acolo"),
    ("ro", "question", "Bună ziua, pot returna pantofii fără bon?"),
    ("ro", "question", "Livrati si in Republica Moldova?"),
    ("ru", "complaint", "Мой заказ так и не пришёл"),
    ("ru", "complaint", "Деньги списали дважды, прошу вернуть"),
    ("ru", "insult", "Вы мошенники, верните деньги"),
    ("ru", "insult", "Ты идиот, научись читать"),
    ("ru", "insult", "какие же там дебилы работают"),
    ("ru", "question", "Здравствуйте, можно вернуть обувь без чека?"),
    ("ru", "question", "Доставляете в Казахстан?"),
    ("zh", "complaint", "我的订单还没到"),
    ("zh", "complaint", "你们的客服太差了，退钱！"),  # noqa: RUF001
    ("zh", "insult", "你是白痴吗"),
    ("zh", "insult", "客服都是傻逼"),
    ("zh", "question", "请问可以退货吗？"),  # noqa: RUF001
    ("uk", "complaint", "Моє замовлення досі не прийшло, це жахливо"),
    ("uk", "insult", "Ви шахраї, поверніть гроші"),
    ("es", "insult", "Eres un idiota, aprende a leer"),
    ("es", "insult", "hijos de puta, nadie contesta"),
    ("de", "insult", "Du bist so ein Idiot"),
    ("de", "complaint", "Die App funktioniert schon wieder nicht"),
    ("fr", "insult", "T'es vraiment un abruti"),
    ("it", "insult", "Sei proprio un idiota"),
    ("pt", "insult", "Você é um idiota"),
    ("tr", "insult", "Siz dolandırıcısınız, paramı geri verin"),  # noqa: RUF001
    ("ja", "complaint", "注文した商品が届きません"),
    ("ar", "insult", "أنتم لصوص، أعيدوا أموالي"),
    ("cs", "complaint", "Moje objednávka pořád nedorazila"),
    ("sv", "complaint", "Min beställning har inte kommit fram än"),
]

# Another language with English swearing mixed in: the English half alone reads as a troll.
MIXED = [
    ("pl", "Zamówienie nie dotarło, you are fucking idiots"),
    ("pl", "jesteście idiotami, fuck you"),
    ("pl", "kurwa mać, fuck this shit"),
    ("ro", "Comanda mea nu a ajuns, you fucking idiots"),
    ("ro", "sunteti niste idioti, fuck off"),
    ("ru", "Мой заказ не пришёл, fucking idiots"),
    ("ru", "вы идиоты, fuck you"),
    ("zh", "你们是白痴 fuck you"),
    ("es", "sois unos idiotas, fuck you"),
    ("de", "Meine Bestellung ist nicht angekommen, fuck you idiots"),
]


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator()


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine(load_policy(default_policy_path()))


def assert_non_english_verdict(verdict: Verdict, language: str) -> None:
    assert verdict.language == language, verdict.explanation
    assert verdict.category is not Category.TROLL
    assert verdict.confidence <= NON_ENGLISH_CONFIDENCE
    assert verdict.complaint <= COMPLAINT_CEILING < 0.5
    assert f"language {language} (" in verdict.explanation
    assert "English lexicons do not apply" in verdict.explanation
    assert "needs a human" in verdict.explanation


@pytest.mark.parametrize(("language", "kind", "text"), MESSAGES)
def test_non_english_message_is_detected_and_never_a_troll(moderator, language, kind, text):
    verdict = moderator.classify_texts([text])[0]
    assert_non_english_verdict(verdict, language)
    assert verdict.category is Category.OTHER


@pytest.mark.parametrize(("language", "text"), MIXED)
def test_english_swearing_in_another_language_is_not_a_troll(moderator, language, text):
    verdict = moderator.classify_texts([text])[0]
    assert_non_english_verdict(verdict, language)
    assert "angry tone" in verdict.explanation
    assert verdict.toxicity >= 0.5  # the swearing is real: its toxicity stays


def test_the_same_english_insult_alone_is_still_a_troll(moderator):
    verdict = moderator.classify_texts(["@brand you are fucking idiots"])[0]
    assert verdict.language == "en"
    assert verdict.category is Category.TROLL


def test_batch_of_many_languages_equals_one_by_one(moderator):
    texts = [text for _, _, text in MESSAGES] + [text for _, text in MIXED]
    assert moderator.classify_texts(texts) == [moderator.classify_texts([t])[0] for t in texts]


def test_order_number_and_shouting_raise_the_complaint_hint_below_the_threshold(moderator):
    plain, with_cues = moderator.classify_texts(
        ["Zamówienie nadal nie wysłane", "Zamówienie 4839201 nadal nie wysłane!!!"]
    )
    assert plain.language == with_cues.language == "pl"
    assert plain.complaint < with_cues.complaint <= COMPLAINT_CEILING
    assert "order or ticket number" in with_cues.explanation
    assert "angry tone" in with_cues.explanation
    assert with_cues.category is Category.OTHER


def test_complaint_cues_are_language_independent():
    assert [name for name, _ in complaint_cues("订单号88231940还没发货", {})] == ["order or ticket number"]
    assert [name for name, _ in complaint_cues("请问可以退货吗？", {})] == ["a question"]  # noqa: RUF001
    assert [name for name, _ in complaint_cues("Comanda nu a ajuns 😡", {})] == ["angry tone"]
    assert complaint_cues("Dziękuję, wszystko działa", {}) == []
    # a price or a year is no order number, nor are digits inside a link
    assert complaint_cues("Kosztowało 49,99 zł w 2024", {}) == []
    assert complaint_cues("Zobacz https://example.com/p/1234567", {}) == []


def test_non_english_spam_with_a_link_is_spam_but_still_for_a_person(moderator):
    spam, no_link = moderator.classify_texts(
        [
            "Zarabiaj na bitcoin codziennie, sprawdź https://example.com/zysk",
            "Kupiłem bitcoin w waszej aplikacji i zniknął",
        ]
    )
    assert spam.language == no_link.language == "pl"
    assert spam.category is Category.SPAM
    assert spam.confidence <= NON_ENGLISH_CONFIDENCE
    assert "spam cues" in spam.explanation
    assert no_link.category is Category.OTHER


def test_english_toxicity_model_is_not_trusted_on_german_articles(moderator):
    thanks, insult = moderator.classify_texts(["Danke für die schnelle Hilfe", "Du bist so ein Idiot, echt"])
    assert thanks.language == "de"
    assert thanks.toxicity <= TOXICITY_CEILING
    assert thanks.signals["toxicity"] > TOXICITY_CEILING  # what the English model said, kept for review
    assert insult.toxicity > TOXICITY_CEILING


def test_platform_hint_makes_a_message_non_english(moderator):
    verdict = moderator.classify([ModerationInput("you are pathetic idiots", language_hint="pl")])[0]
    assert_non_english_verdict(verdict, "pl")
    assert "language pl (0.90)" in verdict.explanation


@pytest.mark.parametrize(
    "text",
    [
        "ur so dumb lmao",
        "wtf is wrong with y'all",
        "shipping took forever ngl",
        "@brand my order never arrived, where is it?",
        "Dominos is ass",
        "slay",
    ],
)
def test_short_english_slang_stays_english(moderator, text):
    verdict = moderator.classify_texts([text])[0]
    assert verdict.language == "en"
    assert "English lexicons do not apply" not in verdict.explanation


def make_context(verdict: Verdict, text: str, *, thread_heat: float = 0.0) -> DecisionContext:
    author = Author(Platform.X, "u-7", username="klient", display_name="Anna Kowalska")
    message = IncomingMessage(
        platform=Platform.X,
        channel=Channel.MENTION,
        external_id="m1",
        thread_external_id="t1",
        author=author,
        text=text,
        created_at=NOW,
    )
    return DecisionContext(message=message, verdict=verdict, now=NOW, thread_heat=thread_heat)


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("pl", "Moje zamówienie 4839201 nie dotarło, czekam już dwa tygodnie!!!"),
        ("ro", "Comanda mea nu a ajuns încă, este inacceptabil"),
        ("ru", "Мой заказ так и не пришёл, верните деньги"),
        ("zh", "我的订单还没到，退钱！"),  # noqa: RUF001
        ("pl", "Zamówienie nie dotarło, you are fucking idiots"),
    ],
)
def test_default_policy_sends_a_non_english_complaint_to_a_person(moderator, engine, language, text):
    verdict = moderator.classify_texts([text])[0]
    assert verdict.language == language
    for heat in (0.0, 0.9):  # even a heated thread: nothing is sent in a language we did not read
        decision = engine.decide(make_context(verdict, text, thread_heat=heat))
        assert decision.rule_id in ("other-language-complaint", "other-language")
        assert not any(isinstance(action, Acknowledge | MoveToPrivate) for action in decision.actions)
        queued = [action for action in decision.actions if isinstance(action, QueueForReview)]
        assert len(queued) == 1
        # Nothing was sent, so it outranks English questions (50); a complaint hint ranks it higher.
        assert queued[0].priority >= (75 if decision.rule_id == "other-language-complaint" else 60)
