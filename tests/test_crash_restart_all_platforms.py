"""X, Facebook and Telegram in one `tactful run`: a scripted burst, SIGKILL, restart; nothing lost or sent twice."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from simulator.facebook import FacebookSimulator
from simulator.telegram import TelegramSimulator
from simulator.x import XSimulator
from storage import tables as t
from storage.db import make_engine
from tests import three_platforms
from tests.e2e_helpers import SECRET_ENV, db_ready, start_service, wait_for
from tests.three_platforms import (
    BRAND_X_ID,
    PAGE_ID,
    Sims,
    customer_messages,
    free_port,
    our_accounts,
    stop,
    write_config,
)

pytestmark = pytest.mark.slow

BOT_TOKEN = "4242:AAH-crash_test-token"
SECRETS = {
    **SECRET_ENV,
    "TACTFUL_FACEBOOK__PAGE_TOKEN": "crash-page-token",
    "TACTFUL_FACEBOOK__APP_SECRET": "crash-app-secret",
    "TACTFUL_FACEBOOK__VERIFY_TOKEN": "crash-verify-token",
    "TACTFUL_TELEGRAM__BOT_TOKEN": BOT_TOKEN,
}
GROUPS = [-1001000000001, -1001000000002, -1001000000003, -1001000000004]
OUR_ACCOUNTS = our_accounts(BOT_TOKEN)


class Burst(Sims):
    """The three simulators, with this test's bursts of customers."""

    def burst(self, x: int, comments: int, messenger: int, private: int, group: int) -> dict[str, set[str]]:
        """Post a burst on every platform; return the external ids tactful should store, per platform."""
        made: dict[str, set[str]] = {"x": set(), "facebook": set(), "telegram": set()}
        made["x"] = {self.mention() for _ in range(x)}
        made["facebook"] = {self.comment(n) for n in range(comments)}
        made["facebook"] |= {self.messenger() for _ in range(messenger)}
        made["telegram"] = {self.private_chat() for _ in range(private)}
        made["telegram"] |= {self.group_message(GROUPS[n % len(GROUPS)]) for n in range(group)}
        return made


@pytest.fixture
def sims() -> Iterator[Burst]:
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
    for sim in (x, fb, tg):
        sim.set_latency(0.005)
    for n, chat in enumerate(GROUPS):
        tg.add_group(chat, f"Acme customers {n}")
    made = Burst(x, fb, tg)
    made.posts = [fb.add_post("Our spring sale starts today!"), fb.add_post("Meet the new K3 blender")]
    yield made
    made.stop()


def stored_ids(db: Engine) -> dict[str, list[str]]:
    return three_platforms.stored_ids(db, OUR_ACCOUNTS)


def settled(db: Engine, expected: int) -> bool:
    with db.connect() as conn:
        messages = conn.execute(
            select(func.count()).select_from(customer_messages(OUR_ACCOUNTS).subquery())
        ).scalar_one()
        unprocessed = conn.execute(
            select(func.count()).select_from(t.messages).where(t.messages.c.status == "new")
        ).scalar_one()
        open_sends = conn.execute(
            select(func.count()).select_from(t.outbox).where(t.outbox.c.status.in_(("pending", "sending")))
        ).scalar_one()
    return bool(messages == expected and unprocessed == 0 and open_sends == 0)


def delivered(sims: Burst) -> int:
    return (
        len(sims.x.brand_replies())
        + len(sims.fb.page_comment_replies())
        + len(sims.fb.private_replies())
        + len(sims.fb.messenger_sends())
        + len(sims.tg.sent_messages())
    )


def test_three_platforms_survive_sigkill_mid_burst(tmp_path: Path, sims: Burst) -> None:
    port = free_port()
    sims.fb.auto_webhook_url = f"http://127.0.0.1:{port}/webhooks/facebook"
    config = write_config(tmp_path, sims, port)
    log = tmp_path / "service.log"
    db = make_engine(f"sqlite:///{tmp_path / 'tactful.db'}")
    expected: dict[str, set[str]] = {"x": set(), "facebook": set(), "telegram": set()}

    def add(made: dict[str, set[str]]) -> None:
        for platform, ids in made.items():
            expected[platform] |= ids

    # X's first-ever poll starts from "now", so one mention goes first and the burst after it is seen.
    add(sims.burst(x=1, comments=0, messenger=0, private=0, group=0))
    process = start_service(config, log, SECRETS)
    try:
        wait_for(lambda: db_ready(db) and len(stored_ids(db)["x"]) == 1, 60, "the first X poll")
        add(sims.burst(x=120, comments=60, messenger=30, private=40, group=16))
        wait_for(lambda: delivered(sims) >= 40, 90, "the first acknowledgements")
    finally:
        assert stop(process, signal.SIGKILL) == -signal.SIGKILL
    at_kill = delivered(sims)
    total = sum(len(ids) for ids in expected.values())
    assert at_kill < total, "the kill came too late to interrupt the burst"

    # While the service is down: Facebook webhooks fail (catch-up polling must find them), Telegram
    # holds the updates, X keeps the mentions.
    add(sims.burst(x=40, comments=20, messenger=10, private=15, group=8))
    process = start_service(config, log, SECRETS)
    try:
        expected_total = sum(len(ids) for ids in expected.values())
        wait_for(lambda: settled(db, expected_total), 180, "the restarted service to catch up")
    finally:
        assert stop(process, signal.SIGTERM) == 0

    stored = stored_ids(db)
    with db.connect() as conn:
        outbox = conn.execute(
            select(
                t.outbox.c.platform,
                t.outbox.c.kind,
                t.outbox.c.kind_used,
                t.outbox.c.target_external_id,
                t.outbox.c.recipient_external_id,
                t.outbox.c.status,
            )
        ).all()
        unknown = conn.execute(
            select(func.count()).select_from(t.audit_log).where(t.audit_log.c.action == "outbox.unknown")
        ).scalar_one()
    db.dispose()
    print(
        f"stored {[(p, len(ids)) for p, ids in stored.items()]}, delivered at kill {at_kill}, "
        f"outbox {Counter((row.platform, row.kind, row.kind_used, row.status) for row in outbox)}, unknown {unknown}"
    )

    for platform, ids in expected.items():
        assert sorted(stored[platform]) == sorted(ids), f"a {platform} message was lost or stored twice"

    # Every send reached its platform once: count deliveries per target on each simulator.
    x_replies = Counter(r.in_reply_to_tweet_id for r in sims.x.brand_replies())
    fb_replies = Counter(r.target_id for r in sims.fb.page_comment_replies())
    fb_private = Counter(r.comment_id for r in sims.fb.private_replies())
    fb_messenger = Counter(r.recipient_id for r in sims.fb.messenger_sends())
    tg_sent = Counter(f"{m.chat_id}:{m.reply_to_message_id}" for m in sims.tg.sent_messages())
    for name, counter in (
        ("X reply", x_replies),
        ("Facebook comment reply", fb_replies),
        ("Facebook private reply", fb_private),
        ("Messenger send", fb_messenger),
        ("Telegram message", tg_sent),
    ):
        assert [key for key, n in counter.items() if n > 1] == [], f"a {name} was sent twice"

    # Every send the policy decided arrived, except Telegram sends cut off mid-request: the Bot API
    # cannot tell whether those went out, so they are handed to a person (outbox.unknown), never retried.
    failed = [row for row in outbox if row.status == "failed"]
    assert len(failed) == unknown <= 2
    assert all(row.platform == "telegram" for row in failed)
    arrived = {
        ("x", "public_reply"): set(x_replies),
        ("facebook", "public_reply"): set(fb_replies),
        ("facebook", "private_reply"): set(fb_private),
        ("facebook", "direct_message"): set(fb_messenger),
        ("telegram", "public_reply"): set(tg_sent),
        ("telegram", "direct_message"): set(tg_sent),
    }
    sent = [row for row in outbox if row.status == "sent"]
    for row in sent:
        key = {
            ("facebook", "direct_message"): row.recipient_external_id,
            ("telegram", "direct_message"): f"{row.recipient_external_id}:None",
        }.get((row.platform, row.kind_used), row.target_external_id)
        assert key in arrived[(row.platform, row.kind_used)], f"{row} never arrived"
    assert {(row.platform, row.kind_used) for row in sent} >= {
        ("x", "public_reply"),
        ("facebook", "public_reply"),
        ("facebook", "direct_message"),
        ("telegram", "public_reply"),
        ("telegram", "direct_message"),
    }
    assert sum(x_replies.values()) >= 150
