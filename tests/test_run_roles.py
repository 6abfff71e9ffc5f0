"""`tactful run --role`: which stages each role schedules, and how the option is read."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select

from simulator.telegram import TelegramSimulator
from storage import tables as t
from storage.leases import acquire
from tactful.cli import _roles
from tactful.clock import FrozenClock
from tactful.leasing import release_dead_local_holders
from tactful.service import ServiceRunner, build_service
from tactful.settings import ProcessingSettings, Settings, StorageSettings, TelegramSettings, WebSettings

BOT_TOKEN = "4242:AAH-test_secret-token"
BOT_USERNAME = "acme_support_bot"
WORKER_JOBS = {"process", "promises", "dispatch", "recover_sends"}


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    tg = TelegramSimulator(BOT_TOKEN, BOT_USERNAME)
    tg.start()
    yield Settings(
        storage=StorageSettings(url=f"sqlite:///{tmp_path / 'tactful.db'}"),
        processing=ProcessingSettings(workers=0),
        web=WebSettings(dashboard=False),
        telegram=TelegramSettings(
            enabled=True,
            bot_username=BOT_USERNAME,
            api_base_url=tg.base_url + "/bot",
            poll_timeout_seconds=0,
            timeout_seconds=5,
            bot_token=SecretStr(BOT_TOKEN),
        ),
    )
    tg.stop()


def scheduled(settings: Settings, roles: frozenset[str]) -> set[str]:
    runner = ServiceRunner(build_service(settings), roles)
    runner.start()
    try:
        return {job.id for job in runner.scheduler.get_jobs()}
    finally:
        runner.stop()


def test_each_role_schedules_only_its_own_stages(settings: Settings) -> None:
    listener = scheduled(settings, frozenset({"listener"}))
    assert not listener & WORKER_JOBS and "policy_reload" not in listener
    worker = scheduled(settings, frozenset({"worker"}))
    assert worker >= WORKER_JOBS and not any(job.startswith("poll:") for job in worker)
    web = scheduled(settings, frozenset({"web"}))
    assert web == {"policy_reload"}
    everything = scheduled(settings, frozenset({"listener", "worker", "web"}))
    assert WORKER_JOBS | {"policy_reload"} <= everything
    with pytest.raises(ValueError):
        ServiceRunner(build_service(settings), frozenset({"poller"}))


def test_the_role_option_takes_repeats_commas_and_all() -> None:
    everything = frozenset({"listener", "worker", "web"})
    assert _roles(None) == everything
    assert _roles(["all"]) == everything
    assert _roles(["listener,web"]) == frozenset({"listener", "web"})
    assert _roles(["worker", "Web"]) == frozenset({"worker", "web"})
    with pytest.raises(argparse.ArgumentTypeError, match="poller"):
        _roles(["worker,poller"])


def test_a_restart_releases_the_leases_of_its_dead_predecessor_on_this_host_only(
    sqlite_db: Engine, clock: FrozenClock
) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead = int(gone.stdout)
    host = socket.gethostname()
    holders = {
        "listener:a": f"{host}:{dead}:aa",  # this host, process gone: released
        "partition:0": f"{host}:{dead}:aa/w0",  # its processing worker: released
        "listener:b": f"{host}:{os.getpid()}:bb",  # this very process: kept
        "listener:c": f"{host}:{os.getppid()}:cc",  # alive: kept
        "listener:d": f"elsewhere:{dead}:dd",  # another host: left to expire
        "listener:e": "not-a-process-name",
    }
    with sqlite_db.begin() as conn:
        for name, holder in holders.items():
            acquire(conn, [name], holder, clock.now(), timedelta(hours=1))
    assert release_dead_local_holders(sqlite_db) == [f"{host}:{dead}:aa", f"{host}:{dead}:aa/w0"]
    with sqlite_db.connect() as conn:
        left = set(conn.execute(select(t.leases.c.name)).scalars())
    assert left == {"listener:b", "listener:c", "listener:d", "listener:e"}
