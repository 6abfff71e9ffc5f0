"""`python -m moderation [FILE|-]`: classify JSON Lines from a file or stdin to stdout."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from moderation.classifier import Moderator
from moderation.classify_io import classify_stream


def main(argv: Sequence[str] | None = None) -> int:
    """Run the classifier over FILE (or stdin for "-"); exit 1 if any line was malformed."""
    parser = argparse.ArgumentParser(
        prog="python -m moderation",
        description='Classify JSON Lines {"id", "text", optional "lang"} into one verdict line each.',
    )
    parser.add_argument("file", nargs="?", default="-", help='input JSON Lines file, or "-" for stdin')
    parser.add_argument("--batch-size", type=int, default=2000, help="texts scored per batch")
    args = parser.parse_args(argv)
    moderator = Moderator()
    if args.file == "-":
        source = sys.stdin
        summary = classify_stream(source, moderator, sys.stdout, sys.stderr, args.batch_size)
    else:
        try:
            with open(args.file, encoding="utf-8") as source:
                summary = classify_stream(source, moderator, sys.stdout, sys.stderr, args.batch_size)
        except OSError as exc:
            parser.exit(2, f"cannot read {args.file}: {exc.strerror}\n")
    if summary.errors:
        sys.stderr.write(f"{summary.errors} of {summary.total} lines malformed\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
