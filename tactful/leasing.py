"""Sharing work between `tactful run` processes through leases (storage/leases.py).

`LeaseKeeper` holds one named lease for a process (a listener, a singleton job): it is taken
when free or expired, renewed on every use, and moves to another process when its holder stops
renewing it. `PartitionLeases` keeps a processing worker's fair share of the cluster's fixed
processing partitions: each worker heartbeats, counts the live workers and holds
``ceil(partitions / live workers)`` partitions, releasing extras when workers join and taking
over partitions whose holder died. Every thread belongs to one partition (``thread_id %
partitions``) and every partition has at most one holder, so a thread is still processed by one
worker at a time, in order.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from storage.leases import (
    PARTITION,
    WORKER,
    acquire,
    holder_process,
    holders,
    live_holders,
    partition_index,
    partition_name,
    release,
    renew,
)
from tactful.clock import Clock

log = logging.getLogger(__name__)

#: How often a worker renews its leases and looks at the cluster (at most; checked between batches).
PARTITION_TICK = timedelta(seconds=1)


class LeaseKeeper:
    """One named lease this process wants: `hold()` takes or renews it; gains and losses are logged once."""

    def __init__(
        self,
        db: Engine,
        clock: Clock,
        name: str,
        holder: str,
        ttl: timedelta,
        on_gain: Callable[[], object] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self._on_gain = on_gain
        self.held = False

    def hold(self) -> bool:
        """Take or renew the lease; return whether this process holds it now."""
        now = self._clock.now()
        with self._db.begin() as conn:
            held = self.name in acquire(conn, [self.name], self.holder, now, self.ttl)
        if held and not self.held:
            log.info("%s: this process (%s) took the lease", self.name, self.holder)
            self.held = True
            if self._on_gain is not None:
                self._on_gain()
        elif not held and self.held:
            log.warning("%s: lease lost to another process; standing by", self.name)
        self.held = held
        return held

    def standby_delay(self, interval: timedelta) -> timedelta:
        """How long to wait before trying again while another process holds the lease."""
        return min(interval, self.ttl / 4)

    def release(self) -> None:
        """Give the lease up now (on shutdown), so another process need not wait for it to expire."""
        if self.held:
            with self._db.begin() as conn:
                release(conn, self.holder, [self.name])
            self.held = False


def fair_share(partitions: int, workers: int) -> int:
    """How many partitions each of `workers` live workers holds: ``ceil(partitions / workers)``."""
    return math.ceil(partitions / max(workers, 1))


class PartitionLeases:
    """One processing worker's heartbeat and its fair share of the cluster's processing partitions.

    `preferred` partitions are taken first and given up last (worker k of a pool of n prefers
    the partitions that are k modulo n, so a single service splits evenly from the start).
    `min_workers` is how many workers this worker knows will run (its own pool), so the first
    worker of a pool does not take every partition only to give most of them back a moment later.
    """

    def __init__(
        self,
        db: Engine,
        clock: Clock,
        holder: str,
        partitions: int,
        ttl: timedelta,
        min_workers: int = 1,
        preferred: frozenset[int] = frozenset(),
        tick: timedelta = PARTITION_TICK,
    ) -> None:
        if partitions < 1:
            raise ValueError("at least one partition is needed")
        self._db = db
        self._clock = clock
        self.holder = holder
        self.partitions = partitions
        self.ttl = ttl
        self._min_workers = min_workers
        self._preferred = preferred
        self._tick = tick
        self._next_tick: datetime | None = None
        self.held: frozenset[int] = frozenset()

    def refresh(self, force: bool = False) -> frozenset[int]:
        """Renew and rebalance when a tick is due (or `force`); return the partitions held."""
        now = self._clock.now()
        if force or self._next_tick is None or now >= self._next_tick:
            self._next_tick = now + self._tick
            self._rebalance(now)
        return self.held

    def _order(self, partition: int) -> tuple[bool, int]:
        return (partition not in self._preferred, partition)

    def _rebalance(self, now: datetime) -> None:
        heartbeat = f"{WORKER}{self.holder}"
        with self._db.begin() as conn:
            acquire(conn, [heartbeat], self.holder, now, self.ttl)  # a write first: takes SQLite's lock
            workers = live_holders(conn, WORKER, now)
            share = fair_share(self.partitions, max(len(workers), self._min_workers))
            held = {partition_index(name) for name in renew(conn, self.holder, now, self.ttl, PARTITION)}
            if len(held) > share:
                extras = sorted(held, key=self._order)[share:]
                release(conn, self.holder, [partition_name(p) for p in extras])
                held -= set(extras)
            elif len(held) < share:
                taken = live_holders(conn, PARTITION, now)
                free = sorted(
                    (p for p in range(self.partitions) if partition_name(p) not in taken),
                    key=self._order,
                )
                wanted = [partition_name(p) for p in free[: share - len(held)]]
                held |= {partition_index(n) for n in acquire(conn, wanted, self.holder, now, self.ttl)}
        gained, lost = held - self.held, self.held - held
        if gained or lost:
            log.info(
                "worker %s now holds %d of %d partitions (took %s, gave up %s)",
                self.holder,
                len(held),
                self.partitions,
                sorted(gained) or "none",
                sorted(lost) or "none",
            )
        self.held = frozenset(held)

    def release_all(self) -> None:
        """Give up every partition and the heartbeat (on shutdown), so the others rebalance now."""
        with self._db.begin() as conn:
            release(conn, self.holder)
        self.held = frozenset()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def release_dead_local_holders(db: Engine) -> list[str]:
    """Release the leases of processes of this host that are gone (a restart after a crash need not wait).

    Only holders named with this host's name and another pid that no longer runs are released;
    any other lease is left to expire.
    """
    host, me = socket.gethostname()[:64], os.getpid()
    released: list[str] = []
    with db.begin() as conn:
        for holder in sorted(holders(conn)):
            origin = holder_process(holder)
            if origin is None or origin[0] != host or origin[1] == me or _alive(origin[1]):
                continue
            release(conn, holder)
            released.append(holder)
    if released:
        log.info("released the leases of %d stopped process(es) of this host", len(released))
    return released
