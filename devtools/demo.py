"""``make demo``: start the sandbox, run every flow end to end on the embedded SQLite hub, report.

Steps: start the sandbox systems; prepare a project-local Airflow (metadata DB, Connections to
the sandbox, pools); migrate a fresh hub database; run each DAG with ``dag.test()``, in the order
data flows; print a summary (records per stage, quarantine reasons, ledger) and the paths of what
was written; stop the sandbox. Exits non-zero if any run failed.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import datetime, timedelta
from typing import Any

import requests

from devtools.demo_inventory import inventory_summary, run_inventory
from devtools.demo_planning import planning_summary, run_planning
from devtools.demo_settlement import enable_anomalies, run_settlement, settlement_summary
from hub.settings import PROJECT_ROOT, get_settings

# The order data flows in; DAGs found in dags/ but not listed here run after these.
FLOW_ORDER = [
    "master_data_sync",
    "crm_order_sync",
    "sap_order_posting",
    "shipment_notices",
    "inventory_reconciliation",
    "finance_settlement",
    "replenishment_planning",
    "ops_report",
    "ops_alerts",
]
DEMO_HISTORY = timedelta(days=42)  # the sandbox seeds six weeks of orders before its clock


def _say(text: str = "") -> None:
    print(text, flush=True)


def _run_conf(dag_id: str, now: datetime) -> dict[str, Any]:
    if dag_id == "crm_order_sync":
        # One run over the whole seeded history instead of 4,000 fifteen-minute intervals.
        return {"window_start": (now - DEMO_HISTORY).isoformat(), "window_end": now.isoformat()}
    return {}


# shipment_notices runs as the days pass: SAP creates deliveries as confirmed dates come due, the
# warehouse ships and pushes its confirmations, the parcels travel: (seconds the sandbox clock moves,
# whether the warehouse's pushes are flushed first).
SHIPPING_DAYS = [(36 * 3600, False), (12 * 3600, True), (3 * 86_400, True)]


def _run_dags(now: datetime, sandbox: dict[str, Any]) -> list[tuple[str, str, float]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        for path, err in bag.import_errors.items():
            _say(f"  ✗ cannot import {path}: {err}")
        raise SystemExit(1)
    order = [d for d in FLOW_ORDER if d in bag.dag_ids] + sorted(set(bag.dag_ids) - set(FLOW_ORDER))
    results = []
    clock = now  # the sandbox's time; the shipping days move it on, and the DAGs after them run there
    for i, dag_id in enumerate(order, 1):
        dag = bag.get_dag(dag_id)
        _say(f"▶ [{i}/{len(order)}] {dag_id}: {len(dag.tasks)} tasks …")
        if dag_id == "shipment_notices":
            for advance, push in SHIPPING_DAYS:
                at = _move_clock(sandbox, advance)
                if push:
                    pushed = requests.post(f"{sandbox['control_url']}/qimen_wms/push", timeout=120).json()["pushes"]
                    _say(f"  … {_days(advance)} later the warehouse pushed {len(pushed)} confirmations")
                else:
                    _say(f"  … {_days(advance)} later")
                results.append(_run_one(dag, at, {}))
            clock = at
            continue
        if dag_id == "inventory_reconciliation":
            results += run_inventory(dag, clock, sandbox, _run_one, _say)
            continue
        if dag_id == "finance_settlement":
            results += run_settlement(dag, clock, sandbox, _run_one, _say)
            continue
        if dag_id == "replenishment_planning":
            results += run_planning(dag, clock, sandbox, _run_one, _say)
            continue
        results.append(_run_one(dag, clock, _run_conf(dag_id, clock)))
        if dag_id == "ops_report":  # the business day before the sandbox's clock
            _say(f"  … report written: {_report_path()}")
    return results


def _report_path() -> str:
    """The report ops_report wrote last (the business day before the sandbox's clock)."""
    written = sorted((get_settings().output_dir / "reports").glob("ops_report_*.html"), key=lambda p: p.stat().st_mtime)
    return str(written[-1]) if written else "none written"


def _days(seconds: float) -> str:
    if seconds < 86_400:
        return f"{seconds / 3600:.0f} hours"
    days = seconds / 86_400
    return f"{days:g} day" + ("s" if days != 1 else "")


def _run_one(dag: Any, at: datetime, conf: dict[str, Any]) -> tuple[str, str, float]:
    # dag.test() cannot finish a run of a DAG with a DeadlineAlert (it looks the alert up by the id only
    # the DAG processor stores, Airflow 3.3.2); make up runs the deadline for real.
    dag.deadline = None
    started = time.monotonic()
    dag_run = dag.test(logical_date=at, run_conf=conf)
    elapsed = time.monotonic() - started
    state = str(getattr(dag_run, "state", "failed"))
    for ti in sorted(dag_run.get_task_instances(), key=lambda t: (t.start_date or at, t.map_index)):
        mark = {"success": "✓", "skipped": "·"}.get(str(ti.state), "✗")
        label = ti.task_id + (f"[{ti.rendered_map_index or ti.map_index}]" if ti.map_index >= 0 else "")
        _say(f"    {mark} {label:<36} {ti.state}")
    _say(f"  {'✓' if state == 'success' else '✗'} {dag.dag_id} {state} in {elapsed:.1f} s")
    return dag.dag_id, state, elapsed


def _move_clock(sandbox: dict[str, Any], seconds: float) -> datetime:
    answer = requests.post(f"{sandbox['control_url']}/clock", json={"advance_seconds": seconds}, timeout=10)
    answer.raise_for_status()
    return datetime.fromisoformat(answer.json()["now"])


def _summary(engine, sandbox: dict[str, Any]) -> None:  # noqa: ANN001
    from collections import Counter

    from sqlalchemy import select

    from hub import sql
    from hub.schema import quarantine

    _say("\n== What happened ==")
    with engine.connect() as conn:
        _say("CRM orders (pulled → accepted / quarantined):")
        intake = sql.query("crm_intake", lists=("sources",))
        for source, pulled, accepted, held in conn.execute(intake, {"sources": list(get_settings().crm.enabled)}):
            _say(f"  {source:<10} pulled {pulled:>5}   accepted {accepted:>5}   quarantined {held:>4}")
        reasons = Counter()
        examples: dict[str, str] = {}
        for r in conn.execute(select(quarantine).where(quarantine.c.status == "open").order_by(quarantine.c.id)):
            reason = f"{r.source} · {r.stage} · {r.error_class}({r.field or '-'})"
            reasons[reason] += 1
            examples.setdefault(reason, r.detail)
        if reasons:
            _say("Quarantine reasons (count, example):")
            for reason, n in reasons.most_common():
                _say(f"  {n:>4}  {reason}\n        e.g. {examples[reason][:150]}")
        gates = conn.execute(sql.query("gate_balance")).all()
        if gates:
            _say("Data-quality gates (rows in = passed + quarantined):")
            for gate, ev, ok, bad in gates:
                _say(f"  {gate:<24} {ev:>6} = {ok:>6} + {bad:>5}")
        _sap_summary(conn)
        _shipment_summary(conn)
        inventory_summary(conn, _say)
        settlement_summary(conn, sandbox, _say)
        planning_summary(conn, sandbox, _say)
        sends = conn.execute(sql.query("ledger_by_target")).all()
        if sends:
            _say("Ledger (messages to outside systems):")
            for target, status, n in sends:
                _say(f"  {target:<28} {status:<10} {n:>5}")


def _sap_summary(conn) -> None:  # noqa: ANN001
    from sqlalchemy import func, select

    from hub import sql
    from hub.schema import QUANTITY, ledger, sap_orders

    states = dict(conn.execute(sql.query("orders_by_state")).all())
    if not states:
        return
    posted = conn.execute(select(func.count()).select_from(sap_orders)).scalar_one()
    short = conn.execute(sql.query("backorder_lines", types={"short_qty": QUANTITY})).one()
    told = dict(conn.execute(sql.query("confirmations_by_status")).all())
    failed = conn.execute(
        select(func.count()).where(ledger.c.status == "failed", ledger.c.target.like("sap.%"))
    ).scalar_one()
    _say("SAP order posting:")
    _say(f"  posted to SAP      {posted:>5} sales orders")
    _say(
        f"  backordered        {states.get('backordered', 0) + states.get('partial', 0):>5} orders "
        f"({states.get('backordered', 0)} waiting for stock, {states.get('partial', 0)} partly confirmed; "
        f"{short[0]} lines, {short[1] or 0:.0f} units short)"
    )
    _say(
        f"  confirmed          {sum(told.values()):>5} confirmations sent to CRM + e-mail "
        f"({told.get('confirmed', 0)} full, {told.get('partially_confirmed', 0)} partial, "
        f"{told.get('backordered', 0)} backorder notices)"
    )
    _say(
        f"  held / review      {states.get('held', 0):>5} / {states.get('review', 0)} "
        "(quarantine sap_posting / sap_postings)"
    )
    _say(f"  failed             {failed:>5} SAP postings failed in the ledger (retried next run)")
    _say("  order states       " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))


def _shipment_summary(conn) -> None:  # noqa: ANN001
    from sqlalchemy import func, select

    from hub import sql
    from hub.schema import order_cancellations, receiver_inbox, shipment_confirms

    progress = conn.execute(sql.query("shipment_progress")).all()
    if not progress:
        return
    pushed = conn.execute(select(func.count()).select_from(receiver_inbox)).scalar_one()
    applied = conn.execute(select(func.count()).select_from(shipment_confirms)).scalar_one()
    cancels = dict(
        conn.execute(select(order_cancellations.c.status, func.count()).group_by(order_cancellations.c.status)).all()
    )
    asn = sorted(get_settings().asn_dir.glob("ASN_*.x12"))
    _say("Shipments (3PL warehouse over Qimen):")
    for stage, n in progress:
        _say(f"  {stage:<44} {n:>5}")
    _say(f"  confirmations stored by the receiver   {pushed:>5} (a replayed push is answered, not stored twice)")
    _say(f"  confirmations applied to deliveries    {applied:>5}")
    _say(f"  X12 856 ship notices                   {len(asn):>5} files in {get_settings().asn_dir}")
    if cancels:
        _say("  cancellations after SAP               " + ", ".join(f"{k} {v}" for k, v in sorted(cancels.items())))


SEED, ORDERS = 7, 600
ALERT_MAILBOX = "ops@parts-hub.example"  # the demo's operations mailbox (alerts.email_to)


def _alerts(engine, sandbox: dict[str, Any]) -> None:  # noqa: ANN001
    """What ops_alerts told, per channel, and that a second pass at the same time tells nothing."""
    from sqlalchemy import func, select

    from flows.alerting import ALERT_TARGETS, run_checks
    from hub.schema import ledger

    at = datetime.fromisoformat(requests.get(f"{sandbox['control_url']}/clock", timeout=10).json()["now"])
    again = run_checks(engine, at)
    with engine.connect() as conn:
        sent = conn.execute(
            select(ledger.c.target, func.count())
            .where(ledger.c.target.in_(sorted(ALERT_TARGETS)), ledger.c.status == "sent")
            .group_by(ledger.c.target)
        ).all()
    opened = ", ".join(f"{t} {n}" for t, n in again["open"].items() if n) or "none"
    _say(f"▶ alerts: {sum(again['open'].values())} open ({opened})")
    _say(
        "    told "
        + " · ".join(f"{target} {n}" for target, n in sent)
        + f"; a second pass at the same time told {sum(again['deliveries'].get('sent', {}).values())}"
    )
    _say(f"    see {sandbox['control_url']}/mail?to={ALERT_MAILBOX}, /wecom/messages, /dingtalk/messages")


def _with_receiver(sandbox: dict[str, Any], url: str, run: Any) -> Any:
    """Run ``run`` with the hub's receiver listening, and the sandbox warehouse pushing to it. The
    receiver checks pushes against the sandbox's clock: the demo moves that clock days ahead."""
    from devtools.servers import serving
    from hub.db import make_engine
    from receiver.app import create_app

    wms = sandbox["systems"]["qimen_wms"]
    engine = make_engine(url)

    def sandbox_now() -> datetime:
        return datetime.fromisoformat(requests.get(f"{sandbox['control_url']}/clock", timeout=10).json()["now"])

    app = create_app(lambda: engine, wms["secret"], wms["app_key"], wms["customer_id"], clock=sandbox_now)
    with serving(app) as receiver_url:
        requests.post(f"{sandbox['control_url']}/qimen_wms/receiver", json={"url": f"{receiver_url}/qimen"}, timeout=10)
        _say(f"▶ receiver listening: {receiver_url}/qimen (the warehouse pushes here)")
        try:
            return run()
        finally:
            engine.dispose()


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    out = get_settings().output_dir
    # The ERP extract the sandbox business comes with; master_data_sync imports it from here.
    extract_dir = out / "sandbox" / "masterdata"
    os.environ["HUB__MASTERDATA__EXTRACT_DIR"] = str(extract_dir)
    get_settings.cache_clear()
    out.mkdir(parents=True, exist_ok=True)
    hub_db_path = out / "hub.sqlite"
    for stale in out.glob("hub.sqlite*"):  # every demo starts from an empty hub
        stale.unlink()

    from devtools import local_airflow
    from sandbox.erp_extract import write_extract
    from sandbox.seed_data import generate
    from sandbox.testing import running_sandbox

    _say("▶ starting the sandbox systems …")
    with running_sandbox(seed=SEED, orders=ORDERS) as sandbox:
        now = datetime.fromisoformat(sandbox["now"])
        enable_anomalies(sandbox)  # SAP bills a few documents wrong, as in life: finance sees the exceptions
        write_extract(generate(SEED, ORDERS, now), extract_dir)
        _say(f"    ERP master-data extract → {extract_dir}")
        for name, system in sandbox["systems"].items():
            where = (
                system.get("api_domain")
                or system.get("base_url")
                or system.get("url")
                or f"{'sftp' if name == 'sftp' else 'smtp'}://{system['host']}:{system['port']}"
            )
            _say(f"    {name:<10} {where}")
        _say("▶ preparing Airflow in .airflow/ (metadata DB, Connections, pools) …")
        env = local_airflow.prepare(sandbox, hub_db_path, fresh=True)
        os.environ.update(env)
        os.environ.pop("HUB_DATABASE_URL", None)
        from hub.db import make_engine, upgrade

        url = f"sqlite:///{hub_db_path}"
        upgrade(url)
        _say(f"▶ hub database ready: {hub_db_path}")
        # Alerts go to an ops mailbox of the sandbox, besides its WeCom and DingTalk robots.
        os.environ.setdefault("HUB__ALERTS__EMAIL_TO", ALERT_MAILBOX)
        # dag.test() cannot wait for a person: adjustments are approved as `hub inventory approve` does.
        os.environ["HUB__INVENTORY__APPROVAL"] = "cli"
        os.environ["HUB__PLANNING__APPROVAL"] = "cli"
        os.environ["HUB__INVENTORY__COUNT_DIR"] = str(out / "sandbox" / "counts")
        get_settings.cache_clear()
        results = _with_receiver(sandbox, url, lambda: _run_dags(now, sandbox))
        engine = make_engine(url)
        _alerts(engine, sandbox)
        _summary(engine, sandbox)
        engine.dispose()
        mails = requests.get(f"{sandbox['control_url']}/mail", timeout=10).json()["messages"]
        _say(f"  e-mails captured by the sandbox SMTP server: {len(mails)}  ({sandbox['control_url']}/mail)")

    failed = [d for d, state, _ in results if state != "success"]
    _say("\n== Where things are ==")
    _say(f"  hub database      {hub_db_path}")
    _say(f"  output folder     {out}")
    _say(f"  ship notices      {get_settings().asn_dir} (X12 856 per delivery of an EDI customer)")
    _say(f"  ops report        {get_settings().output_dir / 'reports'} (ops_report_<day>.html with charts, .csv)")
    inventory = get_settings().output_dir / "inventory"
    _say(f"  inventory         {inventory} (inventory_reconciliation_<day>.html, .csv, .xlsx)")
    _say(f"  settlement        {get_settings().settlement_dir} (per company: files, manifests, exceptions)")
    _say(f"  planning          {get_settings().planning_dir} (replenishment_planning_<week>.html, .csv, .xlsx)")
    _say(f"  Airflow home      {local_airflow.AIRFLOW_HOME} (logs in {local_airflow.AIRFLOW_HOME / 'logs'})")
    _say(
        "  inspect           .venv/bin/hub quarantine list  ·  hub ledger list  ·  hub inventory show DAY"
        "  ·  hub planning show WEEK"
    )
    _say(f"\n{'✗ ' + ', '.join(failed) + ' failed' if failed else '✓ all flows succeeded'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
