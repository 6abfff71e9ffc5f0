"""Processing worker processes: each scores, decides and stores the threads of its partition.

Scoring is CPU-bound Python, so one process per core is how the processing stage scales on a
machine, and several `tactful run` processes sharing one PostgreSQL database scale it across
machines. Threads fall into `[processing] partitions` fixed partitions (thread id modulo that
number); each worker holds leases on a fair share of them (tactful/leasing.py) and reads only
their messages, so every thread is handled by one worker at a time, in order (its heat and
"already acknowledged" state stay consistent), and no two workers handle the same message.
Worker `k` of a pool of `n` prefers the partitions that are `k` modulo `n`, so one service splits
its threads evenly from the start; a worker the pool restarts keeps its slot's name and with it
the leases of the worker it replaces. Each worker scores its batches
in-process (no per-message start-up cost, no verdicts crossing a pipe) and writes each batch in
one transaction that also marks its messages processed, so a worker that dies loses nothing:
its replacement simply reads the same unprocessed messages again.

Workers exit when the service that started them dies (Linux parent-death signal, and a check of
the parent pid on every idle tick), so a killed service never leaves orphans writing behind the
back of its successor.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.context import SpawnProcess
from typing import Any

from storage.leases import new_holder
from tactful.leasing import PartitionLeases
from tactful.outages import FailureLog
from tactful.policy_files import PolicyFiles
from tactful.settings import Settings

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1

#: A batch allocates hundreds of thousands of short-lived objects and few cycles: with Python's
#: default thresholds (700, 10, 10) the collector runs about 40 times per batch and takes ~6% of
#: a worker's time; collecting young objects every 50,000 allocations takes a quarter of that.
WORKER_GC_THRESHOLDS = (50_000, 20, 20)


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What one worker process needs to start: settings, its partition and its control flags.

    The flags are lock-free shared booleans rather than `multiprocessing.Event`s: an Event's
    condition variable can be left locked by a waiter killed with SIGKILL, hanging every other
    process that touches it.
    """

    settings: Settings
    index: int
    count: int
    log_level: int
    ready: Any  # shared c_bool: set by the worker once its models are loaded
    running: Any  # shared c_bool: cleared while the pool is paused
    stop: Any  # shared c_bool: set when the pool stops
    policy: PolicyFiles | None = None  # the service's policy in force when the worker started
    holder: str = ""  # the lease holder name of this worker slot (default: a new one)
    parent_pid: int = 0  # the process that started the worker (default: whoever its parent is now)


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_worker(spec: WorkerSpec) -> None:
    """Body of a worker process: drain its partition until told to stop or orphaned."""
    _die_with_parent()
    parent = spec.parent_pid or os.getppid()
    if os.getppid() != parent:
        return  # the service died before the parent-death signal was set: nobody to work for
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    logging.basicConfig(level=spec.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from storage.db import make_engine
    from tactful.clock import SystemClock
    from tactful.platforms import private_routes
    from tactful.policy_source import PolicySource
    from tactful.processing import Processor
    from tactful.scoring import build_moderator

    settings = spec.settings
    processing = settings.processing
    db = make_engine(settings.storage.url)
    scoring = build_moderator(settings)
    scoring.warm_up()  # loads every model now, before the worker reports ready
    # The models live as long as the worker: keep the cyclic garbage collector from rescanning them.
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLDS)
    clock = SystemClock()
    # Each worker watches the policy files itself and swaps between batches; the service process
    # logs the errors of a rejected change and records it, so the workers only warn in one line.
    policy = PolicySource(
        settings.policy.path,
        clock=clock,
        check_seconds=settings.policy.reload_seconds,
        worker=f"worker {spec.index}/{spec.count}",
        start_from=spec.policy,
    )
    count = processing.partitions
    leases = PartitionLeases(
        db,
        clock,
        spec.holder or new_holder(f"/w{spec.index}"),
        count,
        ttl=timedelta(seconds=processing.lease_seconds),
        min_workers=spec.count,
        preferred=frozenset(p for p in range(count) if p % spec.count == spec.index),
    )
    processor = Processor(
        db,
        scoring,
        policy.latest,
        clock,
        private_routes=private_routes(settings),
        claim_lease=timedelta(seconds=processing.claim_lease_seconds),
        shadow=processing.shadow_channels(),
        leased_partitions=lambda: (leases.refresh(), count),
    )
    # One log line when processing (or renewing the leases) starts failing, one when it recovers:
    # the database being down for a minute is not a traceback per batch.
    failures = FailureLog(log, f"worker {spec.index}/{spec.count}: processing")
    _refresh_quietly(leases, failures)  # joins the cluster's workers before reporting ready
    spec.ready.value = True
    try:
        while not spec.stop.value and os.getppid() == parent:
            policy.check_if_due()  # also while idle, so a change has settled before the next batch
            if not spec.running.value:
                _refresh_quietly(leases, failures)  # a paused worker keeps its heartbeat and its share
                time.sleep(processing.interval_seconds)
                continue
            try:
                # One batch per pass: a stop request or a policy change is seen between batches,
                # also while catching up on a backlog.
                done = processor.drain(processing.batch_size, max_batches=1)
            except Exception as exc:
                failures.failed(exc)
                done = 0
            else:
                failures.succeeded()
            if done == 0:
                time.sleep(processing.interval_seconds)
    finally:
        with contextlib.suppress(Exception):
            leases.release_all()  # the other workers take the partitions over now, not at expiry
        db.dispose()


def _refresh_quietly(leases: PartitionLeases, failures: FailureLog) -> None:
    """Renew and rebalance the worker's leases, noting (not raising) a database failure."""
    try:
        leases.refresh()
    except Exception as exc:
        failures.failed(exc)
    else:
        failures.succeeded()


class ProcessingWorkers:
    """Starts, supervises and stops the processing worker processes of one service."""

    def __init__(
        self, settings: Settings, count: int, policy: Callable[[], PolicyFiles | None] | None = None
    ) -> None:
        if count < 1:
            raise ValueError("at least one worker is needed")
        self._settings = settings
        self._policy = policy
        self._count = count
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.RawValue(ctypes.c_bool, False)
        self._running = self._context.RawValue(ctypes.c_bool, False)
        self._processes: list[SpawnProcess | None] = [None] * count
        self._ready = [self._context.RawValue(ctypes.c_bool, False) for _ in range(count)]
        self._holder = new_holder()

    @property
    def count(self) -> int:
        """How many worker processes this pool runs."""
        return self._count

    def start(self, paused: bool = False) -> None:
        """Start every worker; with `paused`, they load their models but claim nothing until `resume`."""
        if not paused:
            self._running.value = True
        for index in range(self._count):
            self._spawn(index)

    def resume(self) -> None:
        """Let paused workers start claiming."""
        self._running.value = True

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every worker has loaded its models; return whether they all did in time."""
        deadline = time.monotonic() + timeout
        while not all(flag.value for flag in self._ready):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _spawn(self, index: int) -> None:
        self._ready[index].value = False
        spec = WorkerSpec(
            settings=self._settings,
            index=index,
            count=self._count,
            log_level=logging.getLogger().getEffectiveLevel(),
            ready=self._ready[index],
            running=self._running,
            stop=self._stop,
            policy=self._policy() if self._policy is not None else None,
            holder=self.holder(index),
            parent_pid=os.getpid(),
        )
        process = self._context.Process(
            target=run_worker, args=(spec,), name=f"tactful-worker-{index}", daemon=True
        )
        process.start()
        self._processes[index] = process

    def supervise(self) -> int:
        """Restart workers that died; return how many were restarted."""
        if self._stop.value:
            return 0
        restarted = 0
        for index, process in enumerate(self._processes):
            if process is not None and not process.is_alive():
                log.warning(
                    "processing worker %d/%d exited with code %s; starting a new one",
                    index,
                    self._count,
                    process.exitcode,
                )
                process.close()
                self._spawn(index)
                restarted += 1
        return restarted

    def holder(self, index: int) -> str:
        """The lease holder name of worker slot `index` (kept across restarts of that slot)."""
        return f"{self._holder}/w{index}"

    def pids(self) -> list[int]:
        """Return the process ids of the running workers."""
        return [p.pid for p in self._processes if p is not None and p.pid is not None and p.is_alive()]

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every worker to finish its batch and exit; kill those that do not in time."""
        self._stop.value = True
        for process in self._processes:
            if process is None:
                continue
            process.join(timeout)
            if process.is_alive():
                log.warning("processing worker %s did not stop in %.0fs; killing it", process.name, timeout)
                process.kill()
                process.join()
