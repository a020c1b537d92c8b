"""Every registered CRM adapter (connectors/crm/) has its Airflow Connection declared wherever a
deployment gets its Connections: config/airflow_connections.json, docker-compose.yaml (every Airflow
service) and .env.example; and the settings enable only registered CRMs."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from connectors import crm
from devtools.local_airflow import declared_connections
from devtools.testrun import PROJECT_ROOT
from hub.settings import DEFAULT_FILE, load_settings

AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker")
ADAPTERS = crm.adapters()


def _env_example_keys() -> set[str]:
    lines = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    return {ln.partition("=")[0].strip() for ln in lines if "=" in ln and not ln.lstrip().startswith("#")}


def _compose_environments() -> dict[str, dict[str, Any]]:
    services = yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))["services"]
    return {name: services[name].get("environment") or {} for name in AIRFLOW_SERVICES}


def missing_declarations(
    adapters: tuple[crm.CrmAdapter, ...],
    connections: dict[str, Any],
    compose: dict[str, dict[str, Any]],
    env_example: set[str],
) -> list[str]:
    """One line per place a registered CRM's Connection is missing from."""
    missing = []
    for adapter in adapters:
        variable = f"AIRFLOW_CONN_{adapter.conn_id.upper()}"
        if adapter.conn_id not in connections:
            missing.append(f"{adapter.name}: {adapter.conn_id} not in config/airflow_connections.json")
        missing += [
            f"{adapter.name}: {variable} not in docker-compose.yaml service {service}"
            for service, env in compose.items()
            if variable not in env
        ]
        if variable not in env_example:
            missing.append(f"{adapter.name}: {variable} not in .env.example")
    return missing


def test_the_registry_holds_the_built_in_crms():
    assert {"zoho_crm", "fxiaoke"} <= set(crm.names())
    assert len({a.conn_id for a in ADAPTERS}) == len(ADAPTERS), "one Connection per CRM"


def test_every_registered_crm_has_its_connection_declared():
    missing = missing_declarations(ADAPTERS, declared_connections(), _compose_environments(), _env_example_keys())
    assert missing == []


def test_the_check_names_what_a_new_crm_lacks():
    base = crm.get("zoho_crm")
    newcomer = type(base)(**{**base.__dict__, "name": "newcrm", "conn_id": "crm_newcrm"})
    missing = missing_declarations((newcomer,), declared_connections(), _compose_environments(), _env_example_keys())
    assert "newcrm: crm_newcrm not in config/airflow_connections.json" in missing
    assert "newcrm: AIRFLOW_CONN_CRM_NEWCRM not in .env.example" in missing
    assert f"newcrm: AIRFLOW_CONN_CRM_NEWCRM not in docker-compose.yaml service {AIRFLOW_SERVICES[0]}" in missing


def test_the_project_settings_enable_registered_crms_only():
    settings = load_settings(DEFAULT_FILE, environ={})
    assert [a.name for a in crm.enabled(settings)] == settings.crm.enabled


@pytest.mark.parametrize("value", ["salesforce", "zoho_crm,salesforce"])
def test_an_unregistered_crm_in_the_settings_is_a_settings_error(value):
    from hub.settings import SettingsError

    settings = load_settings(DEFAULT_FILE, environ={"HUB__CRM__ENABLED": value})
    with pytest.raises(SettingsError) as err:
        crm.enabled(settings)
    assert "crm.enabled" in str(err.value) and "HUB__CRM__ENABLED" in str(err.value)
    assert "'salesforce'" in str(err.value) and "zoho_crm" in str(err.value)
