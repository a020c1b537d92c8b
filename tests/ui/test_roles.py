"""The roles of ``config/airflow_roles.json`` against FAB's own permission names, and the compose
stack that applies them (no server: the browser test signs in with them)."""

from __future__ import annotations

import pytest
import yaml

from devtools.testrun import PROJECT_ROOT
from plugins.hub_roles import declared_roles, role_permissions

FAB_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


@pytest.fixture(scope="module")
def roles() -> dict[str, set[tuple[str, str]]]:
    from airflow.providers.fab.auth_manager.security_manager.override import FabAirflowSecurityManagerOverride

    builtin = {config["role"]: config["perms"] for config in FabAirflowSecurityManagerOverride.ROLE_CONFIGS}
    return role_permissions(declared_roles(), builtin)


def test_three_roles_and_the_quarantine_resource_are_declared(roles):
    spec = declared_roles()
    assert set(roles) == {"Integration", "Operations", "Finance"}
    assert spec["resources"] == {"Hub Quarantine": ["can_read", "can_edit"]}
    for name, role in spec["roles"].items():
        assert role["description"], name


def test_integration_operates_dags_connections_and_pools(roles):
    perms = roles["Integration"]
    for needed in [
        ("can_edit", "DAGs"),
        ("can_create", "DAG Runs"),
        ("can_create", "Connections"),
        ("can_edit", "Connections"),
        ("can_edit", "Pools"),
        ("can_edit", "Variables"),
        ("can_edit", "Hub Quarantine"),
    ]:
        assert needed in perms, needed


def test_operations_view_clear_trigger_and_requeue_but_configure_nothing(roles):
    perms = roles["Operations"]
    for needed in [
        ("can_read", "DAGs"),
        ("can_edit", "DAGs"),  # FAB asks for it before any change to a DAG's runs or tasks
        ("can_create", "DAG Runs"),  # trigger
        ("can_edit", "Task Instances"),  # clear, mark
        ("can_read", "Task Logs"),
        ("can_read", "Plugins"),  # the UI lists the plugin's page with it
        ("can_read", "Hub Quarantine"),
        ("can_edit", "Hub Quarantine"),
    ]:
        assert needed in perms, needed
    for refused in [("can_edit", "Connections"), ("can_read", "Connections"), ("can_edit", "Pools")]:
        assert refused not in perms, refused
    assert not {p for p in perms if p[0] == "can_delete"}


def test_finance_views_and_changes_nothing(roles):
    perms = roles["Finance"]
    assert {("can_read", "DAG Runs"), ("can_read", "Assets"), ("can_read", "Hub Quarantine")} <= perms
    changes = {p for p in perms if p[0] in ("can_create", "can_edit", "can_delete")}
    assert changes <= {("can_edit", "My Password"), ("can_edit", "My Profile")}, changes


def test_compose_signs_in_with_fab_and_applies_the_roles():
    services = yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())["services"]
    for name, spec in services.items():
        if name.startswith("airflow-"):
            env = spec["environment"]
            assert env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_MANAGER, name
            assert not [k for k in env if "SIMPLE_AUTH_MANAGER" in k], name
    script = "\n".join(services["airflow-init"]["command"])
    assert script.index("airflow db migrate") < script.index("python -m plugins.hub_roles --admin-from-env")
    assert "AIRFLOW_ADMIN_PASSWORD" not in script  # read from the environment by the module, not on a command line
    requirements = (PROJECT_ROOT / "requirements.txt").read_text().split()
    assert any(r.startswith("apache-airflow-providers-fab==") for r in requirements)
