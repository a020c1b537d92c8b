"""The ledger's exactly-once rules on SQLite and PostgreSQL (DESIGN §3.2)."""

import json
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.ledger import Delivered, Ledger, LedgerBusy, LedgerConflict, list_entries, payload_hash, requeue_failed
from hub.schema import ledger as ledger_table


class Outbox:
    """A real side effect standing in for an outside system: one line per delivery in a file."""

    def __init__(self, path: Path):
        self.path = path
        self.path.touch()

    def deliver(self, payload) -> Delivered:
        with self.path.open("a") as f:
            f.write(json.dumps(payload, sort_keys=True) + "\n")
        return Delivered(ref=f"DOC-{payload['order']}", response={"ok": True})

    def find(self, payload) -> Delivered | None:
        for line in self.path.read_text().splitlines():
            if json.loads(line)["order"] == payload["order"]:
                return Delivered(ref=f"DOC-{payload['order']}", response={"found": True})
        return None

    def count(self) -> int:
        return len(self.path.read_text().splitlines())


@pytest.fixture
def outbox(tmp_path):
    return Outbox(tmp_path / "outbox.jsonl")


def _row(engine, key):
    with engine.connect() as conn:
        return conn.execute(select(ledger_table).where(ledger_table.c.idem_key == key)).one()


def test_same_key_same_payload_is_sent_once(hub_db, outbox):
    led = Ledger(hub_db, owner="t")
    first = led.send("sap.sales_order", "SO-1", {"order": "SO-1", "qty": 2}, outbox.deliver, outbox.find)
    again = led.send("sap.sales_order", "SO-1", {"order": "SO-1", "qty": 2}, outbox.deliver, outbox.find)
    assert first.called and not again.called
    assert again.ref == first.ref == "DOC-SO-1"
    assert outbox.count() == 1
    row = _row(hub_db, "SO-1")
    assert (row.status, row.attempts, row.response_ref) == ("sent", 1, "DOC-SO-1")


def test_same_key_other_payload_is_refused_for_a_human(hub_db, outbox):
    led = Ledger(hub_db, owner="t")
    led.send("sap.sales_order", "SO-2", {"order": "SO-2", "qty": 2}, outbox.deliver, outbox.find)
    with pytest.raises(LedgerConflict, match="payload changed"):
        led.send("sap.sales_order", "SO-2", {"order": "SO-2", "qty": 3}, outbox.deliver, outbox.find)
    assert outbox.count() == 1
    assert _row(hub_db, "SO-2").status == "sent"


def test_keys_are_scoped_by_target(hub_db, outbox):
    led = Ledger(hub_db, owner="t")
    led.send("crm.zoho_crm.confirmation", "SO-3", {"order": "SO-3"}, outbox.deliver, outbox.find)
    led.send("mail.confirmation", "SO-3", {"order": "SO-3"}, outbox.deliver)
    assert outbox.count() == 2


def test_failure_is_recorded_then_retry_asks_lookup_first(hub_db, outbox):
    led = Ledger(hub_db, owner="t")

    def delivered_but_timed_out(payload):
        outbox.deliver(payload)  # the target got it ...
        raise TimeoutError("read timed out")  # ... but we never saw the answer

    with pytest.raises(TimeoutError):
        led.send("sap.sales_order", "SO-4", {"order": "SO-4"}, delivered_but_timed_out, outbox.find)
    row = _row(hub_db, "SO-4")
    assert (row.status, row.attempts) == ("failed", 1)
    assert "TimeoutError: read timed out" in row.last_error

    result = led.send("sap.sales_order", "SO-4", {"order": "SO-4"}, outbox.deliver, outbox.find)
    assert not result.called and result.response == {"found": True}
    assert outbox.count() == 1
    assert _row(hub_db, "SO-4").status == "sent"


def test_failed_without_effect_is_resent(hub_db, outbox):
    led = Ledger(hub_db, owner="t")

    def refused(_payload):
        raise ConnectionError("connection refused")

    with pytest.raises(ConnectionError):
        led.send("sap.sales_order", "SO-5", {"order": "SO-5"}, refused, outbox.find)
    result = led.send("sap.sales_order", "SO-5", {"order": "SO-5"}, outbox.deliver, outbox.find)
    assert result.called and outbox.count() == 1
    assert _row(hub_db, "SO-5").attempts == 2


def test_killed_between_call_and_record_does_not_send_twice(hub_db, outbox, tmp_path):
    """A worker process dies right after the target accepted; its retry must not resend."""
    url = hub_db.url.render_as_string(hide_password=False)
    script = textwrap.dedent(
        f"""
        import json, os
        from hub.db import make_engine
        from hub.ledger import Delivered, Ledger

        def deliver_then_die(payload):
            with open({str(outbox.path)!r}, "a") as f:
                f.write(json.dumps(payload, sort_keys=True) + "\\n")
            os._exit(137)  # killed: nothing after the call runs, not even finally blocks

        Ledger(make_engine({url!r}), owner="sap_order_posting.create[0]#1@run").send(
            "sap.sales_order", "SO-6", {{"order": "SO-6"}}, deliver_then_die, lambda _p: None)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 137, proc.stderr
    assert outbox.count() == 1
    assert _row(hub_db, "SO-6").status == "in_flight"

    # The task's next try is another owner: the dead try's claim is still leased, so only the
    # target's lookup may settle it, and it does.
    retry = Ledger(hub_db, owner="sap_order_posting.create[0]#2@run")
    result = retry.send("sap.sales_order", "SO-6", {"order": "SO-6"}, outbox.deliver, outbox.find)
    assert not result.called
    assert outbox.count() == 1
    row = _row(hub_db, "SO-6")
    assert (row.status, row.attempts, row.response_ref) == ("sent", 1, "DOC-SO-6")


def test_another_worker_waits_for_the_lease(hub_db, outbox):
    holder = Ledger(hub_db, owner="worker-a", lease=timedelta(minutes=10))
    holder._claim("sap.sales_order", "SO-7", {"order": "SO-7"}, payload_hash({"order": "SO-7"}))
    with pytest.raises(LedgerBusy):
        Ledger(hub_db, owner="worker-b").send("sap.sales_order", "SO-7", {"order": "SO-7"}, outbox.deliver, outbox.find)
    assert outbox.count() == 0


def test_retry_command_requeues_failed_entries(hub_db, outbox):
    led = Ledger(hub_db, owner="t")
    for key in ("SO-8", "SO-9"):
        with pytest.raises(RuntimeError):
            led.send("mail.asn_test", key, {"order": key}, lambda _p: (_ for _ in ()).throw(RuntimeError("503")))
    assert {r.idem_key for r in list_entries(hub_db, status="failed")} == {"SO-8", "SO-9"}
    assert requeue_failed(hub_db, target="mail.asn_test") == 2

    claimed = Ledger(hub_db, owner="redrive").claim_batch("mail.asn_test")
    results = list(Ledger(hub_db, owner="redrive").resend_claimed(claimed, outbox.deliver, outbox.find))
    assert [r.called for _, r in results] == [True, True]
    assert outbox.count() == 2
    assert not list_entries(hub_db, status="failed")


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_parallel_workers_never_send_the_same_key_twice(hub_db, outbox):
    """Eight threads race for one key on PostgreSQL: exactly one call reaches the target."""
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def slow_deliver(payload):
        import time

        time.sleep(0.3)
        return outbox.deliver(payload)

    def worker(i: int) -> None:
        led = Ledger(hub_db, owner=f"w{i}")
        barrier.wait()
        try:
            res = led.send("sap.sales_order", "SO-RACE", {"order": "SO-RACE"}, slow_deliver, outbox.find)
            outcomes.append("called" if res.called else "replayed")
        except LedgerBusy:
            outcomes.append("busy")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("called") == 1
    assert outbox.count() == 1


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_claim_batch_gives_parallel_workers_disjoint_rows(hub_db):
    from hub.db import utcnow

    now = utcnow()
    with hub_db.begin() as conn:
        conn.execute(
            ledger_table.insert(),
            [
                {
                    "target": "mail.asn_test",
                    "idem_key": f"D{i}",
                    "payload_hash": "h",
                    "payload": {},
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(40)
            ],
        )
    batches: list[list[str]] = []
    barrier = threading.Barrier(4)

    def worker(i: int) -> None:
        barrier.wait()
        batches.append([r.idem_key for r in Ledger(hub_db, owner=f"w{i}").claim_batch("mail.asn_test", limit=10)])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = [k for b in batches for k in b]
    assert len(keys) == len(set(keys)) == 40


def test_send_many_calls_once_for_all_new_items_keeps_order_and_isolates_failures(hub_db, outbox):
    led = Ledger(hub_db, owner="t")
    led.send("sap.sales_order", "SO-1", {"order": "SO-1"}, outbox.deliver, outbox.find)
    calls = []

    def deliver_batch(payloads):
        calls.append([p["order"] for p in payloads])
        return [ValueError("V1/382 material unknown") if p["order"] == "SO-3" else outbox.deliver(p) for p in payloads]

    items = [(f"SO-{n}", {"order": f"SO-{n}"}) for n in (1, 2, 3, 4)]
    results = led.send_many("sap.sales_order", items, deliver_batch, lambda ps: [outbox.find(p) for p in ps])
    assert calls == [["SO-2", "SO-3", "SO-4"]]  # SO-1 was sent before: its stored result, no call
    assert [getattr(r, "ref", None) for r in results] == ["DOC-SO-1", "DOC-SO-2", None, "DOC-SO-4"]
    assert isinstance(results[2], ValueError) and _row(hub_db, "SO-3").status == "failed"
    assert outbox.count() == 3


def test_send_many_asks_lookup_for_retried_items_and_survives_a_failed_call(hub_db, outbox):
    led = Ledger(hub_db, owner="t")

    def outage(payloads):
        for p in payloads[:1]:
            outbox.deliver(p)  # the first went through before the connection broke
        raise ConnectionError("reset by peer")

    items = [("SO-7", {"order": "SO-7"}), ("SO-8", {"order": "SO-8"})]
    first = led.send_many(
        "sap.sales_order", items, outage, lambda ps: [outbox.find(p) for p in ps], expected=(ConnectionError,)
    )
    assert all(isinstance(r, ConnectionError) for r in first)
    assert {_row(hub_db, k).status for k, _ in items} == {"failed"}

    sent = []
    again = led.send_many(
        "sap.sales_order",
        items,
        lambda ps: sent.extend(ps) or [outbox.deliver(p) for p in ps],
        lambda ps: [outbox.find(p) for p in ps],
        expected=(ConnectionError,),
    )
    assert sent == [{"order": "SO-8"}]  # SO-7 was found by the lookup, not sent again
    assert [r.called for r in again] == [False, True]
    assert outbox.count() == 2


def test_send_many_reports_a_conflict_per_item(hub_db, outbox):
    led = Ledger(hub_db, owner="t")
    led.send("sap.sales_order", "SO-9", {"order": "SO-9", "qty": 1}, outbox.deliver, outbox.find)
    results = led.send_many(
        "sap.sales_order",
        [("SO-9", {"order": "SO-9", "qty": 2}), ("SO-10", {"order": "SO-10"})],
        lambda ps: [outbox.deliver(p) for p in ps],
        lambda ps: [outbox.find(p) for p in ps],
    )
    assert isinstance(results[0], LedgerConflict) and results[1].ref == "DOC-SO-10"


def test_send_many_sends_nothing_it_could_not_look_up(hub_db, outbox):
    led = Ledger(hub_db, owner="t")

    def lookup_down(payloads):
        raise ConnectionError("lookup: 503")

    sent = []
    results = led.send_many(
        "sap.sales_order",
        [("SO-20", {"order": "SO-20"})],
        lambda ps: sent.extend(ps) or [outbox.deliver(p) for p in ps],
        lookup_down,
        lookup_first=True,
        expected=(ConnectionError,),
    )
    assert isinstance(results[0], ConnectionError) and sent == []
    assert _row(hub_db, "SO-20").status == "failed"


def test_send_many_replaces_a_refused_payload_only_when_asked_and_never_a_sent_one(hub_db, outbox):
    led = Ledger(hub_db, owner="t")
    find = lambda ps: [outbox.find(p) for p in ps]  # noqa: E731
    refused = led.send_many(
        "sap.sales_order", [("SO-30", {"order": "SO-30", "qty": 1})], lambda ps: [ValueError("V1/382")] * len(ps), find
    )
    assert isinstance(refused[0], ValueError)
    fixed = [("SO-30", {"order": "SO-30", "qty": 2})]
    deliver = lambda ps: [outbox.deliver(p) for p in ps]  # noqa: E731
    assert isinstance(
        led.send_many("sap.sales_order", fixed, deliver, find)[0], LedgerConflict
    )  # default: a human decides
    sent = led.send_many(
        "sap.sales_order",
        fixed,
        deliver,
        find,
        lookup_first=True,
        replace_unsent=True,
    )
    assert sent[0].called and _row(hub_db, "SO-30").payload == {"order": "SO-30", "qty": 2}
    again = led.send_many(
        "sap.sales_order", [("SO-30", {"order": "SO-30", "qty": 3})], deliver, find, replace_unsent=True
    )
    assert isinstance(again[0], LedgerConflict) and outbox.count() == 1  # what went out is never replaced


def test_two_tries_of_one_task_never_share_a_claim(hub_db, outbox):
    """A zombie try still sending and the task's next try are two owners: the next try waits for the
    lease unless the target's lookup proves the message arrived."""
    from types import SimpleNamespace

    from hub.ledger import task_try_owner

    def ti(try_number):
        return SimpleNamespace(dag_id="d", task_id="post", map_index=-1, try_number=try_number, run_id="r")

    zombie, retry = Ledger(hub_db, owner=task_try_owner(ti(1))), Ledger(hub_db, owner=task_try_owner(ti(2)))
    assert zombie.owner != retry.owner
    zombie._claim("sap.sales_order", "SO-40", {"order": "SO-40"}, payload_hash({"order": "SO-40"}))
    with pytest.raises(LedgerBusy):
        retry.send("sap.sales_order", "SO-40", {"order": "SO-40"}, outbox.deliver, outbox.find)
    assert outbox.count() == 0
    outbox.deliver({"order": "SO-40"})  # the zombie's call lands
    result = retry.send("sap.sales_order", "SO-40", {"order": "SO-40"}, outbox.deliver, outbox.find)
    assert (result.called, result.ref, outbox.count()) == (False, "DOC-SO-40", 1)


def test_targets_declare_their_delivery_and_exactly_once_needs_a_lookup(hub_db, outbox):
    from hub.ledger import Delivery, target_spec

    assert target_spec("sap.sales_order").mode is Delivery.EXACTLY_ONCE
    assert target_spec("crm.fxiaoke.confirmation").mode is Delivery.EXACTLY_ONCE
    assert target_spec("mail.order_confirmation").mode is Delivery.AT_LEAST_ONCE
    led = Ledger(hub_db, owner="t")
    with pytest.raises(ValueError, match="not declared"):
        led.send("ftp.somewhere", "K", {"order": "K"}, outbox.deliver)
    with pytest.raises(ValueError, match="needs its lookup"):
        led.send("crm.zoho_crm.confirmation", "K", {"order": "K"}, outbox.deliver)
    assert outbox.count() == 0


def test_a_programming_error_in_a_batch_call_propagates_and_fails_the_entries(hub_db, outbox):
    """Only the exception types the caller names as the target's answer become per-item results; a bug
    (here an AttributeError) is raised, never recorded as the target refusing the order."""
    led = Ledger(hub_db, owner="t")

    def buggy(payloads):
        return [p.missing_attribute for p in payloads]

    with pytest.raises(AttributeError):
        led.send_many(
            "sap.sales_order",
            [("SO-50", {"order": "SO-50"})],
            buggy,
            lambda ps: [outbox.find(p) for p in ps],
            expected=(ConnectionError,),
        )
    assert _row(hub_db, "SO-50").status == "failed"


def test_a_lookup_that_fails_releases_the_claim(hub_db, outbox):
    """A retried send whose lookup cannot reach the target leaves the entry failed (not in flight
    under this try's lease), so the next run may try again at once."""
    led = Ledger(hub_db, owner="t#1")
    with pytest.raises(RuntimeError):
        led.send(
            "sap.sales_order",
            "SO-60",
            {"order": "SO-60"},
            lambda _p: (_ for _ in ()).throw(RuntimeError("503")),
            outbox.find,
        )

    def lookup_down(_payload):
        raise ConnectionError("lookup: 503")

    with pytest.raises(ConnectionError):
        Ledger(hub_db, owner="t#2").send("sap.sales_order", "SO-60", {"order": "SO-60"}, outbox.deliver, lookup_down)
    row = _row(hub_db, "SO-60")
    assert (row.status, row.claimed_by, outbox.count()) == ("failed", None, 0)
    result = Ledger(hub_db, owner="t#3").send(
        "sap.sales_order", "SO-60", {"order": "SO-60"}, outbox.deliver, outbox.find
    )
    assert result.called and outbox.count() == 1
