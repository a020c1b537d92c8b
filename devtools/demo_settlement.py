"""The demo's finance days: SAP's seeded billing anomalies are on from the start (a price difference, an
over-billing, another currency, an invoice without delivery, a credit memo, cancellations), and every
business day SAP billed is settled: matched, written, verified and delivered to the sandbox's SFTP
server; the last day once more, to show a re-run writes and sends nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import requests

ANOMALIES = {"module": "config", "fields": {"billing_anomalies": True}}


def enable_anomalies(sandbox: dict[str, Any]) -> None:
    requests.post(f"{sandbox['control_url']}/records/sap_s4", json=ANOMALIES, timeout=10).raise_for_status()


def _sap_billing(sandbox: dict[str, Any]) -> list[Any]:
    from connectors.sap_s4 import SapClient, SapConfig

    s = sandbox["systems"]["sap_s4"]
    with SapClient(SapConfig(base_url=s["base_url"], user=s["user"], password=s["password"])) as sap:
        return list(sap.billing_documents())


def run_settlement(
    dag: Any, clock: datetime, sandbox: dict[str, Any], run_one: Callable, say: Callable[[str], None]
) -> list[tuple[str, str, float]]:
    days = sorted({d.billing_date for d in _sap_billing(sandbox) if d.billing_date})
    say(f"  … SAP billed on {len(days)} days: {', '.join(d.isoformat() for d in days)}")
    results = [run_one(dag, clock, {"day": day.isoformat()}) for day in days]
    if days:
        say("  … the last day once more: nothing new is written or sent")
        results.append(run_one(dag, clock, {"day": days[-1].isoformat()}))
    return results


def settlement_summary(conn: Any, sandbox: dict[str, Any], say: Callable[[str], None]) -> None:
    from sqlalchemy import select

    from hub.schema import settlement_exceptions, settlements
    from hub.settings import get_settings

    rows = conn.execute(select(settlements).order_by(settlements.c.business_day, settlements.c.company_code)).all()
    if not rows:
        return
    reasons = Counter(r.reason for r in conn.execute(select(settlement_exceptions.c.reason)))
    sap: dict[tuple[str, date, str], Decimal] = {}
    for d in _sap_billing(sandbox):
        sign = -1 if d.category in ("N", "O") else 1
        key = (d.company_code, d.billing_date, d.currency)
        sap[key] = sap.get(key, Decimal(0)) + sign * d.net_amount
    say("Finance settlement (three-way match: ordered vs goods-issued vs billed):")
    for r in rows:
        billed = ", ".join(
            f"{c} {t['net']} (SAP {sap.get((r.company_code, r.business_day, c), Decimal(0))})"
            for c, t in sorted((r.billing_totals or {}).items())
        )
        say(
            f"  {r.company_code} {r.business_day}  v{r.version:02d} {r.status:<9} {r.records:>4} lines settled, "
            f"{r.exceptions:>3} exceptions; billed net {billed or '0'}"
        )
    say("  exceptions by reason: " + (", ".join(f"{k} {n}" for k, n in reasons.most_common()) or "none"))
    differences = reasons.get("totals_difference", 0)
    say(
        "  totals against SAP's billing documents: "
        + ("equal to the minor unit on every day" if not differences else f"{differences} differences (see exceptions)")
    )
    files = requests.get(f"{sandbox['control_url']}/sftp/files", timeout=10).json()["files"]
    say(f"  delivered over SFTP: {len(files)} files ({sandbox['control_url']}/sftp/files)")
    folder = get_settings().settlement_dir
    say(f"  files              {folder} (<company>_settlement_<day>_vNN.csv/.xlsx/.manifest.json)")
    say("  verify             .venv/bin/hub settlement verify <file>")
