"""The receiver's place in the layers (devtools/architecture.py): beside dags, nothing imports it, and it
imports no Airflow itself."""

from __future__ import annotations

from devtools.architecture import Import, violations


def test_the_receiver_sits_on_the_top_layer():
    fine = [
        Import("receiver", "receiver/x.py", 1, "flows.connections"),
        Import("receiver", "receiver/x.py", 1, "connectors.qimen"),
        Import("receiver", "receiver/x.py", 1, "hub.repositories.inbox"),
        Import("cli", "cli/x.py", 1, "receiver.main"),
    ]
    assert violations(fine) == []
    wrong = [
        Import("receiver", "receiver/x.py", 1, "airflow.sdk"),
        Import("flows", "flows/x.py", 1, "receiver.app"),
        Import("dags", "dags/x.py", 1, "receiver.app"),
        Import("hub", "hub/x.py", 1, "receiver.messages"),
        Import("receiver", "receiver/x.py", 1, "dags.shipment_notices"),
        Import("receiver", "receiver/x.py", 1, "sandbox.testing"),
    ]
    assert len(violations(wrong)) == len(wrong)
