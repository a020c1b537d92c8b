"""Every DAG file parses, follows the hub's conventions and imports nothing heavy at parse time."""

import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))
EXPECTED_DAGS = {"crm_order_sync", "master_data_sync", "sap_order_posting"}
# Modules a DAG file must not import at parse time: slow (pandas, GX) or task-only (clients, gates).
HEAVY = ("pandas", "great_expectations", "requests", "quality.gate", "connectors.http")


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_expected_dags_are_present(dagbag):
    assert EXPECTED_DAGS <= set(dagbag.dag_ids)


def test_conventions(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id}: no tags"
        assert dag.doc_md and len(dag.doc_md) > 100, f"{dag_id}: no doc_md"
        for t in dag.tasks:
            assert t.owner == "integration-team", f"{dag_id}.{t.task_id}: owner"
            assert t.retries >= 2, f"{dag_id}.{t.task_id}: retries {t.retries}"
            assert t.on_failure_callback, f"{dag_id}.{t.task_id}: no failure callback"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_parsing_does_not_import_heavy_libraries(dag_file):
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
        "print('HEAVY=' + ','.join(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(dag_file)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    marker = [line for line in proc.stdout.splitlines() if line.startswith("HEAVY=")]
    assert marker == ["HEAVY="], f"{dag_file.name} imports at parse time: {marker}"
