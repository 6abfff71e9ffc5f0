"""`tactful promises`: reply times acknowledgements promised, and whether people kept them.

Newest deadline first; ``--broken`` shows only broken ones (a pending promise whose time has
passed counts as broken even before the service's sweep records it), ``--pending`` only those
still open, ``--json`` prints them for tools.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime


def add_promise_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `tactful promises` to the command line."""
    p = sub.add_parser("promises", help="reply times we promised customers: pending, kept, broken")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--broken", action="store_true", help="only promises not kept in time")
    which.add_argument("--pending", action="store_true", help="only promises whose time has not come")
    p.add_argument("--json", action="store_true", help="print them as JSON")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=cmd_promises)


def cmd_promises(args: argparse.Namespace) -> int:
    """List promises with their status as of now."""
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.promises import BROKEN, PENDING, list_promises
    from tactful.settings import load_settings

    settings = load_settings(args.config)
    engine = make_engine(settings.storage.url)
    upgrade(engine)
    status = BROKEN if args.broken else PENDING if args.pending else None
    with engine.connect() as conn:
        rows = list_promises(conn, datetime.now(UTC), status=status, limit=args.limit)
    engine.dispose()
    if args.json:
        json.dump([row.to_json() for row in rows], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("no broken promises" if args.broken else "no promises")
        return 0
    for row in rows:
        item = f"item #{row.item_id}" if row.item_id is not None else "no item"
        when = row.promised_at.strftime("%Y-%m-%d %H:%M UTC")
        settled = f", {row.settled_by} at {row.settled_at:%Y-%m-%d %H:%M}" if row.settled_at else ""
        text = " ".join(row.text.split())
        print(
            f"{row.status:<8} by {when}  {row.platform}/{row.channel}  @{row.author or '?'}  {item}{settled}"
        )
        print(f"         {text[:90]}")
    return 0
