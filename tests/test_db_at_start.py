"""A service started while its database is down waits for it (logged once) instead of exiting."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from simulator.x import XSimulator
from storage.db import make_engine
from tactful.outages import wait_for_database
from tests.e2e_helpers import db_ready, start_service, wait_for, write_config
from tests.tcp_forwarder import TcpForwarder

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def forwarded_url(postgres_schema_url: str) -> Iterator[tuple[str, TcpForwarder]]:
    """The test schema's URL through a TCP forwarder that starts cut (the database is down)."""
    url = make_url(postgres_schema_url)
    forwarder = TcpForwarder((url.host or "127.0.0.1", url.port or 5432)).start()
    forwarder.cut()
    try:
        yield (
            url.set(host=forwarder.host, port=forwarder.port).render_as_string(hide_password=False),
            forwarder,
        )
    finally:
        forwarder.stop()


def test_waiting_ends_when_the_database_answers_and_says_so_once_each_way(
    forwarded_url: tuple[str, TcpForwarder], caplog: pytest.LogCaptureFixture
) -> None:
    url, forwarder = forwarded_url
    caplog.set_level(logging.INFO, logger="tactful.outages")
    stop = threading.Event()
    result: list[bool] = []
    waiter = threading.Thread(
        target=lambda: result.append(wait_for_database(url, stop, first_delay=0.02, max_delay=0.05))
    )
    waiter.start()
    wait_for(lambda: forwarder.refused >= 4, 10, "several refused attempts")
    forwarder.restore()
    waiter.join(timeout=10)
    assert result == [True]
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "failed: database unavailable" in m]) == 1
    assert len([m for m in messages if "recovered after" in m]) == 1


def test_a_stop_while_waiting_ends_the_wait(forwarded_url: tuple[str, TcpForwarder]) -> None:
    url, _ = forwarded_url
    stop = threading.Event()
    stop.set()
    assert wait_for_database(url, stop) is False


def test_tactful_run_started_during_an_outage_starts_once_the_database_is_back(
    tmp_path: Path, forwarded_url: tuple[str, TcpForwarder]
) -> None:
    url, forwarder = forwarded_url
    sim = XSimulator("1000", "acme")
    sim.start()
    log = tmp_path / "service.log"
    process = start_service(write_config(tmp_path, sim.base_url, url), log)
    db = make_engine(url)
    try:
        wait_for(
            lambda: "database unavailable" in log.read_text(errors="replace"), 30, "the outage to be noticed"
        )
        assert process.poll() is None, "the service exited instead of waiting for its database"
        forwarder.restore()
        wait_for(lambda: db_ready(db), 60, "the service to migrate the database")
        sim.add_user("3001", "dana", "Dana")
        sim.post("3001", "@acme my order never arrived, can you help?")
        wait_for(lambda: len(sim.brand_replies()) == 1, 60, "the acknowledgement")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        db.dispose()
        sim.stop()
    assert log.read_text(errors="replace").count("database unavailable") == 1
