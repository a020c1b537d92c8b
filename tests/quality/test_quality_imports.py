"""Importing the quality package stays cheap: DAG files and the CLI import it at parse time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, logging, sys
import quality.gate, quality.sql_gate
from quality.suites import SUITES
print(json.dumps({
    "heavy": sorted(m for m in ("great_expectations", "pandas", "numpy") if m in sys.modules),
    "rules": sum(len(spec.names) for spec in SUITES.values()),
    "gx_log_level": logging.getLogger("great_expectations").getEffectiveLevel(),
}))
"""


def test_importing_quality_and_reading_the_registry_loads_neither_gx_nor_pandas() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout)
    assert probe["heavy"] == []
    assert probe["rules"] > 40  # the registry is readable without building any GX object
    assert probe["gx_log_level"] == 30  # WARNING: GX is noisy at INFO
