"""Acknowledgement latency under a sustained stream: a real `tactful run` against the three simulators.

Customers write at a steady rate for `duration` seconds: Facebook page comments (delivered by
signed webhooks) and Telegram private messages (long polling) share `rate` messages per second,
and X mentions (a polled channel) come at `x_rate` on top. Each customer is new, so every
complaint or question gets its own acknowledgement. A message's latency runs from the moment
the simulator accepts the post to the moment the simulator records the service's
acknowledgement of it; messages the policy does not acknowledge (praise, trolls, spam, unsure
verdicts) are left out. The service runs as `tactful run` does in production (SQLite, its
default processing workers and intervals unless overridden); the policy is the shipped one with
one layer that lifts `safety.global_sends_per_minute` (a deliberate throttle, 30 a minute, that
would otherwise be the whole measurement) and the identical-text check (generated customers with
look-alike names get look-alike acknowledgements, which it would hold back). Peak RSS (VmHWM) of the service and its worker
processes is sampled throughout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

import policies
from bench.rss import PeakTracker
from simulator.facebook import FacebookSimulator
from simulator.generate import generate_messages
from simulator.telegram import TelegramSimulator
from simulator.x import XSimulator

BRAND_ID = "1000"
PAGE_ID = "1000"
BOT_USERNAME = "acme_support_bot"
BOT_TOKEN = "7000000001:bench-only-not-a-real-bot-token"
SECRET = "bench-only-not-a-real-secret"
PAGE_TOKEN = "bench-only-page-token"
APP_SECRET = "bench-only-app-secret"
TARGET_SECONDS = 1.0
WARM_UP_TEXT = "my order never arrived and I was charged twice, I want a refund"


@dataclass(slots=True)
class Stream:
    """What one channel posted: message key -> the moment the simulator was asked to accept it."""

    name: str
    kind: str  # "webhook", "long poll" or "polled"
    posted: dict[str, datetime] = field(default_factory=dict)
    warm_up: set[str] = field(default_factory=set)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(
    tmp: Path,
    port: int,
    sims: tuple[XSimulator, FacebookSimulator, TelegramSimulator],
    args: dict[str, float],
) -> Path:
    """Write the bench's tactful.toml and policy layer; return the config path."""
    x, fb, tg = sims
    layer = tmp / "bench-policy.yaml"
    layer.write_text(
        "safety:\n  global_sends_per_minute: 1000000\n  identical_text_window_hours: 0\n", encoding="utf-8"
    )
    default_policy = Path(policies.__file__).parent / "default.yaml"
    processing = "".join(
        f"{key} = {args[key]}\n" for key in ("interval_seconds", "send_interval_seconds") if args.get(key)
    )
    config = tmp / "tactful.toml"
    config.write_text(
        f"""[storage]
url = "sqlite:///{tmp / "tactful.db"}"

[policy]
path = ["{default_policy}", "{layer}"]

[web]
host = "127.0.0.1"
port = {port}
dashboard = false

[processing]
{processing}
[x]
enabled = true
user_id = "{BRAND_ID}"
username = "acme"
api_base_url = "{x.base_url}"
poll_seconds = {args["x_poll"]}

[facebook]
enabled = true
page_id = "{PAGE_ID}"
page_name = "Acme"
graph_url = "{fb.base_url}"

[telegram]
enabled = true
bot_username = "{BOT_USERNAME}"
api_base_url = "{tg.base_url}/bot"
mode = "polling"
""",
        encoding="utf-8",
    )
    return config


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("BEARER_TOKEN", "CONSUMER_KEY", "CONSUMER_SECRET", "ACCESS_TOKEN", "ACCESS_TOKEN_SECRET"):
        env[f"TACTFUL_X__{key}"] = SECRET
    env["TACTFUL_FACEBOOK__PAGE_TOKEN"] = PAGE_TOKEN
    env["TACTFUL_FACEBOOK__APP_SECRET"] = APP_SECRET
    env["TACTFUL_FACEBOOK__VERIFY_TOKEN"] = SECRET
    env["TACTFUL_TELEGRAM__BOT_TOKEN"] = BOT_TOKEN
    return env


def _wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tactful run exited with code {process.returncode}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("tactful run did not answer /healthz in time")


class Traffic:
    """Posts customer messages on the three simulators, each from a new customer."""

    def __init__(self, x: XSimulator, fb: FacebookSimulator, tg: TelegramSimulator, texts: list[str]) -> None:
        self.x, self.fb, self.tg = x, fb, tg
        self.texts = texts
        self.post_id = fb.add_post("Our spring range is in stock now")
        self.streams = {
            "facebook": Stream("Facebook comments", "webhook"),
            "telegram": Stream("Telegram private chats", "long poll"),
            "x": Stream("X mentions", "polled"),
        }
        self._count = 0
        self._lock = threading.Lock()

    def _next(self) -> tuple[int, str]:
        with self._lock:
            self._count += 1
            return self._count, self.texts[self._count % len(self.texts)].removeprefix("@acme ")

    def post(self, platform: str, warm_up: bool = False) -> None:
        """Have a new customer write one message on `platform` and note when the simulator took it."""
        n, text = self._next()
        if warm_up:
            text = WARM_UP_TEXT
        stream = self.streams[platform]
        if platform == "facebook":
            user = str(4_000_000 + n)
            self.fb.add_user(user, f"Customer {n}")
            at = datetime.now(UTC)
            key = self.fb.comment(self.post_id, user, text)  # delivers the signed webhook
        elif platform == "telegram":
            user_id = 5_000_000 + n
            self.tg.add_user(user_id, f"Customer{n}")
            at = datetime.now(UTC)
            self.tg.user_says(user_id, user_id, text)
            key = str(user_id)
        else:
            user = str(3_000_000 + n)
            self.x.add_user(user, f"customer{n}", f"Customer {n}")
            at = datetime.now(UTC)
            key = self.x.post(user, f"@acme {text}")
        stream.posted[key] = at
        if warm_up:
            stream.warm_up.add(key)

    def acknowledgements(self) -> dict[str, dict[str, datetime]]:
        """Message key -> when the simulator recorded the first acknowledgement of it, per platform."""
        acks: dict[str, dict[str, datetime]] = {"x": {}, "facebook": {}, "telegram": {}}

        def note(platform: str, key: str | None, at: datetime) -> None:
            if key is not None and (key not in acks[platform] or at < acks[platform][key]):
                acks[platform][key] = at

        for reply in self.x.brand_replies():
            note("x", reply.in_reply_to_tweet_id, reply.created_at)
        for comment in self.fb.page_comment_replies():
            note("facebook", comment.target_id, comment.created_at)
        for private in self.fb.private_replies():
            note("facebook", private.comment_id, private.created_at)
        for sent in self.tg.sent_messages():
            note("telegram", str(sent.chat_id), sent.date)
        return acks


def _pace(rate: float, seconds: float, post: Callable[[], None], stop: threading.Event) -> None:
    """Call `post` `rate` times a second for `seconds` (catching up if a call ran late)."""
    if rate <= 0:
        return
    start = time.monotonic()
    count = int(rate * seconds)
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return
        post()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index]


def _wait_for(check: Callable[[], bool], timeout: float, tracker: PeakTracker) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tracker.sample()
        if check():
            return True
        time.sleep(0.5)
    return False


def run_latency_bench(
    rate: float = 50.0,
    duration: float = 60.0,
    x_rate: float = 1.0,
    x_poll: float = 10.0,
    interval_seconds: float | None = None,
    send_interval_seconds: float | None = None,
) -> dict[str, float]:
    """Run the stream against `tactful run`, print latency per channel type, throughput and peak RSS."""
    texts = [m.text for m in generate_messages(2000, seed=3)]
    sims = (
        XSimulator(brand_user_id=BRAND_ID, brand_username="acme"),
        FacebookSimulator(PAGE_ID, PAGE_TOKEN, app_secret=APP_SECRET, page_name="Acme"),
        TelegramSimulator(BOT_TOKEN, BOT_USERNAME, bot_first_name="Acme"),
    )
    for sim in sims:
        sim.start()
    x, fb, tg = sims
    traffic = Traffic(x, fb, tg, texts)
    settings = {
        "x_poll": x_poll,
        "interval_seconds": interval_seconds or 0,
        "send_interval_seconds": send_interval_seconds or 0,
    }
    port = _free_port()
    stop = threading.Event()
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), port, sims, settings)
        log_path = Path(tmp) / "service.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tactful.cli", "--config", str(config), "run"],
                env=_environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        tracker = PeakTracker(process.pid)
        try:
            _wait_healthy(port, process)
            fb.auto_webhook_url = f"http://127.0.0.1:{port}/webhooks/facebook"
            for platform in ("facebook", "telegram", "x"):
                traffic.post(platform, warm_up=True)

            def warmed() -> bool:
                acks = traffic.acknowledgements()
                return all(
                    any(k in acks[p] for k in traffic.streams[p].warm_up)
                    for p in ("facebook", "telegram", "x")
                )

            if not _wait_for(warmed, 300, tracker):
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"the warm-up messages were not acknowledged within 300 s:\n{tail}")
            threads = [
                threading.Thread(
                    target=_pace, args=(rate / 2, duration, lambda: traffic.post("facebook"), stop)
                ),
                threading.Thread(
                    target=_pace, args=(rate / 2, duration, lambda: traffic.post("telegram"), stop)
                ),
                threading.Thread(target=_pace, args=(x_rate, duration, lambda: traffic.post("x"), stop)),
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                tracker.sample()
                time.sleep(1.0)
            posting = time.monotonic() - started
            last = {"count": -1.0, "since": time.monotonic()}

            def settled() -> bool:  # no new acknowledgement for a whole X poll interval and 3 s more
                count = float(sum(len(v) for v in traffic.acknowledgements().values()))
                if count != last["count"]:
                    last["count"], last["since"] = count, time.monotonic()
                return time.monotonic() - last["since"] > x_poll + 3

            _wait_for(settled, 180, tracker)
            tracker.sample()
        finally:
            stop.set()
            fb.auto_webhook_url = None
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for sim in sims:
                sim.stop()
        failures = [line for line in log_path.read_text(errors="replace").splitlines() if "Traceback" in line]
    return _report(traffic, tracker, rate, x_rate, duration, posting, x_poll, len(failures))


def _report(
    traffic: Traffic,
    tracker: PeakTracker,
    rate: float,
    x_rate: float,
    duration: float,
    posting: float,
    x_poll: float,
    tracebacks: int,
) -> dict[str, float]:
    acks = traffic.acknowledgements()
    posted_total = sum(len(s.posted) - len(s.warm_up) for s in traffic.streams.values())
    print(
        f"latency benchmark: `tactful run` (SQLite, default workers) against the simulators; "
        f"{rate:g} msg/s over Facebook webhooks + Telegram long polling and {x_rate:g} msg/s of X mentions "
        f"(polled every {x_poll:g} s) for {duration:g} s"
    )
    print(f"  posted {posted_total} messages in {posting:.1f} s ({posted_total / posting:.1f} msg/s)")
    figures: dict[str, float] = {}
    for platform, stream in traffic.streams.items():
        latencies = [
            (acks[platform][key] - at).total_seconds()
            for key, at in stream.posted.items()
            if key not in stream.warm_up and key in acks[platform]
        ]
        measured = len(stream.posted) - len(stream.warm_up)
        if not latencies:
            print(f"  {stream.name:24} ({stream.kind}): none of {measured} acknowledged")
            continue
        p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
        target = TARGET_SECONDS if stream.kind != "polled" else x_poll + TARGET_SECONDS
        verdict = "under" if p99 < target else "OVER"
        print(
            f"  {stream.name:24} ({stream.kind:9}) {len(latencies):5} of {measured:5} acknowledged   "
            f"p50 {p50:6.3f} s   p99 {p99:6.3f} s   max {max(latencies):6.3f} s   "
            f"({verdict} the {target:g} s target)"
        )
        figures[f"{platform}_p50"], figures[f"{platform}_p99"] = p50, p99
        figures[f"{platform}_acknowledged"] = len(latencies)
    acknowledged = sum(int(figures.get(f"{p}_acknowledged", 0)) for p in traffic.streams)
    print(
        f"  throughput: {posted_total / posting:.1f} msg/s in, {acknowledged / posting:.1f} acknowledgements/s out"
    )
    for pid, command, peak in tracker.report():
        role = "service" if pid == tracker.root else "child"
        print(f"  peak RSS {role:8} pid {pid:7}  {peak:7.1f} MB   {command}")
    if tracebacks:
        print(f"  the service log holds {tracebacks} traceback(s)")
    figures["tracebacks"] = tracebacks
    return figures
