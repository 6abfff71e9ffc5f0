"""Helpers for tests that run real `tactful run` processes against the X, Facebook and Telegram simulators."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, func, select

from simulator.facebook import FacebookSimulator, RateLimitRule, RateLimitScope
from simulator.generate import COMPLAINTS, PRODUCTS, QUESTIONS
from simulator.telegram import TelegramSimulator
from simulator.x import DEFAULT_RATE_LIMITS, XSimulator
from simulator.x import RateLimitRule as XRule
from storage import tables as t
from tests.e2e_helpers import SECRET_ENV, load_test_policy

PAGE_ID = "5000"
BRAND_X_ID = "1000"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> int:
    """Send `sig` and wait for the exit code (killing the process if it does not exit)."""
    try:
        process.send_signal(sig)
        return process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()


def our_accounts(bot_token: str) -> tuple[str, ...]:
    """External ids of the brand's accounts on the three simulators."""
    return (BRAND_X_ID, PAGE_ID, bot_token.split(":")[0])


@dataclass
class Sims:
    """The three simulators and a supply of customers posting generated complaints and questions."""

    x: XSimulator
    fb: FacebookSimulator
    tg: TelegramSimulator
    posts: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    first_user: int = 7000
    users: int = 0

    def text(self) -> str:
        """A generated customer message."""
        template = self.rng.choice(COMPLAINTS + QUESTIONS)
        return template.format(p=self.rng.choice(PRODUCTS), n=self.rng.randint(10000, 99999))

    def new_user(self) -> int:
        """A fresh customer id."""
        self.users += 1
        return self.first_user + self.users

    def mention(self, text: str | None = None) -> str:
        """A new customer mentions the brand on X; return the tweet id."""
        uid = self.new_user()
        self.x.add_user(str(uid), f"customer{uid}", f"Customer {uid}")
        return self.x.post(str(uid), f"@acme {text or self.text()}")

    def comment(self, n: int) -> str:
        """A new customer comments on the page's post number `n` (round robin); return the comment id."""
        uid = self.new_user()
        self.fb.add_user(str(uid), f"Commenter {uid}")
        return self.fb.comment(self.posts[n % len(self.posts)], str(uid), self.text())

    def messenger(self) -> str:
        """A new customer writes to the page on Messenger; return the message id."""
        uid = self.new_user()
        self.fb.add_user(str(uid), f"Messenger {uid}")
        return self.fb.message_page(str(uid), self.text())

    def private_chat(self) -> str:
        """A new customer writes to the bot privately; return ``<chat>:<message>``."""
        uid = self.new_user()
        self.tg.add_user(uid, f"Private{uid}", f"private{uid}")
        return f"{uid}:{self.tg.user_says(uid, uid, self.text())}"

    def group_message(self, chat: int, text: str | None = None) -> str:
        """A new customer writes in a group; return ``<chat>:<message>``."""
        uid = self.new_user()
        self.tg.add_user(uid, f"Member{uid}", f"member{uid}")
        return f"{chat}:{self.tg.user_says(chat, uid, text or self.text())}"

    def stop(self) -> None:
        """Stop the three simulators."""
        for sim in (self.x, self.fb, self.tg):
            sim.stop()


def service_secrets(tag: str, bot_token: str) -> dict[str, str]:
    """The service's secrets for a run on the three simulators (each test its own tokens)."""
    return {
        **SECRET_ENV,
        "TACTFUL_FACEBOOK__PAGE_TOKEN": f"{tag}-page-token",
        "TACTFUL_FACEBOOK__APP_SECRET": f"{tag}-app-secret",
        "TACTFUL_FACEBOOK__VERIFY_TOKEN": f"{tag}-verify-token",
        "TACTFUL_TELEGRAM__BOT_TOKEN": bot_token,
    }


def load_simulators(
    secrets: dict[str, str], groups: list[int]
) -> tuple[XSimulator, FacebookSimulator, TelegramSimulator]:
    """Start the three simulators with rate limits roomy enough for a load test, and the Telegram groups."""
    roomy = tuple(
        XRule(r.path_prefix, r.limit * 1000, r.window_seconds, r.method) for r in DEFAULT_RATE_LIMITS
    )
    x = XSimulator(BRAND_X_ID, "acme", rate_limits=roomy)
    fb = FacebookSimulator(
        PAGE_ID,
        secrets["TACTFUL_FACEBOOK__PAGE_TOKEN"],
        app_secret=secrets["TACTFUL_FACEBOOK__APP_SECRET"],
        page_name="Acme",
        rate_limits=(RateLimitRule(RateLimitScope.PAGES_BUC, 10_000_000, 24 * 3600),),
    )
    tg = TelegramSimulator(secrets["TACTFUL_TELEGRAM__BOT_TOKEN"], "acme_support_bot")
    for sim in (x, fb, tg):
        sim.start()
    for n, chat in enumerate(groups):
        tg.add_group(chat, f"Acme customers {n}")
    return x, fb, tg


def backlog(db: Engine, accounts: tuple[str, ...]) -> tuple[int, int, int]:
    """(customer messages stored, messages not yet processed, outbox items pending or sending)."""
    with db.connect() as conn:
        stored = conn.execute(
            select(func.count()).select_from(customer_messages(accounts).subquery())
        ).scalar_one()
        unprocessed = conn.execute(
            select(func.count()).select_from(t.messages).where(t.messages.c.status.in_(("new", "claimed")))
        ).scalar_one()
        open_sends = conn.execute(
            select(func.count()).select_from(t.outbox).where(t.outbox.c.status.in_(("pending", "sending")))
        ).scalar_one()
    return int(stored), int(unprocessed), int(open_sends)


def write_config(
    tmp_path: Path,
    sims: Sims,
    port: int,
    *,
    db_url: str | None = None,
    processing: str = "batch_size = 50\nworkers = 2\nclaim_lease_seconds = 5",
    extra: str = "",
    reload_seconds: float | None = None,
    edit_policy: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """Write a tactful.toml for all three simulators and its policy file.

    Polling is fast, and the policy is `load_test_policy` (no send cap, no identical-text check).
    """
    policy = load_test_policy()
    if edit_policy is not None:
        edit_policy(policy)
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    reload = "" if reload_seconds is None else f"reload_seconds = {reload_seconds}"
    config = tmp_path / "tactful.toml"
    config.write_text(
        f"""
[storage]
url = "{db_url or f"sqlite:///{tmp_path / 'tactful.db'}"}"

[policy]
path = "{policy_file}"
{reload}

[web]
host = "127.0.0.1"
port = {port}
dashboard = false

[processing]
interval_seconds = 0.2
send_interval_seconds = 0.2
{processing}
{extra}
[x]
enabled = true
user_id = "{BRAND_X_ID}"
username = "acme"
search_query = "acme -from:acme -is:retweet"
api_base_url = "{sims.x.base_url}"
poll_seconds = 0.3
timeout_seconds = 5

[facebook]
enabled = true
page_id = "{PAGE_ID}"
page_name = "Acme"
graph_url = "{sims.fb.base_url}"
poll_seconds = 1
timeout_seconds = 5

[telegram]
enabled = true
bot_username = "acme_support_bot"
api_base_url = "{sims.tg.base_url}/bot"
poll_timeout_seconds = 1
timeout_seconds = 5
""",
        encoding="utf-8",
    )
    return config


def customer_messages(accounts: tuple[str, ...]) -> Any:
    """Customers' stored messages (the brand's own posts are stored as context, never acted on)."""
    return (
        select(t.messages.c.platform, t.messages.c.external_id, t.messages.c.status)
        .join(t.authors, t.authors.c.id == t.messages.c.author_id)
        .where(t.authors.c.external_id.not_in(accounts))
    )


def stored_ids(db: Engine, accounts: tuple[str, ...]) -> dict[str, list[str]]:
    """External ids of the stored customer messages, per platform."""
    with db.connect() as conn:
        rows = conn.execute(customer_messages(accounts)).all()
    found: dict[str, list[str]] = {"x": [], "facebook": [], "telegram": []}
    for platform, external_id, _status in rows:
        found[platform].append(external_id)
    return found


def deliveries(sims: Sims, skip_chats: frozenset[int] = frozenset()) -> dict[tuple[str, str], Counter[str]]:
    """What each simulator received, counted per target (the in-reply-to message or the recipient).

    Telegram messages into `skip_chats` (the team chat) are left out: they are not outbox sends.
    """
    return {
        ("x", "public_reply"): Counter(str(r.in_reply_to_tweet_id) for r in sims.x.brand_replies()),
        ("x", "direct_message"): Counter(d.recipient_id for d in sims.x.brand_dms()),
        ("facebook", "public_reply"): Counter(r.target_id for r in sims.fb.page_comment_replies()),
        ("facebook", "private_reply"): Counter(r.comment_id for r in sims.fb.private_replies()),
        ("facebook", "direct_message"): Counter(r.recipient_id for r in sims.fb.messenger_sends()),
        # Telegram replies and private messages are both sendMessage: keyed chat:replied-to message.
        ("telegram", "message"): Counter(
            f"{m.chat_id}:{m.reply_to_message_id}"
            for m in sims.tg.sent_messages()
            if m.chat_id not in skip_chats
        ),
    }


def delivery_key(row: Any) -> tuple[tuple[str, str], str]:
    """The `deliveries` key an outbox row's send lands under."""
    kind = row.kind_used or row.kind
    if row.platform == "telegram":
        if kind == "direct_message":
            return ("telegram", "message"), f"{row.recipient_external_id}:None"
        return ("telegram", "message"), row.target_external_id
    if kind == "direct_message":
        return (row.platform, kind), row.recipient_external_id
    return (row.platform, kind), row.target_external_id


def worker_pids(service_pid: int) -> list[int]:
    """The service's processing workers: its children started by multiprocessing's spawn."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == service_pid and b"spawn_main" in cmdline:
            found.append(int(entry))
    return found
