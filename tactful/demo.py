"""`tactful demo`: the real service against the local simulators, with scripted customer traffic."""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import TextIO

from pydantic import SecretStr

from bots.outbox import SentEvent
from listeners.base import FetchResult, Listener
from simulator.script import TrafficScript, load_script
from simulator.x import XSimulator
from storage.ingest import IngestStats
from storage.queue import list_queue
from tactful.processing import ProcessedMessage
from tactful.service import Observers, ServiceRunner, build_service
from tactful.settings import ProcessingSettings, Settings, StorageSettings, XSettings


def _short(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class DemoPrinter:
    """Prints what happens as it happens, and keeps the tallies for the summary."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.received = 0
        self.categories: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()

    def _print(self, line: str) -> None:
        with self.lock:
            print(line, file=self.out, flush=True)

    def polled(self, listener: Listener, result: FetchResult, stats: IngestStats) -> None:
        """Report newly stored messages."""
        if stats.stored:
            self.received += stats.stored
            self._print(f"[in]      {listener.key}: {stats.stored} new message(s)")

    def processed(self, item: ProcessedMessage) -> None:
        """Report a verdict and the decision taken."""
        v, d = item.verdict, item.decision
        self.categories[v.category.value] += 1
        kinds = [type(a).__name__ for a in d.actions]
        self.actions.update(kinds)
        self._print(
            f"[message] @{item.message.author.username}: {_short(item.message.text)}\n"
            f"          verdict {v.category.value} ({v.language}, sentiment {v.sentiment_score:+.2f}, "
            f"toxicity {v.toxicity:.2f}, heat {item.heat:.2f}) — {_short(v.explanation, 100)}\n"
            f"          rule {d.rule_id} -> {', '.join(kinds) or 'nothing'}"
        )

    def sent_event(self, event: SentEvent) -> None:
        """Report a delivery confirmed by the platform."""
        self.sent[event.result.kind_used.value] += 1
        self._print(
            f"[sent]    {event.result.kind_used.value} for {event.entry.target_external_id} "
            f"(rule {event.entry.rule_id}): {_short(event.entry.text or '', 100)}"
        )


def _play(sim: XSimulator, script: TrafficScript, speed: float, stop: threading.Event) -> None:
    labels: dict[str, str] = {}
    start = time.monotonic()
    for event in script.events:
        delay = event.at / speed - (time.monotonic() - start)
        if delay > 0 and stop.wait(delay):
            return
        reply_to = labels.get(event.reply_to) if event.reply_to else None
        tweet_id = sim.post(event.user, event.text, in_reply_to=reply_to, lang=event.lang)
        if event.label:
            labels[event.label] = tweet_id


def demo_settings(workdir: Path, api_base_url: str, script: TrafficScript) -> Settings:
    """Settings for a demo run: SQLite in `workdir`, X pointed at the simulator, fast polling."""
    secret = SecretStr("demo-only-not-a-real-secret")
    return Settings(
        storage=StorageSettings(url=f"sqlite:///{workdir / 'tactful.db'}"),
        processing=ProcessingSettings(interval_seconds=0.5, send_interval_seconds=0.5, workers=0),
        x=XSettings(
            enabled=True,
            user_id=script.brand_user_id,
            username=script.brand_username,
            search_query=f"{script.brand_username} -from:{script.brand_username} -is:retweet",
            api_base_url=api_base_url,
            poll_seconds=2.0,
            bearer_token=secret,
            consumer_key=secret,
            consumer_secret=secret,
            access_token=secret,
            access_token_secret=secret,
        ),
    )


def run_demo(duration: float | None, speed: float = 1.0, keep: bool = False, out: TextIO = sys.stdout) -> int:
    """Run the demo until `duration` seconds pass (or Ctrl-C), then print a summary."""
    script = load_script()
    workdir = Path(tempfile.mkdtemp(prefix="tactful-demo-"))
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    printer = DemoPrinter(out)
    sim = XSimulator(brand_user_id=script.brand_user_id, brand_username=script.brand_username)
    for user in script.users:
        sim.add_user(user.id, user.username, user.name, accepts_dms=user.accepts_dms)
    base_url = sim.start()
    print(f"tactful demo: X simulator on {base_url}, data in {workdir}", file=out)
    print(
        f"              {len(script.events)} scripted posts for @{script.brand_username}; Ctrl-C stops",
        file=out,
    )
    service = build_service(
        demo_settings(workdir, base_url, script),
        observers=Observers(polled=printer.polled, processed=printer.processed, sent=printer.sent_event),
    )
    runner = ServiceRunner(service)
    runner.start()
    player = threading.Thread(target=_play, args=(sim, script, speed, stop), daemon=True)
    player.start()
    deadline = time.monotonic() + duration if duration is not None else None
    try:
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(0.2)
    finally:
        stop.set()
        runner.stop()
        _summary(service.settings.storage.url, sim, printer, out)
        sim.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _summary(url: str, sim: XSimulator, printer: DemoPrinter, out: TextIO) -> None:
    from storage.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        queue = list_queue(conn, limit=10)
        total_open = len(list_queue(conn, limit=100000))
    engine.dispose()
    replies, dms = sim.brand_replies(), sim.brand_dms()
    print("\n=== summary ===", file=out)
    print(f"messages stored:     {printer.received}", file=out)
    print(f"verdicts:            {dict(printer.categories)}", file=out)
    print(f"actions decided:     {dict(printer.actions)}", file=out)
    print(f"simulator received:  {len(replies)} public replies, {len(dms)} direct messages", file=out)
    print(f"review queue:        {total_open} open items; top of the queue:", file=out)
    for e in queue:
        print(f"  p{e.priority:<3} {e.category or '-':<9} @{e.author}: {_short(e.text, 70)}", file=out)
