"""`make bench`: throughput figures measured in one run, printed as ratios."""

from __future__ import annotations

import argparse

from bench.pipeline import run_pipeline_bench


def main() -> None:
    """Run every benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args()
    run_pipeline_bench(args.messages)


if __name__ == "__main__":
    main()
