"""The ``hub`` command: database, ledger, quarantine, settings and sandbox.

hub db upgrade | current
hub ledger list [--status S] [--target T] | retry [--id N ...] [--target T]
hub quarantine list [--status S] [--stage S] [--source S] [--error-class C] | show ID
               | requeue [--id N ...] [--stage S] [--source S]
hub settings check
hub inventory show DAY | approve DAY [--note TEXT] | reject DAY [--note TEXT]
hub settlement verify FILE
hub planning show WEEK | approve WEEK [--note TEXT] | reject WEEK [--note TEXT]
hub sandbox up [--seed N] [--orders N] [--port P]
hub receiver [--host H] [--port P]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import Any


def _table(rows: Sequence[Any], columns: Sequence[str], as_json: bool, wrap: str | None = None) -> str:
    """Rows as aligned columns (or JSON lines). Nothing is cut: the ``wrap`` column goes last and
    wraps to the terminal's width, its continuation lines under its start."""
    records = [{c: getattr(r, c) for c in columns} for r in rows]
    if as_json:
        return "\n".join(json.dumps(rec, default=str, ensure_ascii=False) for rec in records)
    if not records:
        return "(none)"
    fixed = [c for c in columns if c != wrap]
    cells = [["" if rec[c] is None else str(rec[c]) for c in fixed] for rec in records]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(fixed)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(fixed, widths, strict=True)) + (f"  {wrap}" if wrap else "")]
    indent = sum(widths) + 2 * len(widths)
    room = max(40, shutil.get_terminal_size((160, 24)).columns - indent - 1)
    for rec, row in zip(records, cells, strict=True):
        line = "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True))
        if not wrap:
            lines.append(line.rstrip())
            continue
        parts = _wrapped("" if rec[wrap] is None else str(rec[wrap]), room) or [""]
        lines.append(f"{line}  {parts[0]}".rstrip())
        lines += [" " * indent + part for part in parts[1:]]
    return "\n".join(lines)


def _wrapped(text: str, width: int) -> list[str]:
    return [part for line in text.splitlines() for part in (textwrap.wrap(line, width) or [""])]


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
        cols = ["id", "target", "idem_key", "status", "attempts", "response_ref", "updated_at", "last_error"]
        print(_table(rows, cols, args.json, wrap="last_error"))
    else:
        n = ledger.requeue_failed(_engine(), ids=args.id, target=args.target)
        print(f"{n} failed ledger entries marked pending; the owning flow re-sends them on its next run")
    return 0


QUARANTINE_STATUSES = ("open", "requeued", "resolved", "all")


class UsageError(Exception):
    """A command line that names something that does not exist: told on stderr, exit code 2."""


def _quarantine_filters(engine: Any, args: argparse.Namespace) -> dict[str, str | None]:
    """The filters of ``hub quarantine list/requeue``, each checked against what exists."""
    from hub import quarantine

    status = args.status if args.status not in ("", "all") else None
    if args.status not in ("", *QUARANTINE_STATUSES):
        raise UsageError(f"unknown status {args.status!r}: choose one of {', '.join(QUARANTINE_STATUSES)}")
    filters = {"stage": args.stage, "source": args.source, "error_class": getattr(args, "error_class", None)}
    if any(filters.values()):
        known = quarantine.known_values(engine)
        for name, value in filters.items():
            if value and value not in known[name]:
                held = ", ".join(known[name]) or "none yet"
                raise UsageError(f"unknown {name.replace('_', ' ')} {value!r}: the quarantine holds records of {held}")
    return {"status": status, **filters}


def cmd_quarantine(args: argparse.Namespace) -> int:
    from hub import quarantine

    engine = _engine()
    if args.action == "show":
        return _show_quarantined(engine, args)
    if args.record_id is not None:
        raise UsageError(f"'hub quarantine {args.action}' takes no record id; select records with --id")
    filters = _quarantine_filters(engine, args)
    if args.action == "list":
        rows = quarantine.list_records(engine, limit=args.limit, **filters)
        total = quarantine.count_records(engine, **filters)
        cols = ["id", "stage", "source", "record_key", "error_class", "field", "status", "detail"]
        print(_table(rows, cols, args.json, wrap="detail"))
        which = f"{filters['status']} " if filters["status"] else ""
        more = f"; --limit {total} shows all" if len(rows) < total else ""
        print(
            f"showing {len(rows)} of {total} {which}records, newest first{more};"
            " 'hub quarantine show ID' shows one with its payload",
            file=sys.stderr if args.json else sys.stdout,
        )
        return 0
    if filters["error_class"]:
        raise UsageError("requeue selects by --id, --stage, --source or --all, not by --error-class")
    if not (args.id or args.stage or args.source or args.all):
        print("say what to requeue: --id, --stage, --source or --all", file=sys.stderr)
        return 2
    n = quarantine.requeue(engine, ids=args.id, stage=args.stage, source=args.source)
    print(f"{n} quarantined records requeued; the owning flow replays them on its next run")
    return 0


def _show_quarantined(engine: Any, args: argparse.Namespace) -> int:
    from hub import quarantine

    if args.record_id is None:
        raise UsageError("say which record: hub quarantine show ID (the id column of 'hub quarantine list')")
    row = quarantine.get_record(engine, args.record_id)
    if row is None:
        print(f"no quarantined record with id {args.record_id}", file=sys.stderr)
        return 1
    record = dict(row._mapping)
    if args.json:
        print(json.dumps(record, default=str, ensure_ascii=False, indent=2))
        return 0
    width = max(60, shutil.get_terminal_size((100, 24)).columns - 4)
    facts = [
        ("stage", record["stage"]),
        ("source", record["source"]),
        ("record key", record["record_key"]),
        ("error class", record["error_class"]),
        ("field to fix", record["field"] or "(not named)"),
        ("run", record["run_id"] or "-"),
        ("held since", record["created_at"]),
        ("last change", record["updated_at"]),
    ]
    lines = [f"quarantined record {record['id']} ({record['status']})"]
    lines += [f"  {name:<14}{value}" for name, value in facts]
    lines += ["detail:", *("  " + part for part in _wrapped(record["detail"], width))]
    if record["expectations"]:
        lines += ["expectations broken:", *(f"  - {e}" for e in record["expectations"])]
    found = quarantine.field_paths(record["payload"], record["field"])
    if found:
        lines += [f"where {record['field']} is in the payload:"]
        lines += [f"  {path} = {json.dumps(value, default=str, ensure_ascii=False)}" for path, value in found]
    lines += ["payload:", json.dumps(record["payload"], default=str, ensure_ascii=False, indent=2)]
    if record["status"] == "open":
        lines += [f"fix it at the source, then: hub quarantine requeue --id {record['id']}"]
    print("\n".join(lines))
    return 0


def cmd_settings(_args: argparse.Namespace) -> int:
    from connectors.crm import enabled
    from hub.settings import load_settings

    settings = load_settings()
    enabled(settings)  # every CRM in crm.enabled has a registered adapter (connectors/crm/)
    print(json.dumps(settings.model_dump(mode="json"), indent=2, ensure_ascii=False))
    return 0


def cmd_inventory(args: argparse.Namespace) -> int:
    import getpass
    from datetime import date

    from flows.inventory_reconciliation import decide
    from flows.inventory_reconciliation.reconciling import DecisionError
    from flows.inventory_reconciliation.reporting import summary_of

    try:
        day = date.fromisoformat(args.day)
    except ValueError:
        raise UsageError(f"DAY must be a date like 2026-12-06, not {args.day!r}") from None
    engine = _engine()
    if args.action in ("approve", "reject"):
        try:
            result = decide(engine, day, args.action == "approve", f"cli:{getpass.getuser()}", args.note)
        except DecisionError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        then = "the next run posts them to SAP" if result["status"] == "approved" else "nothing will be posted"
        print(f"adjustments of {day} {result['status']} by {result['by']}: {then}")
        return 0
    summary, lines = summary_of(engine, day)
    if summary["status"] is None:
        print(f"no reconciliation of {day}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"summary": summary, "lines": lines}, default=str, ensure_ascii=False, indent=2))
        return 0
    if summary.get("decided_by"):
        print(f"decided by {summary['decided_by']} at {summary['decided_at']}: {summary['decision_note'] or '-'}")
    print(
        f"{day}: {summary['status']}; {summary['lines']} lines: {summary['matched']} matched, "
        f"{summary['explained']} explained, {summary['recount']} to recount, {summary['adjust']} to adjust "
        f"(approved {summary['approved']}, posted {summary['posted']}); record accuracy {summary['record_accuracy']}"
    )
    shown = [r for r in lines if r["status"] in ("recount", "adjust")]
    rows = [argparse.Namespace(**r) for r in shown]
    cols = [
        "plant",
        "material",
        "stock_type",
        "status",
        "book_qty",
        "physical_qty",
        "difference_qty",
        "difference_value",
        "decision",
        "explanation",
    ]
    print(_table(rows, cols, False, wrap="explanation"))
    return 0


def cmd_planning(args: argparse.Namespace) -> int:
    from cli.planning import planning_command
    from hub.settings import get_settings

    try:
        return planning_command(_engine(), args.action, args.week, get_settings().hub.timezone, args.note, args.json)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_settlement(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cli.settlement import verify_command

    return verify_command(Path(args.file))


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
    qua.add_argument("action", choices=["list", "show", "requeue"])
    qua.add_argument("record_id", nargs="?", type=int, metavar="ID", help="the record 'show' prints in full")
    qua.add_argument("--status", default="open", help="open | requeued | resolved | all (default open)")
    qua.add_argument("--stage")
    qua.add_argument("--source")
    qua.add_argument("--error-class", help="e.g. BusinessRule(quantity), DataQuality")
    qua.add_argument("--id", type=int, action="append")
    qua.add_argument("--all", action="store_true", help="requeue every open record")
    qua.add_argument("--limit", type=int, default=200)
    qua.add_argument("--json", action="store_true")
    qua.set_defaults(func=cmd_quarantine)

    st = sub.add_parser("settings", help="validate and show the settings")
    st.add_argument("action", choices=["check"])
    st.set_defaults(func=cmd_settings)

    inv = sub.add_parser("inventory", help="a day's count reconciliation and the decision on its adjustments")
    inv.add_argument("action", choices=["show", "approve", "reject"])
    inv.add_argument("day", metavar="DAY", help="the business day, YYYY-MM-DD")
    inv.add_argument("--note", help="why (kept with the decision)")
    inv.add_argument("--json", action="store_true")
    inv.set_defaults(func=cmd_inventory)

    pl = sub.add_parser("planning", help="a planning week's proposals and the decision on them")
    pl.add_argument("action", choices=["show", "approve", "reject"])
    pl.add_argument("week", metavar="WEEK", help="any day of the planning week, YYYY-MM-DD")
    pl.add_argument("--note", help="why (kept with the decision)")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_planning)

    se = sub.add_parser("settlement", help="check a settlement file against its manifest")
    se.add_argument("action", choices=["verify"])
    se.add_argument("file", metavar="FILE", help="the settlement CSV or XLSX (its manifest beside it)")
    se.set_defaults(func=cmd_settlement)

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

    _quiet_migrations()
    try:
        return args.func(args)
    except (SettingsError, UsageError) as exc:
        print(exc, file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `hub … | head` closed the pipe: the reader has what it wanted, nothing went wrong.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _quiet_migrations() -> None:
    """Alembic logs each migration at INFO, and Airflow's logging (configured when a command looks up
    the hub_db Connection) prints them: the command says what it did in one line instead."""
    logging.getLogger("alembic").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
