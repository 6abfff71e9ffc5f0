import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from moderation.classifier import Moderator
from moderation.heat import HeatInput, HeatState, message_negativity, update_heat

START = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
THREADS = json.loads(
    (Path(__file__).parent / "fixtures" / "moderation" / "heat_threads.json").read_text("utf-8")
)
HEATED = ("heated", "heated_variant")


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator()


def run(moderator, messages):
    verdicts = moderator.classify_texts([text for _, _, text, _ in messages])
    state = None
    for (minute, author, text, brand), verdict in zip(messages, verdicts, strict=True):
        item = HeatInput(author, START + timedelta(minutes=minute), text, verdict, from_brand=brand)
        state = update_heat(state, item)
        state = HeatState.from_dict(json.loads(json.dumps(state.to_dict())))
    return state


def test_calm_thread_of_questions_stays_low(moderator):
    state = run(
        moderator,
        [
            (0, "u1", "Do you ship to Canada?", False),
            (3, "brand", "Yes we do! Delivery takes 5 days.", True),
            (6, "u2", "What sizes do the boots come in?", False),
            (9, "u3", "Is the Leeds store open on Sunday?", False),
            (12, "u1", "Thanks, how much is shipping?", False),
        ],
    )
    assert state.heat < 0.3
    assert state.messages == 5


def test_heating_thread_goes_high(moderator):
    state = run(
        moderator,
        [
            (0, "angry", "WHERE IS MY ORDER?? 3 WEEKS AND NOTHING!!!", False),
            (3, "angry", "STILL NO RESPONSE. THIS IS A F***ING JOKE!!!", False),
            (5, "other1", "same here, they stole my money, worst company ever", False),
            (7, "angry", "I WANT MY REFUND NOW!!! USELESS", False),
            (8, "other2", "@brand you are pathetic, answer your customers", False),
            (10, "angry", "ANSWER ME!!! SCAMMERS", False),
        ],
    )
    assert state.heat > 0.6
    assert state.components["repeat"] == 1.0


def test_heat_cools_after_silence(moderator):
    verdict = moderator.classify_texts(["THIS IS UNACCEPTABLE!!! my order never arrived"])[0]
    hot = update_heat(None, HeatInput("a", START, "x", verdict))
    later = update_heat(
        hot, HeatInput("b", START + timedelta(hours=3), "x", moderator.classify_texts(["ok"])[0])
    )
    assert later.heat < hot.heat
    assert later.recent == [(later.last_at, "b", 0)]


def replay(moderator, messages, spread=True):
    """Classify a thread as one batch, then feed it to update_heat; return the heat after each message.

    spread=False posts everything with the same created_at, as tests and bulk imports do.
    """
    verdicts = moderator.classify_texts([text for _, _, text in messages])
    state, heats = None, []
    for (minute, author, text), verdict in zip(messages, verdicts, strict=True):
        at = START + timedelta(minutes=minute if spread else 0)
        state = update_heat(state, HeatInput(author, at, text, verdict))
        state = HeatState.from_dict(json.loads(json.dumps(state.to_dict())))
        heats.append(state.heat)
    return heats


@pytest.mark.parametrize("spread", [True, False], ids=["over-10-minutes", "same-created-at"])
@pytest.mark.parametrize("thread", HEATED)
def test_angry_thread_reaches_private_line_by_fourth_message(moderator, thread, spread):
    heats = replay(moderator, THREADS[thread], spread)
    assert heats[0] < 0.6  # one complaint alone does not move a thread to private
    assert heats[3] >= 0.6, heats
    assert heats[4] >= 0.6, heats


@pytest.mark.parametrize("spread", [True, False], ids=["minutes-apart", "same-created-at"])
def test_complaint_with_a_follow_up_stays_below_half(moderator, spread):
    heats = replay(moderator, THREADS["complaint_with_follow_up"], spread)
    assert max(heats) < 0.5, heats


@pytest.mark.parametrize("spread", [True, False], ids=["minutes-apart", "same-created-at"])
def test_calm_questions_stay_low(moderator, spread):
    heats = replay(moderator, THREADS["calm_questions"], spread)
    assert max(heats) < 0.3, heats


def test_first_customer_message_seeds_the_averages(moderator):
    verdict = moderator.classify_texts(["@shop my order never arrived and support ignores me"])[0]
    state = update_heat(None, HeatInput("a", START, "x", verdict))
    assert state.negativity == pytest.approx(message_negativity(verdict))
    assert state.customer_messages == 1


def test_brand_reply_cools_the_thread(moderator):
    messages = THREADS["heated"][:4]
    verdicts = moderator.classify_texts([text for _, _, text in messages])
    state = None
    for (minute, author, text), verdict in zip(messages, verdicts, strict=True):
        state = update_heat(state, HeatInput(author, START + timedelta(minutes=minute), text, verdict))
    reply = moderator.classify_texts(["We're sorry, Dan. We've sent you a DM to sort out the refund."])[0]
    after = update_heat(state, HeatInput("brand", START + timedelta(minutes=9), "x", reply, from_brand=True))
    assert after.heat < state.heat
    assert after.customer_messages == state.customer_messages


def test_state_stored_before_customer_messages_existed_still_loads():
    legacy = {"heat": 0.4, "negativity": 0.5, "messages": 3, "recent": [[1.0, "a", 1]], "components": {}}
    state = HeatState.from_dict(legacy)
    assert state.customer_messages == 3
    assert state.recent == [(1.0, "a", 1)]
