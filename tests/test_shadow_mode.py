"""Shadow (dry-run) mode: every decision recorded, every send kept as a `shadow` row, nothing sent."""

from __future__ import annotations

import random
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from moderation.classifier import Moderator
from simulator.facebook import FacebookSimulator
from simulator.telegram import TelegramSimulator
from simulator.x import XSimulator
from storage import tables as t
from storage.db import make_engine
from storage.ingest import store_fetch
from storage.outbox import due_entries
from tactful.clock import FrozenClock
from tactful.domain import Channel
from tactful.policy_source import PolicySource
from tactful.processing import Processor
from tactful.settings import ProcessingSettings
from tests.e2e_helpers import SECRET_ENV, db_ready, start_service, wait_for
from tests.factories import make_message
from tests.three_platforms import BRAND_X_ID, PAGE_ID, Sims, free_port, our_accounts, write_config

BOT_TOKEN = "4242:AAH-shadow_test-token"
SECRETS = {
    **SECRET_ENV,
    "TACTFUL_FACEBOOK__PAGE_TOKEN": "shadow-page-token",
    "TACTFUL_FACEBOOK__APP_SECRET": "shadow-app-secret",
    "TACTFUL_FACEBOOK__VERIFY_TOKEN": "shadow-verify-token",
    "TACTFUL_TELEGRAM__BOT_TOKEN": BOT_TOKEN,
}
GROUP = -1001000000009
OUR_ACCOUNTS = our_accounts(BOT_TOKEN)
TROLL = "you are all idiots and clowns, go cry somewhere else lol"
#: Telegram Bot API methods that only read (or set up how tactful reads); everything else acts.
TELEGRAM_READS = {"getme", "getupdates", "deletewebhook", "getwebhookinfo"}
#: Actions that make an outbox row.
SENDING_ACTIONS = {"Acknowledge", "MoveToPrivate", "Hide"}


def test_shadow_entries_name_platforms_or_their_channels() -> None:
    settings = ProcessingSettings(shadow=["X", "facebook:direct"])
    assert settings.shadow_channels() == {
        ("x", "mention"),
        ("x", "search"),
        ("x", "direct"),
        ("facebook", "direct"),
    }
    with pytest.raises(ValidationError, match="facebook has no group channel"):
        ProcessingSettings(shadow=["facebook:group"])
    with pytest.raises(ValidationError, match="unknown platform"):
        ProcessingSettings(shadow=["myspace"])


def test_only_the_channels_in_shadow_keep_their_sends_unsent(sqlite_db: Engine, clock: FrozenClock) -> None:
    complaint = "@acme my order never arrived and I want a refund"
    messages = [
        make_message("1", complaint, author_id="1"),
        make_message("2", complaint, author_id="2", channel=Channel.DIRECT, is_private=True),
    ]
    store_fetch(sqlite_db, "k", messages, "2", [], clock.now())
    shadow = ProcessingSettings(shadow=["x:mention"]).shadow_channels()
    processor = Processor(sqlite_db, Moderator(), PolicySource(None).current, clock, shadow=shadow)
    assert processor.drain(10) == 2
    with sqlite_db.begin() as conn:
        rows = dict(conn.execute(select(t.outbox.c.target_external_id, t.outbox.c.status)).all())
        due = [entry.target_external_id for entry in due_entries(conn, clock.now(), 10, set())]
    assert rows == {"1": "shadow", "2": "pending"}
    assert due == ["2"], "the sender never sees a shadow row"


class Customers(Sims):
    """The three simulators, with customers and trolls for this test."""

    def burst(self, x: int, comments: int, messenger: int, private: int, group: int, trolls: int) -> int:
        """Post customers' messages on every platform (trolls on X and in the group); return how many."""
        for n in range(x + trolls):
            self.mention(TROLL if n < trolls else None)
        for n in range(comments):
            self.comment(n)
        for _ in range(messenger):
            self.messenger()
        for _ in range(private):
            self.private_chat()
        for n in range(group + trolls):
            self.group_message(GROUP, TROLL if n < trolls else None)
        return x + comments + messenger + private + group + 2 * trolls


@pytest.fixture
def sims() -> Iterator[Customers]:
    x = XSimulator(BRAND_X_ID, "acme")
    fb = FacebookSimulator(
        PAGE_ID,
        SECRETS["TACTFUL_FACEBOOK__PAGE_TOKEN"],
        app_secret=SECRETS["TACTFUL_FACEBOOK__APP_SECRET"],
        page_name="Acme",
    )
    tg = TelegramSimulator(BOT_TOKEN, "acme_support_bot")
    for sim in (x, fb, tg):
        sim.start()
    tg.add_group(GROUP, "Acme customers")
    posts = [fb.add_post("Our spring sale starts today!"), fb.add_post("Meet the new K3 blender")]
    made = Customers(x, fb, tg, posts, random.Random(11))
    yield made
    made.stop()


def hide_confident_trolls(policy: dict[str, Any]) -> None:
    """The default policy ignores trolls; this one also hides them, so shadow mode has hides to keep."""
    troll = next(rule for rule in policy["rules"] if rule["id"] == "troll")
    troll["then"].insert(0, {"hide": "troll: hidden"})


def customers() -> Any:
    m, a = t.messages, t.authors
    return select(m.c.id).join(a, a.c.id == m.c.author_id).where(a.c.external_id.not_in(OUR_ACCOUNTS))


def processed_customers(db: Engine) -> tuple[int, int]:
    """(customer messages stored, messages not processed yet)."""
    with db.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(customers().subquery())).scalar_one()
        new = conn.execute(
            select(func.count()).select_from(t.messages).where(t.messages.c.status == "new")
        ).scalar_one()
    return int(stored), int(new)


@pytest.mark.slow
def test_shadow_mode_records_every_decision_and_sends_nothing(tmp_path: Path, sims: Customers) -> None:
    port = free_port()
    sims.fb.auto_webhook_url = f"http://127.0.0.1:{port}/webhooks/facebook"
    config = write_config(
        tmp_path,
        sims,
        port,
        processing='batch_size = 50\nworkers = 2\nshadow = ["x", "facebook", "telegram"]',
        edit_policy=hide_confident_trolls,
    )
    db = make_engine(f"sqlite:///{tmp_path / 'tactful.db'}")
    expected = sims.burst(x=1, comments=0, messenger=0, private=0, group=0, trolls=0)
    process = start_service(config, tmp_path / "service.log", SECRETS)
    try:
        # X's first-ever poll starts from "now": one mention first, the burst after it is seen.
        wait_for(lambda: db_ready(db) and processed_customers(db)[0] == 1, 60, "the first X poll")
        expected += sims.burst(x=30, comments=14, messenger=8, private=10, group=8, trolls=3)
        wait_for(lambda: processed_customers(db) == (expected, 0), 120, "every message to be decided")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()

    m, d, o = t.messages, t.decisions, t.outbox
    with db.connect() as conn:
        decided = conn.execute(
            select(m.c.id, m.c.platform, d.c.actions, d.c.policy_version, d.c.rule_id)
            .join(d, d.c.message_id == m.c.id)
            .where(m.c.id.in_(customers()))
        ).all()
        outbox = conn.execute(select(o.c.message_id, o.c.platform, o.c.kind, o.c.status, o.c.rule_id)).all()
    db.dispose()
    kinds = Counter((row.platform, row.kind) for row in outbox)
    print(f"{len(decided)} decisions, outbox {dict(kinds)}")

    assert len(decided) == expected, "every message has a decision"
    assert {row.status for row in outbox} == {"shadow"}, "every send was kept as a shadow row"
    rows_by_message = Counter(row.message_id for row in outbox)
    for row in decided:
        sending = [a for a in row.actions if a["type"] in SENDING_ACTIONS]
        assert rows_by_message[row.id] == len(sending), f"decision {row.rule_id} of message {row.id}"
    decided_rules = {row.id: row.rule_id for row in decided}
    assert all(decided_rules[row.message_id] == row.rule_id for row in outbox)
    assert {("x", "public_reply"), ("x", "hide"), ("facebook", "public_reply")} <= set(kinds)
    assert {("facebook", "direct_message"), ("telegram", "direct_message"), ("telegram", "hide")} <= set(
        kinds
    )
    assert sum(kinds.values()) >= 50

    # Nothing reached any platform: no sends, hides or deletions, and only reads were requested.
    assert sims.x.brand_replies() == [] and sims.x.brand_dms() == [] and sims.x.hidden_tweet_ids() == set()
    assert sims.fb.page_comment_replies() == [] and sims.fb.private_replies() == []
    assert sims.fb.messenger_sends() == [] and sims.fb.hidden_comment_ids() == set()
    assert sims.tg.sent_messages() == [] and sims.tg.deleted_messages() == []
    assert {r.method for r in sims.x.request_log()} == {"GET"}
    assert {r.method for r in sims.fb.request_log()} == {"GET"}
    assert {r.api_method.lower() for r in sims.tg.request_log()} <= TELEGRAM_READS
