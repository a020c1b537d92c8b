"""The ``hub`` command: database, ledger, quarantine, settings and sandbox.

hub db upgrade | current
hub ledger list [--status S] [--target T] | retry [--id N ...] [--target T]
hub quarantine list [--status S] [--stage S] [--source S] | requeue [--id N ...] [--stage S] [--source S]
hub settings check
hub sandbox up [--seed N] [--orders N] [--port P]
hub receiver [--host H] [--port P]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any


def _table(rows: Sequence[Any], columns: Sequence[str], as_json: bool) -> str:
    records = [{c: getattr(r, c) for c in columns} for r in rows]
    if as_json:
        return "\n".join(json.dumps(rec, default=str, ensure_ascii=False) for rec in records)
    if not records:
        return "(none)"
    cells = [[("" if rec[c] is None else str(rec[c]))[:80] for c in columns] for rec in records]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _engine():  # noqa: ANN202
    from flows.connections import hub_engine

    return hub_engine()


def cmd_db(args: argparse.Namespace) -> int:
    from flows.connections import hub_database_url
    from hub.db import current_revision, upgrade

    url = hub_database_url()
    if args.action == "upgrade":
        upgrade(url)
        print(f"hub database at revision {current_revision(url)}")
    else:
        from sqlalchemy.engine import make_url

        print(f"{make_url(url).render_as_string(hide_password=True)}: revision {current_revision(url)}")
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    from hub import ledger

    if args.action == "list":
        rows = ledger.list_entries(_engine(), status=args.status, target=args.target, limit=args.limit)
        cols = ["id", "target", "idem_key", "status", "attempts", "response_ref", "last_error", "updated_at"]
        print(_table(rows, cols, args.json))
    else:
        n = ledger.requeue_failed(_engine(), ids=args.id, target=args.target)
        print(f"{n} failed ledger entries marked pending; the owning flow re-sends them on its next run")
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    from hub import quarantine

    if args.action == "list":
        rows = quarantine.list_records(
            _engine(), status=args.status, stage=args.stage, source=args.source, limit=args.limit
        )
        cols = ["id", "stage", "source", "record_key", "error_class", "field", "detail", "status"]
        print(_table(rows, cols, args.json))
    else:
        if not (args.id or args.stage or args.source or args.all):
            print("say what to requeue: --id, --stage, --source or --all", file=sys.stderr)
            return 2
        n = quarantine.requeue(_engine(), ids=args.id, stage=args.stage, source=args.source)
        print(f"{n} quarantined records requeued; the owning flow replays them on its next run")
    return 0


def cmd_settings(_args: argparse.Namespace) -> int:
    from connectors.crm import enabled
    from hub.settings import load_settings

    settings = load_settings()
    enabled(settings)  # every CRM in crm.enabled has a registered adapter (connectors/crm/)
    print(json.dumps(settings.model_dump(mode="json"), indent=2, ensure_ascii=False))
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.server import main as sandbox_main

    return sandbox_main(["up", *args.rest])


def cmd_receiver(args: argparse.Namespace) -> int:
    from receiver.main import serve

    return serve(args.host, args.port, log_level=args.log_level)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="Spare-parts order hub")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="hub database migrations")
    db.add_argument("action", choices=["upgrade", "current"])
    db.set_defaults(func=cmd_db)

    led = sub.add_parser("ledger", help="outgoing messages and their delivery state")
    led.add_argument("action", choices=["list", "retry"])
    led.add_argument("--status", choices=["pending", "in_flight", "sent", "failed"])
    led.add_argument("--target")
    led.add_argument("--id", type=int, action="append")
    led.add_argument("--limit", type=int, default=200)
    led.add_argument("--json", action="store_true", help="one JSON object per line")
    led.set_defaults(func=cmd_ledger)

    qua = sub.add_parser("quarantine", help="refused records and their reasons")
    qua.add_argument("action", choices=["list", "requeue"])
    qua.add_argument("--status", default="open", help="open | requeued | resolved ('' for all)")
    qua.add_argument("--stage")
    qua.add_argument("--source")
    qua.add_argument("--id", type=int, action="append")
    qua.add_argument("--all", action="store_true", help="requeue every open record")
    qua.add_argument("--limit", type=int, default=200)
    qua.add_argument("--json", action="store_true")
    qua.set_defaults(func=cmd_quarantine)

    st = sub.add_parser("settings", help="validate and show the settings")
    st.add_argument("action", choices=["check"])
    st.set_defaults(func=cmd_settings)

    sb = sub.add_parser("sandbox", help="run the emulators of the outside systems", add_help=False)
    sb.add_argument("rest", nargs=argparse.REMAINDER)
    sb.set_defaults(func=cmd_sandbox)

    rc = sub.add_parser("receiver", help="take the 3PL warehouse's Qimen pushes into the hub's inbox")
    rc.add_argument("--host", default="127.0.0.1")
    rc.add_argument("--port", type=int, default=8090)
    rc.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    rc.set_defaults(func=cmd_receiver)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "sandbox" and args.rest[:1] == ["up"]:
        args.rest = args.rest[1:]
    from hub.settings import SettingsError

    try:
        return args.func(args)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
