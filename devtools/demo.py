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
]
DEMO_HISTORY = timedelta(days=42)  # the sandbox seeds six weeks of orders before its clock


def _say(text: str = "") -> None:
    print(text, flush=True)


def _run_conf(dag_id: str, now: datetime) -> dict[str, Any]:
    if dag_id == "crm_order_sync":
        # One run over the whole seeded history instead of 4,000 fifteen-minute intervals.
        return {"window_start": (now - DEMO_HISTORY).isoformat(), "window_end": now.isoformat()}
    return {}


def _run_dags(now: datetime) -> list[tuple[str, str, float]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        for path, err in bag.import_errors.items():
            _say(f"  ✗ cannot import {path}: {err}")
        raise SystemExit(1)
    order = [d for d in FLOW_ORDER if d in bag.dag_ids] + sorted(set(bag.dag_ids) - set(FLOW_ORDER))
    results = []
    for i, dag_id in enumerate(order, 1):
        dag = bag.get_dag(dag_id)
        _say(f"▶ [{i}/{len(order)}] {dag_id}: {len(dag.tasks)} tasks …")
        started = time.monotonic()
        dag_run = dag.test(logical_date=now, run_conf=_run_conf(dag_id, now))
        elapsed = time.monotonic() - started
        state = str(getattr(dag_run, "state", "failed"))
        for ti in sorted(dag_run.get_task_instances(), key=lambda t: (t.start_date or now, t.map_index)):
            mark = "✓" if str(ti.state) == "success" else "✗"
            label = ti.task_id + (f"[{ti.rendered_map_index or ti.map_index}]" if ti.map_index >= 0 else "")
            _say(f"    {mark} {label:<36} {ti.state}")
        _say(f"  {'✓' if state == 'success' else '✗'} {dag_id} {state} in {elapsed:.1f} s")
        results.append((dag_id, state, elapsed))
    return results


def _summary(engine) -> None:  # noqa: ANN001
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


SEED, ORDERS = 7, 600


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
        write_extract(generate(SEED, ORDERS, now), extract_dir)
        _say(f"    ERP master-data extract → {extract_dir}")
        for name, system in sandbox["systems"].items():
            where = system.get("api_domain") or system.get("base_url") or f"smtp://{system['host']}:{system['port']}"
            _say(f"    {name:<10} {where}")
        _say("▶ preparing Airflow in .airflow/ (metadata DB, Connections, pools) …")
        env = local_airflow.prepare(sandbox, hub_db_path, fresh=True)
        os.environ.update(env)
        os.environ.pop("HUB_DATABASE_URL", None)
        from hub.db import make_engine, upgrade

        url = f"sqlite:///{hub_db_path}"
        upgrade(url)
        _say(f"▶ hub database ready: {hub_db_path}")
        results = _run_dags(now)
        engine = make_engine(url)
        _summary(engine)
        engine.dispose()
        mails = requests.get(f"{sandbox['control_url']}/mail", timeout=10).json()["messages"]
        _say(f"  e-mails captured by the sandbox SMTP server: {len(mails)}  ({sandbox['control_url']}/mail)")

    failed = [d for d, state, _ in results if state != "success"]
    _say("\n== Where things are ==")
    _say(f"  hub database      {hub_db_path}")
    _say(f"  output folder     {out}")
    _say(f"  Airflow home      {local_airflow.AIRFLOW_HOME} (logs in {local_airflow.AIRFLOW_HOME / 'logs'})")
    _say("  inspect           .venv/bin/hub quarantine list   ·   .venv/bin/hub ledger list")
    _say(f"\n{'✗ ' + ', '.join(failed) + ' failed' if failed else '✓ all flows succeeded'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
