"""Several `tactful run` processes on one PostgreSQL database: each listener polled by one process at
a time, every mention stored and acknowledged once, a killed process's work taken over, roles split.

Each process reaches the X simulator through its own recording proxy, so the test knows which
process made every request and when.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, func, select

from simulator.generate import COMPLAINTS, PRODUCTS, QUESTIONS
from simulator.x import XSimulator
from storage import tables as t
from storage.db import make_engine
from storage.leases import LISTENER, PARTITION, live_holders
from tactful.clock import SystemClock
from tests.e2e_helpers import SECRET_ENV, db_ready, load_test_policy, start_service, wait_for, write_config

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LEASE_SECONDS = 2
MENTIONS = "/2/users/1000/mentions"


@dataclass(frozen=True, slots=True)
class Seen:
    """One request a process made: when, what."""

    at: float
    method: str
    path: str


class RecordingProxy:
    """Forwards one process's requests to the simulator and records them."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.seen.append(Seen(time.monotonic(), self.command, self.path.split("?")[0]))
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                request = urllib.request.Request(
                    proxy.target + self.path, data=body, headers=headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        status, reply, reply_headers = response.status, response.read(), response.headers
                except urllib.error.HTTPError as exc:
                    status, reply, reply_headers = exc.code, exc.read(), exc.headers
                self.send_response(status)
                for name, value in reply_headers.items():
                    if name.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "date",
                        "server",
                    ):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The address to give the process instead of the simulator's."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def requests(self, path: str, method: str = "GET") -> list[float]:
        """When this process requested `path`."""
        with self._lock:
            return [s.at for s in self.seen if s.path == path and s.method == method]

    def sends(self) -> int:
        """How many tweets this process posted."""
        with self._lock:
            return sum(1 for s in self.seen if s.method == "POST" and s.path == "/2/tweets")

    def stop(self) -> None:
        """Stop forwarding."""
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def sim() -> Iterator[XSimulator]:
    simulator = XSimulator("1000", "acme")
    simulator.start()
    yield simulator
    simulator.stop()


def post_burst(sim: XSimulator, start: int, count: int, rng: random.Random) -> list[str]:
    ids = []
    for n in range(start, start + count):
        user_id = str(5000 + n)
        sim.add_user(user_id, f"customer{n}", f"Customer {n}")
        template = rng.choice(COMPLAINTS + QUESTIONS)
        ids.append(sim.post(user_id, f"@acme {template.format(p=rng.choice(PRODUCTS), n=n)}"))
    return ids


def stored(db: Engine) -> Counter[str]:
    with db.connect() as conn:
        return Counter(conn.execute(select(t.messages.c.external_id)).scalars())


def settled(db: Engine, sim: XSimulator, expected: int) -> bool:
    with db.connect() as conn:
        messages = conn.execute(select(func.count()).select_from(t.messages)).scalar_one()
        unprocessed = conn.execute(
            select(func.count()).select_from(t.messages).where(t.messages.c.status != "processed")
        ).scalar_one()
        open_sends = conn.execute(
            select(func.count()).select_from(t.outbox).where(t.outbox.c.status.in_(("pending", "sending")))
        ).scalar_one()
        acks = conn.execute(
            select(func.count()).select_from(t.outbox).where(t.outbox.c.kind == "public_reply")
        ).scalar_one()
    return messages == expected and unprocessed == 0 and open_sends == 0 and len(sim.brand_replies()) == acks


def assert_acknowledged_once(sim: XSimulator, ids: list[str]) -> None:
    replies = Counter(reply.in_reply_to_tweet_id for reply in sim.brand_replies())
    assert all(count == 1 for count in replies.values()), replies.most_common(3)
    assert set(ids) <= set(replies)  # every burst message was a complaint or a question


def switches(*timelines: list[float]) -> int:
    """How often the process making the requests changed, over the merged request times."""
    merged = sorted((at, who) for who, times in enumerate(timelines) for at in times)
    return sum(1 for a, b in pairwise(merged) if a[1] != b[1])


def holders_now(db: Engine, prefix: str) -> dict[str, str]:
    with db.connect() as conn:
        return live_holders(conn, prefix, SystemClock().now())


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Secrets, short leases and a policy without the global send cap (per process) in the way."""
    policy = load_test_policy()
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    return {
        **SECRET_ENV,
        "TACTFUL_PROCESSING__LEASE_SECONDS": str(LEASE_SECONDS),
        "TACTFUL_POLICY__PATH": str(policy_file),
    }


@pytest.fixture
def pg(postgres_schema_url: str) -> Iterator[tuple[str, Engine]]:
    db = make_engine(postgres_schema_url)
    yield postgres_schema_url, db
    db.dispose()


def running(processes: list[subprocess.Popen[bytes]]) -> bool:
    """True while every process runs; fails the test at once when one exited."""
    exited = [p.args for p in processes if p.poll() is not None]
    assert not exited, f"tactful run exited early: {exited}"
    return True


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_two_processes_share_the_work_and_one_takes_over_when_the_other_is_killed(
    tmp_path: Path, sim: XSimulator, pg: tuple[str, Engine], env: dict[str, str]
) -> None:
    url, db = pg
    rng = random.Random(8)
    proxies = [RecordingProxy(sim.base_url) for _ in range(2)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        configs = []
        for n, proxy in enumerate(proxies):
            directory = tmp_path / f"p{n}"
            directory.mkdir()
            configs.append(write_config(directory, proxy.url, url, workers=1))
        first = post_burst(sim, 0, 1, rng)  # a first-ever poll starts from "now": one page of history
        processes = [start_service(config, config.parent / "service.log", env) for config in configs]
        wait_for(
            lambda: running(processes) and db_ready(db) and sum(stored(db).values()) == 1,
            90,
            "the first poll",
        )
        wait_for(
            lambda: running(processes) and len(holders_now(db, "worker:")) == 2, 90, "both processing workers"
        )
        wait_for(lambda: len(set(holders_now(db, PARTITION).values())) == 2, 30, "the partitions shared out")
        burst = post_burst(sim, 1, 60, rng)
        wait_for(lambda: settled(db, sim, 61), 120, "both processes to store, process and answer the burst")
        assert set(stored(db).values()) == {1}
        assert_acknowledged_once(sim, first + burst)
        shares = Counter(holders_now(db, PARTITION).values())
        assert sorted(shares.values()) == [8, 8]
        # Each listener is polled by one process at a time: the same process all along.
        for endpoint in (MENTIONS, "/2/tweets/search/recent"):
            timelines = [proxy.requests(endpoint) for proxy in proxies]
            assert sum(map(len, timelines)) > 10
            assert switches(*timelines) == 0, endpoint
        assert sum(proxy.sends() for proxy in proxies) == len(sim.brand_replies())

        # Kill the process polling the mentions; the other takes its listener and partitions over.
        victim = next(n for n, proxy in enumerate(proxies) if proxy.requests(MENTIONS))
        survivor = 1 - victim
        processes[victim].send_signal(signal.SIGKILL)
        processes[victim].wait(timeout=30)
        killed_at = time.monotonic()
        more = post_burst(sim, 61, 30, rng)
        wait_for(lambda: proxies[survivor].requests(MENTIONS), 60, "the survivor to poll the mentions")
        took_over = proxies[survivor].requests(MENTIONS)[0] - killed_at
        wait_for(lambda: settled(db, sim, 91), 120, "the survivor to catch up")
        assert took_over <= LEASE_SECONDS + 5  # the lease's expiry, plus a loaded machine's slack
        assert set(stored(db).values()) == {1}
        assert_acknowledged_once(sim, first + burst + more)
        wait_for(
            lambda: Counter(holders_now(db, PARTITION).values()).most_common(1)[0][1] == 16,
            30,
            "the survivor's worker to hold every partition",
        )
        assert len(set(holders_now(db, LISTENER).values())) == 1
    finally:
        stop_all(processes)
        for proxy in proxies:
            proxy.stop()


def test_a_listener_process_and_a_worker_process_together_do_the_whole_job(
    tmp_path: Path, sim: XSimulator, pg: tuple[str, Engine], env: dict[str, str]
) -> None:
    url, db = pg
    rng = random.Random(9)
    proxies = {role: RecordingProxy(sim.base_url) for role in ("listener", "worker")}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        first = post_burst(sim, 0, 1, rng)
        for role, proxy in proxies.items():
            directory = tmp_path / role
            directory.mkdir()
            config = write_config(directory, proxy.url, url, workers=1)
            processes.append(start_service(config, directory / "service.log", env, args=["--role", role]))
        wait_for(
            lambda: running(processes) and db_ready(db) and sum(stored(db).values()) == 1,
            90,
            "the first poll",
        )
        burst = post_burst(sim, 1, 40, rng)
        wait_for(lambda: settled(db, sim, 41), 120, "the two roles to store, process and answer the burst")
        assert_acknowledged_once(sim, first + burst)
        listener, worker = proxies["listener"], proxies["worker"]
        assert listener.requests(MENTIONS) and not worker.requests(MENTIONS)
        assert worker.sends() == len(sim.brand_replies()) and listener.sends() == 0
        assert len(set(holders_now(db, PARTITION).values())) == 1
    finally:
        stop_all(processes)
        for proxy in proxies.values():
            proxy.stop()
