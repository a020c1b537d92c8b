"""What every CRM write-back says to people: the confirmation's summary, in English or Chinese.

Which fields carry it, and the rest of the write-back (status, SAP number, confirmed quantities and
dates) and its read-back, are each CRM's wire knowledge: ``connectors/crm/<name>.py``
(``confirmation_update``, ``holds``); the flows hand the summary to the adapter (flows/crms.py).
"""

from __future__ import annotations

from typing import Any

from transforms.confirmation import Confirmation


def summary_en(c: Confirmation) -> str:
    backordered = [ln for ln in c.lines if ln.backordered_qty > 0]
    head = f"SAP order {c.sap_order}" if c.sap_order else "Not yet in SAP"
    if not backordered:
        return f"{head}: all {len(c.lines)} lines confirmed"
    parts = ", ".join(f"line {ln.line_no} {ln.material} {_qty(ln.backordered_qty)} {ln.unit}" for ln in backordered)
    return f"{head}: backordered {parts}"


def summary_zh(c: Confirmation) -> str:
    backordered = [ln for ln in c.lines if ln.backordered_qty > 0]
    head = f"SAP订单 {c.sap_order}" if c.sap_order else "尚未进入SAP"
    if not backordered:
        return f"{head}：全部 {len(c.lines)} 行已确认"
    parts = "，".join(f"第{ln.line_no}行 {ln.material} 缺 {_qty(ln.backordered_qty)} {ln.unit}" for ln in backordered)
    return f"{head}：缺货待补 {parts}"


def _qty(value: Any) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def summary(c: Confirmation, language: str) -> str:
    """The summary in ``language`` (``en`` or ``zh``)."""
    return {"en": summary_en, "zh": summary_zh}[language](c)
