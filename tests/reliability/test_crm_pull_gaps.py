"""No CRM order is missed when runs do not happen or fail (DESIGN §2, issue 8 point 1).

The flow's steps (pull → raw gate → accept) run against a real sandbox Zoho CRM with a frozen clock
and a real hub database, on SQLite and PostgreSQL. The clock is moved and records are edited through
the sandbox's control API between runs, as a CRM user would while the scheduler is down. Scheduled
runs are driven with the pull the DAG's task asks for (``Incremental``: up to the data interval
end); one ``dag.test()`` checks a run triggered without a logical date.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select

from flows import crm_order_sync
from flows.crm_order_sync import Incremental, Window
from hub.schema import crm_inbox, order_lines, orders, quarantine, sync_cursors

pytestmark = pytest.mark.sandbox

SEED, SEED_ORDERS = 23, 120
SOURCE = "zoho_crm"
OVERLAP = 120
TOKEN_CACHE_KEY = "f1_uDcSrBhZlTMhQOZcJ9xc5y9u8_LU3s7Q5fR0bQZc="
MIN = timedelta(minutes=1)


# -- the world: a frozen sandbox, a hub database with master data, connections to the sandbox -------
@pytest.fixture
def world(hub_db, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    from devtools.local_airflow import connections_for
    from flows.master_data_sync import import_extract
    from hub.settings import get_settings
    from sandbox.erp_extract import write_extract
    from sandbox.seed_data import generate
    from sandbox.testing import running_sandbox

    with running_sandbox(seed=SEED, orders=SEED_ORDERS, frozen=True) as info:
        now = datetime.fromisoformat(info["now"].replace("Z", "+00:00"))
        seed = generate(SEED, SEED_ORDERS, now)
        for conn_id, conn in connections_for(info, tmp_path / "unused.sqlite").items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        monkeypatch.setenv("HUB_DATABASE_URL", hub_db.url.render_as_string(hide_password=False))
        monkeypatch.setenv("HUB_TOKEN_CACHE_KEY", TOKEN_CACHE_KEY)
        extract = write_extract(seed, tmp_path / "extract")
        monkeypatch.setenv("HUB__MASTERDATA__EXTRACT_DIR", str(extract))
        get_settings.cache_clear()
        import_extract(hub_db, extract, "masterdata")
        yield {"engine": hub_db, "now": now, "seed": seed, "control": info["control_url"], "info": info}
    get_settings.cache_clear()


def set_clock(world, at: datetime) -> None:
    requests.post(f"{world['control']}/clock", json={"now": at.isoformat()}, timeout=10).raise_for_status()


def zoho_record(world, crm_id: str) -> dict[str, Any]:
    response = requests.get(f"{world['control']}/records/zoho_crm/Sales_Orders/{crm_id}", timeout=10)
    response.raise_for_status()
    return response.json()["record"]


def zoho_put(world, fields: dict[str, Any], crm_id: str | None = None) -> dict[str, Any]:
    body = {"module": "Sales_Orders", "touch": True, "fields": fields, **({"id": crm_id} if crm_id else {})}
    response = requests.post(f"{world['control']}/records/zoho_crm", json=body, timeout=10)
    response.raise_for_status()
    return response.json()["record"]


# -- the runs -------------------------------------------------------------------------------------------
def run(world, span, run_id: str, *, initial_from: datetime | None = None, client: Any = None) -> dict[str, Any]:
    """One run of the flow's steps for Zoho, as the DAG's tasks call them."""
    engine = world["engine"]
    pulled = crm_order_sync.pull(
        engine,
        SOURCE,
        span,
        run_id,
        overlap_seconds=OVERLAP,
        initial_from=initial_from or world["now"] - timedelta(days=60),
        client=client,
    )
    gated = crm_order_sync.raw_gate(engine, SOURCE, run_id)
    accepted = crm_order_sync.accept(engine, SOURCE, run_id)
    assert pulled["pulled"] == gated["evaluated"] == gated["quarantined"] + accepted["evaluated"]
    return {"pull": pulled, "gate": gated, "accept": accepted}


def scheduled(world, interval_start: datetime, interval_end: datetime, run_id: str, **kw: Any) -> dict[str, Any]:
    """A scheduled run with this data interval (what ``crm_order_sync``'s pull task asks for)."""
    return run(world, Incremental(interval_end, interval_start), run_id, **kw)


def manual_window(world, start: datetime, end: datetime, run_id: str) -> dict[str, Any]:
    """A run triggered with the params ``window_start`` / ``window_end``."""
    return run(world, Window(start, end), run_id)


def mark(engine) -> datetime | None:  # noqa: ANN001
    with engine.connect() as conn:
        value = conn.execute(
            select(sync_cursors.c.cursor_value).where(
                sync_cursors.c.source == SOURCE, sync_cursors.c.stream == "sales_orders"
            )
        ).scalar_one_or_none()
    return datetime.fromisoformat(value) if value else None


def order_row(engine, crm_id: str):  # noqa: ANN001, ANN201
    with engine.connect() as conn:
        return conn.execute(select(orders).where(orders.c.source == SOURCE, orders.c.crm_order_id == crm_id)).first()


def line_quantity(engine, crm_id: str, line_no: int):  # noqa: ANN001, ANN201
    with engine.connect() as conn:
        return conn.execute(
            select(order_lines.c.quantity).where(
                order_lines.c.source == SOURCE, order_lines.c.crm_order_id == crm_id, order_lines.c.line_no == line_no
            )
        ).scalar_one()


def held(engine, crm_id: str):  # noqa: ANN001, ANN201
    with engine.connect() as conn:
        return conn.execute(
            select(quarantine).where(
                quarantine.c.source == SOURCE,
                quarantine.c.record_key == f"{SOURCE}:{crm_id}",
                quarantine.c.status == "open",
            )
        ).first()


def inbox(engine) -> dict[str, Any]:  # noqa: ANN001
    with engine.connect() as conn:
        return {r.crm_order_id: r for r in conn.execute(select(crm_inbox).where(crm_inbox.c.source == SOURCE))}


def accepted_zoho_orders(world, count: int) -> list[Any]:
    """``count`` seed Zoho orders the first run accepted, with one line at least."""
    picked = [o for o in world["seed"].orders_of(SOURCE) if o.lines and order_row(world["engine"], o.crm_id)]
    assert len(picked) >= count, "the seed has enough clean Zoho orders"
    return picked[:count]


def edit_quantity(world, order) -> tuple[int, int]:  # noqa: ANN001
    """Double the first line's quantity in the CRM; returns (line number, new quantity)."""
    items = zoho_record(world, order.crm_id)["Ordered_Items"]
    first = items[0]
    new_qty = int(first["Quantity"]) * 2
    zoho_put(world, {"Ordered_Items": [{**first, "Quantity": new_qty}, *items[1:]]}, order.crm_id)
    return int(first["Sequence_Number"]), new_qty


def new_order_like(world, template) -> str:  # noqa: ANN001
    """A new CRM order copied from ``template`` (same customer and products, a new number)."""
    record = zoho_record(world, template.crm_id)
    fields = {
        k: copy.deepcopy(v)
        for k, v in record.items()
        if k in {"Account_Name", "Currency", "Due_Date", "Status", "Exchange_Rate", "Contact_Name"}
    }
    fields["Ordered_Items"] = [{k: v for k, v in item.items() if k != "id"} for item in record["Ordered_Items"]]
    fields["SO_Number"] = f"{template.number}-N"
    fields["Subject"] = f"new order like {template.number}"
    return str(zoho_put(world, fields)["id"])


def reached_the_hub(engine, crm_id: str) -> bool:  # noqa: ANN001
    """Pulled and finished: accepted into ``orders`` or held in the quarantine with a reason."""
    row = inbox(engine).get(crm_id)
    return (
        row is not None
        and row.stage in ("accepted", "quarantined")
        and bool(order_row(engine, crm_id) or held(engine, crm_id))
    )


# -- (a) a gap of hours -----------------------------------------------------------------------------------
def test_orders_changed_during_a_scheduler_gap_of_hours_are_pulled(world):
    engine, t = world["engine"], world["now"]
    first = scheduled(world, t - 15 * MIN, t, "scheduled__T")
    assert first["pull"]["from_crm"] > 0
    assert mark(engine) == t
    edited, cancelled, template = accepted_zoho_orders(world, 3)

    # The scheduler is down for three hours; people keep working in the CRM.
    set_clock(world, t + timedelta(hours=1))
    line_no, new_qty = edit_quantity(world, edited)
    set_clock(world, t + timedelta(hours=1, minutes=30))
    zoho_put(world, {"Status": "Cancelled"}, cancelled.crm_id)
    set_clock(world, t + timedelta(hours=2))
    created = new_order_like(world, template)

    # The scheduler is back: catchup=False gives one run, for the latest interval only.
    set_clock(world, t + timedelta(hours=3))
    second = scheduled(world, t + timedelta(hours=2, minutes=45), t + timedelta(hours=3), "scheduled__T+3h")

    assert line_quantity(engine, edited.crm_id, line_no) == new_qty
    assert order_row(engine, cancelled.crm_id).status == "cancelled"
    assert reached_the_hub(engine, created), "the order created during the gap was not pulled"
    assert {edited.crm_id, cancelled.crm_id, created} <= set(
        k for k, r in inbox(engine).items() if r.run_id == "scheduled__T+3h"
    )
    assert second["pull"]["range"][0] == (t - timedelta(seconds=OVERLAP)).isoformat()
    assert mark(engine) == t + timedelta(hours=3)


# -- (b) a failed run ----------------------------------------------------------------------------------------
class _DropsMidway:
    """The real CRM client, whose order listing breaks after the first order (a dropped connection)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def iter_sales_orders(self, modified_from: datetime, modified_to: datetime) -> Iterator[dict[str, Any]]:
        orders_ = self._client.iter_sales_orders(modified_from, modified_to)
        yield next(orders_)
        raise ConnectionError("connection reset by peer")


def _real_client(engine):  # noqa: ANN001, ANN202
    from flows.connections import get_connection
    from flows.crms import adapter as get_source
    from hub.token_cache import token_store

    source = get_source(SOURCE)
    return source.make_client(get_connection(source.conn_id), token_store(engine))


@pytest.mark.parametrize("failing_step", ["pull", "raw_gate", "accept"])
def test_the_run_after_a_failed_run_loses_nothing(world, failing_step, monkeypatch):
    engine, t = world["engine"], world["now"]
    scheduled(world, t - 15 * MIN, t, "scheduled__T")
    edited, template = accepted_zoho_orders(world, 2)

    set_clock(world, t + 5 * MIN)
    line_no, new_qty = edit_quantity(world, edited)
    created = new_order_like(world, template)

    # The run for [T, T+15m) fails at one step.
    set_clock(world, t + 16 * MIN)
    with monkeypatch.context() as patch:
        client = None
        if failing_step == "pull":
            client = _DropsMidway(_real_client(engine))
        elif failing_step == "raw_gate":
            patch.setattr("quality.gate.run_gate", _raise)
        else:
            patch.setattr("flows.crm_order_sync.acceptance._write_orders", _raise)
        with pytest.raises((ConnectionError, RuntimeError)):
            scheduled(world, t, t + 15 * MIN, "scheduled__T+15m", client=client)
    if failing_step == "pull":
        assert mark(engine) == t, "a failed pull must not move the high-water mark"

    # The next run, for [T+15m, T+30m), sees no new change in the CRM, and must still finish both orders.
    set_clock(world, t + 31 * MIN)
    scheduled(world, t + 15 * MIN, t + 30 * MIN, "scheduled__T+30m")

    assert line_quantity(engine, edited.crm_id, line_no) == new_qty
    assert reached_the_hub(engine, created)
    unfinished = {k: r.stage for k, r in inbox(engine).items() if r.stage not in ("accepted", "quarantined")}
    assert not unfinished, unfinished
    assert mark(engine) == t + 30 * MIN


def _raise(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("injected failure")


# -- (c) a re-run of a past window -------------------------------------------------------------------------
def test_a_params_rerun_pulls_exactly_its_window_and_leaves_the_mark(world):
    engine, t = world["engine"], world["now"]
    scheduled(world, t - 15 * MIN, t, "scheduled__T")
    assert mark(engine) == t

    start, end = t - timedelta(days=12), t - timedelta(days=9)
    expected = {o.crm_id for o in world["seed"].orders_of(SOURCE) if start <= o.modified_time < end}
    assert expected, "the seed has Zoho orders in the window"
    rerun = manual_window(world, start, end, "manual__window")
    in_run = {k for k, r in inbox(engine).items() if r.run_id == "manual__window"}
    assert in_run == expected
    assert rerun["pull"]["range"] == [start.isoformat(), end.isoformat()]
    assert mark(engine) == t, "a re-run of a past window moved the high-water mark"

    # A window reaching past the mark does not advance it either: only scheduled pulls do.
    manual_window(world, t - timedelta(hours=1), t + timedelta(hours=1), "manual__ahead")
    assert mark(engine) == t

    # The next scheduled run starts at the mark (minus the overlap), as if no re-run had happened.
    nxt = scheduled(world, t, t + 15 * MIN, "scheduled__T+15m")
    assert nxt["pull"]["range"][0] == (t - timedelta(seconds=OVERLAP)).isoformat()
    assert mark(engine) == t + 15 * MIN


def test_first_pull_starts_at_the_configured_instant(world):
    engine, t = world["engine"], world["now"]
    initial = t - timedelta(days=5)
    first = scheduled(world, t - 15 * MIN, t, "scheduled__T", initial_from=initial)
    assert first["pull"]["range"] == [initial.isoformat(), t.isoformat()]
    expected = {o.crm_id for o in world["seed"].orders_of(SOURCE) if initial <= o.modified_time < t}
    assert set(inbox(engine)) == expected


# -- (d) a trigger without a logical date -----------------------------------------------------------------
@pytest.fixture
def dag_env(world, airflow_home, monkeypatch):
    from hub.settings import get_settings

    monkeypatch.setenv("HUB__CRM__ENABLED", SOURCE)
    monkeypatch.setenv("HUB__CRM__INITIAL_PULL_FROM", (world["now"] - timedelta(days=60)).isoformat())
    get_settings.cache_clear()
    yield world
    get_settings.cache_clear()


def _dag_test(run_after: datetime, conf: dict[str, Any] | None = None) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    from hub.settings import PROJECT_ROOT

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "crm_order_sync.py")).get_dag("crm_order_sync")
    for task in dag.tasks:
        task.retries = 0
    # No logical date: what the REST API and `airflow dags trigger` without -l create.
    run = dag.test(run_after=run_after, logical_date=None, run_conf=conf or {})
    states = [(ti.task_id, str(ti.state)) for ti in run.get_task_instances()]
    assert str(run.state) == "success", states
    assert states and all(state == "success" for _, state in states), states
    return run


@pytest.mark.dagtest
def test_a_trigger_without_a_logical_date_pulls_up_to_its_run_after(dag_env):
    engine, t = dag_env["engine"], dag_env["now"]
    run_after = t + timedelta(hours=1)
    _dag_test(run_after)
    assert mark(engine) == run_after
    pulled = inbox(engine)
    assert set(pulled) == {o.crm_id for o in dag_env["seed"].orders_of(SOURCE)}
    assert all(r.stage in ("accepted", "quarantined") for r in pulled.values())

    # ... and with a params window: exactly that window, the mark left alone.
    start, end = t - timedelta(days=12), t - timedelta(days=9)
    run = _dag_test(run_after + MIN, {"window_start": start.isoformat(), "window_end": end.isoformat()})
    in_run = {k for k, r in inbox(engine).items() if r.run_id == run.run_id}
    assert in_run == {o.crm_id for o in dag_env["seed"].orders_of(SOURCE) if start <= o.modified_time < end}
    assert mark(engine) == run_after


@pytest.mark.parametrize("value", ["2026-10-01T00:00:00", "yesterday"])
def test_initial_pull_from_must_be_an_instant_with_an_offset(value):
    from hub.settings import SettingsError, load_settings

    assert load_settings(environ={}).crm.initial_pull_from is not None  # config/hub.toml sets it
    with pytest.raises(SettingsError, match=r"crm\.initial_pull_from: .*ISO-8601 instant with an offset"):
        load_settings(environ={"HUB__CRM__INITIAL_PULL_FROM": value})
