"""Processing worker processes: partitions by thread, every message once, restarts, no orphans."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from storage import tables as t
from storage.db import make_engine
from storage.ingest import store_fetch
from storage.migrate import upgrade
from storage.work import claim_new_messages
from tactful.clock import FrozenClock
from tactful.settings import ProcessingSettings, Settings, StorageSettings
from tactful.workers import ProcessingWorkers
from tests.factories import make_message

TEXTS = [
    "@acme my order never arrived and nobody answers, I want a refund",
    "@acme does the blender work with 110V?",
    "@acme love the new speaker, best purchase this year!",
    "@acme you people are clowns, losers",
]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def store_messages(db: Engine, clock: FrozenClock, count: int, threads: int) -> None:
    batch = [
        make_message(str(i), TEXTS[i % len(TEXTS)], author_id=str(i % 7), thread=f"t{i % threads}", minutes=i)
        for i in range(count)
    ]
    store_fetch(db, "x:mentions:1", batch, str(count), [], clock.now())


def processed(db: Engine) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(t.messages).where(t.messages.c.status == "processed")
            ).scalar_one()
        )


def test_partitions_split_threads_between_workers(db: Engine, clock: FrozenClock) -> None:
    store_messages(db, clock, 40, threads=9)
    claimed: dict[int, set[int]] = {}
    for index in range(3):
        with db.begin() as conn:
            rows = claim_new_messages(conn, 100, clock.now(), timedelta(minutes=1), partition=(index, 3))
        claimed[index] = {row.thread_id for row in rows}
        assert all(thread_id % 3 == index for thread_id in claimed[index])
    assert sum(len(threads) for threads in claimed.values()) == 9
    with db.begin() as conn:
        assert claim_new_messages(conn, 100, clock.now(), timedelta(minutes=1)) == []


@pytest.mark.slow
def test_worker_processes_handle_every_message_once_and_are_restarted(
    sqlite_url: str, clock: FrozenClock
) -> None:
    db = make_engine(sqlite_url)
    upgrade(db)
    store_messages(db, clock, 200, threads=30)
    settings = Settings(
        storage=StorageSettings(url=sqlite_url),
        processing=ProcessingSettings(batch_size=25, interval_seconds=0.05, workers=2),
    )
    workers = ProcessingWorkers(settings, 2)
    workers.start()
    try:
        assert workers.wait_ready(60)
        wait_for(lambda: processed(db) == 200, 60, "200 processed messages")
        victim = workers.pids()[0]
        os.kill(victim, 9)
        wait_for(lambda: workers.supervise() == 1, 10, "the dead worker to be noticed")
        assert victim not in workers.pids()
        assert workers.wait_ready(60)
        store_fetch(
            db, "x:mentions:1", [make_message("extra", TEXTS[0], thread="t-new")], "extra", [], clock.now()
        )
        wait_for(lambda: processed(db) == 201, 30, "the message stored after the restart")
    finally:
        workers.stop()
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.verdicts)).scalar_one() == 201
        assert conn.execute(select(func.count()).select_from(t.decisions)).scalar_one() == 201
        per_message = conn.execute(
            select(func.count()).select_from(t.decisions).group_by(t.decisions.c.message_id)
        ).scalars()
        assert set(per_message) == {1}
    db.dispose()


@pytest.mark.slow
def test_workers_stop_between_batches_while_catching_up_a_backlog(
    sqlite_url: str, clock: FrozenClock
) -> None:
    """A stop request is honoured after the batch in hand, not after the whole backlog."""
    db = make_engine(sqlite_url)
    upgrade(db)
    store_messages(db, clock, 3000, threads=300)
    settings = Settings(
        storage=StorageSettings(url=sqlite_url),
        processing=ProcessingSettings(batch_size=10, interval_seconds=0.05, workers=1),
    )
    workers = ProcessingWorkers(settings, 1)
    workers.start()
    try:
        assert workers.wait_ready(60)
        wait_for(lambda: processed(db) >= 10, 30, "the first batch")
    finally:
        process = workers._processes[0]
        assert process is not None
        workers.stop(timeout=10)
    assert process.exitcode == 0, "the worker had to be killed"
    assert processed(db) < 3000, "the worker went on through the backlog after the stop request"
    db.dispose()


def test_a_worker_whose_service_died_before_it_started_exits_at_once(sqlite_url: str) -> None:
    """Started just before its service was killed, a worker is already an orphan: it must not run on."""
    import ctypes
    import multiprocessing

    from tactful.workers import WorkerSpec, run_worker

    context = multiprocessing.get_context("spawn")
    spec = WorkerSpec(
        settings=Settings(storage=StorageSettings(url=sqlite_url)),
        index=0,
        count=1,
        log_level=30,
        ready=context.RawValue(ctypes.c_bool, False),
        running=context.RawValue(ctypes.c_bool, True),
        stop=context.RawValue(ctypes.c_bool, False),
        parent_pid=1,  # not this process: as if the service that started it were gone
    )
    process = context.Process(target=run_worker, args=(spec,), daemon=True)
    process.start()
    process.join(60)
    alive = process.is_alive()
    if alive:
        process.kill()
    assert not alive, "the orphaned worker kept running"
    assert process.exitcode == 0
    assert not spec.ready.value, "it loaded nothing and never reported ready"


ORPHAN_PARENT = """
import sys, time
from tactful.settings import ProcessingSettings, Settings, StorageSettings
from tactful.workers import ProcessingWorkers
settings = Settings(storage=StorageSettings(url=sys.argv[1]), processing=ProcessingSettings(workers=2))
workers = ProcessingWorkers(settings, 2)
workers.start()
workers.wait_ready(60)
print(" ".join(str(pid) for pid in workers.pids()), flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux-only")
def test_workers_do_not_outlive_a_killed_service(sqlite_url: str) -> None:
    db = make_engine(sqlite_url)
    upgrade(db)
    db.dispose()
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_PARENT, sqlite_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        parent.kill()
        parent.wait(timeout=10)
        wait_for(lambda: not any(alive(pid) for pid in pids), 10, "the orphaned workers to exit")
    finally:
        if parent.poll() is None:
            parent.kill()


def test_a_batch_already_processed_elsewhere_is_discarded_whole(db: Engine, clock: FrozenClock) -> None:
    from storage.work import BatchOutcome, ConcurrentProcessing, read_partition, write_outcome

    store_messages(db, clock, 6, threads=1)
    with db.connect() as conn:
        rows = read_partition(conn, 10, (0, 1))
    assert len(rows) == 6
    first = BatchOutcome(message_ids=[row.id for row in rows[:3]])
    with db.begin() as conn:
        write_outcome(conn, first, clock.now())
    second = BatchOutcome(
        message_ids=[row.id for row in rows],
        verdicts=[],
        decisions=[
            {
                "message_id": row.id,
                "rule_id": "r",
                "policy_version": "v",
                "actions": [],
                "explanation": "",
                "created_at": clock.now(),
            }
            for row in rows
        ],
    )
    with pytest.raises(ConcurrentProcessing, match="3 of 6"), db.begin() as conn:
        write_outcome(conn, second, clock.now())
    assert processed(db) == 3
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.decisions)).scalar_one() == 0
        remaining = read_partition(conn, 10, (0, 1))
    assert [row.id for row in remaining] == [row.id for row in rows[3:]]
