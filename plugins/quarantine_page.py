"""HTML of the quarantine page in the Airflow UI (:mod:`plugins.quarantine_ui` serves it).

Server-rendered from ``plugins/templates/`` with Jinja2 and autoescaping: every value from a record
(payloads come from outside systems) is escaped, and the page needs no JavaScript to list, inspect
and requeue. Links are relative, so the page works under any ``[api] base_url`` and inside the UI's
frame.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
_STYLE = (TEMPLATES / "hub.css").read_text(encoding="utf-8")


def _when(value: Any) -> str:
    if value is None:
        return "-"
    text = value.isoformat(sep=" ", timespec="minutes") if hasattr(value, "isoformat") else str(value)
    return text.replace("+00:00", " UTC")


def list_page(
    *,
    user: str,
    rows: list[Any],
    total: int,
    summary: list[Any],
    known: dict[str, list[str]],
    status_counts: dict[str, int],
    filters: dict[str, str],
    status_choice: str,
    offset: int,
    limit: int,
    can_requeue: bool,
    message: str | None = None,
    refused: bool = False,
) -> str:
    """The list: counts per stage/source/error class, filters, the records, the requeue form."""

    def link(**changes: Any) -> str:
        params = {"status": status_choice, **filters, "offset": 0, **changes}
        return "./?" + urlencode({k: v for k, v in params.items() if v not in ("", None, 0)})

    back = link()[2:]  # the query string: the requeue comes back to the same view
    return _env.get_template("quarantine_list.html.j2").render(
        title="Quarantine",
        style=_STYLE,
        user=user,
        rows=rows,
        total=total,
        total_all=sum(row.count for row in summary),
        summary=summary,
        choices=[("stage", known["stage"]), ("source", known["source"]), ("error_class", known["error_class"])],
        statuses=["open", "requeued", "resolved", "all"],
        status_counts=status_counts,
        status_label=status_choice,
        status_choice=status_choice,
        filters=filters,
        offset=offset,
        limit=limit,
        can_requeue=can_requeue,
        message=message,
        refused=refused,
        back=back,
        link=link,
        when=_when,
    )


def record_page(
    *,
    user: str,
    record: dict[str, Any],
    paths: list[tuple[str, Any]],
    can_requeue: bool,
    message: str | None = None,
    refused: bool = False,
) -> str:
    """One record: the facts, the detail sentence, where the field to fix is, the payload."""
    return _env.get_template("quarantine_record.html.j2").render(
        title=f"Quarantine record {record['id']}",
        style=_STYLE,
        user=user,
        r=record,
        paths=[(path, json.dumps(value, ensure_ascii=False, default=str)) for path, value in paths],
        payload=json.dumps(record["payload"], ensure_ascii=False, indent=2, default=str, sort_keys=False),
        can_requeue=can_requeue,
        message=message,
        refused=refused,
        when=_when,
    )


def refused_page(heading: str, message: str, login_url: str | None = None, back_url: str | None = None) -> str:
    """What a browser gets instead of the page: not signed in (401) or not allowed (403)."""
    return _env.get_template("refused.html.j2").render(
        title=heading,
        style=_STYLE,
        user="",
        heading=heading,
        message=message,
        login_url=login_url,
        back_url=back_url,
    )
