"""`make bench`: throughput figures measured in one run, printed as ratios."""

from __future__ import annotations

import argparse

from bench.pipeline import run_pipeline_bench
from bench.queue_page import run_queue_page_bench


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
    parser.add_argument("--only", choices=("pipeline", "queue"), help="run one benchmark")
    args = parser.parse_args()
    if args.only != "queue":
        run_pipeline_bench(args.messages)
    if args.only != "pipeline":
        run_queue_page_bench(args.queue_messages, args.queue_items)


if __name__ == "__main__":
    main()
