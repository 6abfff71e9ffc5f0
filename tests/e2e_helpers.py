"""Helpers for end-to-end tests: the scripted demo traffic played into an X simulator."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from policies.loader import default_policy_path
from simulator.script import TrafficScript
from simulator.x import XSimulator
from storage.migrate import alembic_config

SECRET_ENV = {
    "TACTFUL_X__BEARER_TOKEN": "e2e-bearer",
    "TACTFUL_X__CONSUMER_KEY": "e2e-ck",
    "TACTFUL_X__CONSUMER_SECRET": "e2e-cs",
    "TACTFUL_X__ACCESS_TOKEN": "1000-e2e-at",
    "TACTFUL_X__ACCESS_TOKEN_SECRET": "e2e-ats",
}


def add_script_users(sim: XSimulator, script: TrafficScript) -> None:
    """Create every scripted user in the simulator."""
    for user in script.users:
        sim.add_user(user.id, user.username, user.name, accepts_dms=user.accepts_dms)


def play_all(sim: XSimulator, script: TrafficScript) -> dict[str, str]:
    """Post every scripted event at once; return label -> tweet id, plus event index -> tweet id."""
    ids: dict[str, str] = {}
    for index, event in enumerate(script.events):
        reply_to = ids.get(event.reply_to) if event.reply_to else None
        tweet_id = sim.post(event.user, event.text, in_reply_to=reply_to, lang=event.lang)
        ids[str(index)] = tweet_id
        if event.label:
            ids[event.label] = tweet_id
    return ids


def load_test_policy() -> dict[str, Any]:
    """The default policy without the limits that would hold back a load test's sends.

    No global send cap and no identical-text check: generated customers (few names, many
    messages a second) are load, not people a brand would answer in look-alike words;
    tests/test_send_caps.py covers both limits.
    """
    policy: dict[str, Any] = yaml.safe_load(default_policy_path().read_text(encoding="utf-8"))
    policy["safety"]["global_sends_per_minute"] = 100000
    policy["safety"]["identical_text_window_hours"] = 0
    return policy


def write_config(
    directory: Path, sim_url: str, db_url: str, poll_seconds: float = 0.2, workers: int = 0
) -> Path:
    """Write a tactful.toml pointing at the simulator with fast polling."""
    config = directory / "tactful.toml"
    config.write_text(
        f"""
[storage]
url = "{db_url}"

[web]
dashboard = false

[processing]
batch_size = 50
interval_seconds = 0.2
send_interval_seconds = 0.2
workers = {workers}
claim_lease_seconds = 5

[x]
enabled = true
user_id = "1000"
username = "acme"
search_query = "acme -from:acme -is:retweet"
api_base_url = "{sim_url}"
poll_seconds = {poll_seconds}
timeout_seconds = 5
""",
        encoding="utf-8",
    )
    return config


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for a real process to reach a state (bounded; this is not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def start_service(
    config: Path, log: Path, secrets: Mapping[str, str] = SECRET_ENV, args: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """Start `tactful run` (with extra `args`, e.g. ``--role worker``) as a real process, its output appended to `log`."""
    env = {**os.environ, **secrets}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tactful.cli", "--config", str(config), "run", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def db_ready(db: Engine) -> bool:
    """Return True once the service has migrated the database to the current schema.

    On SQLite each CREATE TABLE of a migration commits on its own, so a table being there does
    not mean the others are; the recorded revision reaches head only after the last of them.
    """
    with db.connect() as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return False
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return version == schema_head()


@functools.cache
def schema_head() -> str:
    """The newest migration's revision."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
