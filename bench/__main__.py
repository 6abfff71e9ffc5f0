"""`make bench`: throughput figures measured in one run, printed as ratios."""

from __future__ import annotations

import argparse

from bench.latency import run_latency_bench
from bench.memory import run_memory_bench
from bench.pipeline import run_pipeline_bench
from bench.policy_replay import run_policy_replay_bench
from bench.queue_page import run_queue_page_bench
from bench.scaleout import run_scaleout_bench
from bench.stats import run_stats_bench


def main() -> None:
    """Run every benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument(
        "--queue-messages", type=int, default=100_000, help="stored messages for the queue page"
    )
    parser.add_argument(
        "--queue-items", type=int, default=10_000, help="open review items for the queue page"
    )
    parser.add_argument(
        "--replay-messages", type=int, default=100_000, help="stored messages for the policy replay"
    )
    parser.add_argument(
        "--stats-messages", type=int, default=1_000_000, help="stored messages for tactful stats"
    )
    parser.add_argument("--latency-rate", type=float, default=50.0, help="msg/s over webhook + long poll")
    parser.add_argument("--latency-seconds", type=float, default=60.0, help="how long the stream lasts")
    parser.add_argument("--latency-x-rate", type=float, default=1.0, help="msg/s of polled X mentions")
    parser.add_argument("--latency-x-poll", type=float, default=10.0, help="X poll interval (seconds)")
    parser.add_argument(
        "--memory-messages", type=int, default=1_000_000, help="backlog stored for the memory benchmark"
    )
    parser.add_argument(
        "--memory-process", type=int, default=None, help="stop once the workers processed this many"
    )
    parser.add_argument(
        "--only",
        choices=("pipeline", "queue", "replay", "stats", "scaleout", "latency", "memory"),
        help="run one benchmark",
    )
    args = parser.parse_args()
    if args.only in (None, "pipeline"):
        run_pipeline_bench(args.messages)
    if args.only in (None, "queue"):
        run_queue_page_bench(args.queue_messages, args.queue_items)
    if args.only in (None, "replay"):
        run_policy_replay_bench(args.replay_messages)
    if args.only in (None, "stats"):
        run_stats_bench(args.stats_messages)
    if args.only in (None, "scaleout"):
        run_scaleout_bench(args.messages)
    if args.only in (None, "latency"):
        run_latency_bench(
            args.latency_rate, args.latency_seconds, x_rate=args.latency_x_rate, x_poll=args.latency_x_poll
        )
    if args.only in (None, "memory"):
        run_memory_bench(args.memory_messages, args.memory_process)


if __name__ == "__main__":
    main()
