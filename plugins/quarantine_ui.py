"""The quarantine page inside the Airflow UI: an Airflow 3 plugin (a FastAPI app mounted on the API
server at ``/hub-quarantine`` and an external view under "Hub" in the navigation).

Operations see what the hub held back (counts per stage, source and error class, filters), open a
record (the detail sentence, the field to fix and where it sits in the payload, the payload itself)
and requeue selected records (:func:`hub.quarantine.requeue`; the owning flow replays them on its
next run). It reads the hub database the deployment configured (:func:`flows.connections.hub_engine`).

**Sign-in.** Airflow mounts a plugin's FastAPI app without any protection, so every route here
depends on Airflow's own authentication: the JWT of the UI session (the ``_token`` cookie the API
server sets at sign-in, sent with every request of the page the UI frames) or an
``Authorization: Bearer`` token from ``POST /auth/token``, resolved by the same
``airflow.api_fastapi.core_api.security.get_user`` the REST API uses. Without one: 401. Then the auth
manager decides:

- reading needs ``GET`` on the custom resource ``Hub Quarantine`` (FAB: ``can_read``),
- requeueing needs ``PUT`` on it (FAB: ``can_edit``) **and** the right to edit DAG runs, since a
  requeue makes a flow replay records (the Simple auth manager grants custom views to every role,
  so the second check is what keeps its viewers out);

otherwise 403. A requeue POST must also come from this site (``Origin`` / ``Sec-Fetch-Site``); the
cookie is ``SameSite=Lax`` already. Each requeue is written to Airflow's audit log (Browse → Audit
Log) with the user and the ids.

``config/airflow_roles.json`` declares which roles hold these rights (``python -m plugins.hub_roles``).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Annotated, Any
from urllib.parse import urlsplit

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

URL_PREFIX = "/hub-quarantine"
RESOURCE = "Hub Quarantine"  # the auth manager's custom resource (FAB: a view menu with can_read / can_edit)
STATUSES = ("open", "requeued", "resolved", "all")
PAGE_SIZE = 50
MAX_REQUEUE = 1000


# ---------------------------------------------------------------------------------------------------
# Who is asking, and may they
# ---------------------------------------------------------------------------------------------------


def _auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


async def signed_in(request: Request) -> Any:
    """The Airflow user of the request (session cookie or bearer token), as the REST API resolves it;
    401 without a credential, 401/403 with an expired or forged one."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request, None, credentials)


SignedIn = Annotated[Any, Depends(signed_in)]


def may_read(user: Any) -> bool:
    return bool(_auth_manager().is_authorized_custom_view(method="GET", resource_name=RESOURCE, user=user))


def may_requeue(user: Any) -> bool:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

    manager = _auth_manager()
    return bool(
        manager.is_authorized_custom_view(method="PUT", resource_name=RESOURCE, user=user)
        and manager.is_authorized_dag(method="PUT", access_entity=DagAccessEntity.RUN, user=user)
    )


async def reader(user: SignedIn) -> Any:
    if not may_read(user):
        raise HTTPException(403, f"{user.get_name()} may not read the quarantine (needs can_read on {RESOURCE})")
    return user


async def requeuer(request: Request, user: SignedIn) -> Any:
    _same_site(request)
    if not may_requeue(user):
        raise HTTPException(
            403,
            f"{user.get_name()} may not requeue quarantined records "
            f"(needs can_edit on {RESOURCE} and on DAG runs; ask the integration team)",
        )
    return user


Reader = Annotated[Any, Depends(reader)]
Requeuer = Annotated[Any, Depends(requeuer)]


def _same_site(request: Request) -> None:
    """Refuse a state-changing request another site's page sent with the user's cookie."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise HTTPException(403, "cross-site request refused")
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(403, f"request from another origin ({origin}) refused")


# ---------------------------------------------------------------------------------------------------
# The hub database
# ---------------------------------------------------------------------------------------------------

_engines: dict[str, Any] = {}
_engines_lock = threading.Lock()


def hub_engine() -> Any:
    """One engine per hub database URL for the API server's lifetime (the URL is looked up each time,
    so a changed ``hub_db`` Connection takes effect without a restart)."""
    from flows.connections import hub_database_url
    from hub.db import make_engine

    url = hub_database_url()
    with _engines_lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


def _filters(status: str, stage: str | None, source: str | None, error_class: str | None) -> dict[str, Any]:
    if status not in STATUSES:
        raise HTTPException(400, f"unknown status {status!r}: choose one of {', '.join(STATUSES)}")
    return {
        "status": None if status == "all" else status,
        "stage": stage or None,
        "source": source or None,
        "error_class": error_class or None,
    }


def _status_counts(engine: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from hub.schema import quarantine

    with engine.connect() as conn:
        counts = dict(conn.execute(select(quarantine.c.status, func.count()).group_by(quarantine.c.status)).all())
    counts["all"] = sum(counts.values())
    return counts


def _record(row: Any, *, with_payload: bool) -> dict[str, Any]:
    record = dict(row._mapping)
    if not with_payload:
        record.pop("payload", None)
    for key in ("created_at", "updated_at"):
        if record.get(key) is not None:
            record[key] = record[key].isoformat()
    return record


def _requeue(user: Any, ids: list[int]) -> int:
    from hub import quarantine

    if not ids:
        raise HTTPException(400, "select the records to requeue")
    if len(ids) > MAX_REQUEUE:
        raise HTTPException(400, f"at most {MAX_REQUEUE} records per requeue")
    n = quarantine.requeue(hub_engine(), ids=ids)
    log.info("quarantine: %s requeued %d of %d selected records: %s", user.get_name(), n, len(ids), ids[:50])
    _audit(user, ids, n)
    return n


def _audit(user: Any, ids: list[int], requeued: int) -> None:
    """A row in Airflow's audit log (Browse → Audit Log): who requeued what."""
    try:
        from airflow.models.log import Log
        from airflow.utils.session import create_session

        with create_session() as session:
            session.add(
                Log(
                    event="hub.quarantine.requeue",
                    owner=user.get_name(),
                    extra=json.dumps({"ids": ids[:200], "selected": len(ids), "requeued": requeued}),
                )
            )
    except Exception:  # the requeue is done; a missing audit row must not turn it into an error
        log.warning("quarantine: audit log entry for %s's requeue not written", user.get_name(), exc_info=True)


# ---------------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------------

app = FastAPI(
    title="Spare-parts hub: quarantine",
    description="Records the hub held back; requeue them once fixed. Behind Airflow's sign-in.",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)


@app.exception_handler(HTTPException)
async def _refused(request: Request, exc: HTTPException) -> Any:
    """JSON for the API, a readable page for a browser (with the same status code)."""
    headers = getattr(exc, "headers", None)
    if request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/") or "json" in request.headers.get(
        "accept", ""
    ):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    from plugins.quarantine_page import refused_page

    login_url = None
    if exc.status_code == 401:
        heading, message = "Sign in first", "The quarantine page is part of Airflow: sign in to Airflow, then open it."
        try:
            login_url = _auth_manager().get_url_login(next_url=str(request.url))
        except Exception:
            login_url = None
    elif exc.status_code == 403:
        heading, message = "Not allowed", str(exc.detail)
    else:
        heading, message = "Cannot do that", str(exc.detail)
    back_url = None if exc.status_code == 401 else f"{request.scope.get('root_path', '')}/"
    return HTMLResponse(
        refused_page(heading, message, login_url, back_url), status_code=exc.status_code, headers=headers
    )


@app.get("/", response_class=HTMLResponse)
def page(
    user: Reader,
    status: str = "open",
    stage: str | None = None,
    source: str | None = None,
    error_class: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    requeued: int | None = None,
    selected: int | None = None,
) -> HTMLResponse:
    from hub import quarantine
    from plugins.quarantine_page import list_page

    filters = _filters(status, stage, source, error_class)
    engine = hub_engine()
    known = quarantine.known_values(engine)
    message = None
    if requeued is not None:
        message = (
            f"{requeued} of {selected or requeued} selected records requeued;"
            " the owning flow replays them on its next run."
        )
    unknown = [
        f"{name.replace('_', ' ')} {value!r}"
        for name, value in filters.items()
        if name != "status" and value and value not in known[name]
    ]
    if unknown:
        message = f"The quarantine holds no record of {', '.join(unknown)}."
    return HTMLResponse(
        list_page(
            user=user.get_name(),
            rows=quarantine.list_records(engine, limit=PAGE_SIZE, offset=offset, **filters),
            total=quarantine.count_records(engine, **filters),
            summary=quarantine.summary(engine, status=filters["status"]),
            known=known,
            status_counts=_status_counts(engine),
            filters={k: v or "" for k, v in filters.items() if k != "status"},
            status_choice=status,
            offset=offset,
            limit=PAGE_SIZE,
            can_requeue=may_requeue(user),
            message=message,
            refused=bool(unknown),
        )
    )


@app.get("/record/{record_id}", response_class=HTMLResponse)
def record_view(user: Reader, record_id: int, requeued: int | None = None) -> HTMLResponse:
    from hub import quarantine
    from plugins.quarantine_page import record_page

    row = quarantine.get_record(hub_engine(), record_id)
    if row is None:
        raise HTTPException(404, f"no quarantined record with id {record_id}")
    record = dict(row._mapping)
    message = "Requeued: the owning flow replays it on its next run." if requeued else None
    return HTMLResponse(
        record_page(
            user=user.get_name(),
            record=record,
            paths=quarantine.field_paths(record["payload"], record["field"]),
            can_requeue=may_requeue(user),
            message=message,
        )
    )


@app.post("/requeue")
def requeue_form(
    user: Requeuer,
    ids: Annotated[list[int], Form(default_factory=list)],
    back: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """The page's form: requeue, then back to the same view with what happened (303: a reload does
    not post again)."""
    n = _requeue(user, ids)
    if back.startswith("record/") and back.removeprefix("record/").isdigit():
        return RedirectResponse(f"{back}?requeued={n}", status_code=303)
    query = back if back and "//" not in back and "\\" not in back else ""
    sep = "&" if query else ""
    return RedirectResponse(f"./?{query}{sep}requeued={n}&selected={len(ids)}", status_code=303)


# JSON: the same for scripts, with a bearer token from POST /auth/token.


class RequeueBody(BaseModel):
    ids: list[int] = Field(min_length=1, max_length=MAX_REQUEUE)


@app.get("/api/records")
def api_records(
    user: Reader,
    status: str = "open",
    stage: str | None = None,
    source: str | None = None,
    error_class: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    from hub import quarantine

    filters = _filters(status, stage, source, error_class)
    engine = hub_engine()
    rows = quarantine.list_records(engine, limit=limit, offset=offset, **filters)
    return {
        "total": quarantine.count_records(engine, **filters),
        "records": [_record(row, with_payload=False) for row in rows],
    }


@app.get("/api/records/{record_id}")
def api_record(user: Reader, record_id: int) -> dict[str, Any]:
    from hub import quarantine

    row = quarantine.get_record(hub_engine(), record_id)
    if row is None:
        raise HTTPException(404, f"no quarantined record with id {record_id}")
    record = _record(row, with_payload=True)
    record["field_paths"] = [
        {"path": path, "value": value} for path, value in quarantine.field_paths(record["payload"], record["field"])
    ]
    return record


@app.get("/api/summary")
def api_summary(user: Reader, status: str = "open") -> list[dict[str, Any]]:
    from hub import quarantine

    filters = _filters(status, None, None, None)
    return [dict(row._mapping) for row in quarantine.summary(hub_engine(), status=filters["status"])]


@app.post("/api/requeue")
def api_requeue(user: Requeuer, body: RequeueBody) -> dict[str, int]:
    return {"requeued": _requeue(user, body.ids), "selected": len(body.ids)}


class HubQuarantinePlugin(AirflowPlugin):
    """Registers the app on the API server and the page under "Hub" in the UI's navigation."""

    name = "hub_quarantine"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Hub quarantine"}]
    external_views = [
        {
            "name": "Quarantine",
            # Relative to the UI's base URL; url_route makes the UI frame it at /plugin/quarantine.
            "href": f"{URL_PREFIX.lstrip('/')}/",
            "url_route": "quarantine",
            "category": "Hub",
            "destination": "nav",
        }
    ]
