"""Imports run one way (DESIGN §1), and the README's architecture picture is the one the code draws."""

from __future__ import annotations

from devtools.architecture import README, Import, picture, readme_with_picture, scan, violations


def test_every_import_follows_the_layers():
    imports = list(scan())
    assert len(imports) > 500, "the scan reads the project"
    assert violations(imports) == []


def test_the_rule_catches_each_kind_of_wrong_import():
    """The checker itself can fail: one crafted import per clause of the rule."""
    wrong = [
        Import("hub", "hub/x.py", 1, "flows.crm_order_sync"),  # upwards
        Import("transforms", "transforms/x.py", 1, "connectors.mail"),  # sideways on the middle layer
        Import("connectors", "connectors/x.py", 1, "airflow.sdk"),  # Airflow below flows
        Import("dags", "dags/x.py", 1, "connectors.sap_s4"),  # a DAG file past flows
        Import("sandbox", "sandbox/x.py", 1, "hub.schema"),  # an emulator using the product
        Import("flows", "flows/x.py", 1, "devtools.demo"),  # the product using the tools
    ]
    assert len(violations(wrong)) == len(wrong)
    fine = [
        Import("quality", "quality/x.py", 1, "transforms.crm_orders"),
        Import("flows", "flows/x.py", 1, "airflow.sdk"),
        Import("dags", "dags/x.py", 1, "plugins.dag_defaults"),
        Import("devtools", "devtools/x.py", 1, "sandbox.testing"),
        Import("hub", "hub/x.py", 1, "sqlalchemy"),
    ]
    assert violations(fine) == []


def test_the_readme_picture_is_current():
    readme = README.read_text(encoding="utf-8")
    current = readme_with_picture(readme, picture(list(scan())))
    assert readme == current, "README's architecture picture is stale: run python -m devtools.architecture --write"


def test_the_picture_counts_importing_modules():
    imports = [
        Import("flows", "flows/a.py", 1, "hub.db"),
        Import("flows", "flows/b.py", 1, "hub.db"),
        Import("flows", "flows/b.py", 9, "hub.schema"),  # same module, same edge: counted once
        Import("flows", "flows/b.py", 3, "sqlalchemy"),  # not the project's
    ]
    drawn = picture(imports)
    assert "flows -->|2| hub" in drawn and "sqlalchemy" not in drawn
