"""The bridge to the forecasting environment (.venv-forecast).

statsforecast 2.1.1 needs pandas < 3 and the hub pins pandas 3, so forecasts run in a second pinned
environment (``make install`` builds both). Two ways in, same code on the far side
(transforms.demand_forecast.run_job, JSON job file in, JSON result file out):

- :func:`forecast_job` is the callable for Airflow's ``@task.external_python(python=forecast_python())``:
  Airflow ships its source to the other interpreter, so its body imports everything it needs itself.
- :func:`run_in_subprocess` runs the same job in the same interpreter without Airflow (demo, CLI, tests).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV_VAR = "HUB_FORECAST_PYTHON"


def forecast_python() -> str:
    """The forecasting environment's interpreter: ``$HUB_FORECAST_PYTHON``, else the project's
    ``.venv-forecast/bin/python``."""
    return os.environ.get(ENV_VAR) or str(PROJECT_ROOT / ".venv-forecast" / "bin" / "python")


def project_root() -> str:
    """The project folder, for :func:`forecast_job` to import the forecasting code from."""
    return str(PROJECT_ROOT)


def forecast_job(job_path: str | None, project_root: str) -> str:
    """Run the forecast job at ``job_path``; return the path of its result file. No job (the week's
    proposals are already frozen): nothing to forecast, "" (a return value, so the next task finds
    one in XCom).

    Self-contained on purpose: ``@task.external_python`` runs this function's source alone in the
    forecasting interpreter, where nothing of the hub is imported.
    """
    import sys

    if job_path is None:
        return ""
    if project_root not in sys.path:
        sys.path.insert(0, project_root)
    from transforms.demand_forecast import run_job

    return run_job(job_path)


def run_in_subprocess(job_path: str, timeout: float = 1800) -> str:
    """Run the job at ``job_path`` in the forecasting interpreter as a child process; return the result
    path. A failed job raises ``RuntimeError`` with the child's last error line (a bad job names the
    series and field)."""
    python = forecast_python()
    if not Path(python).exists():
        raise RuntimeError(f"forecasting environment missing: {python} (run `make install`)")
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); "
        "from transforms.demand_forecast import run_job; print(run_job(sys.argv[1]))"
    )
    proc = subprocess.run(
        [python, "-c", code, str(job_path), str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(PROJECT_ROOT),
        check=False,
    )
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(f"forecast job {job_path} failed: {lines[-1] if lines else proc.returncode}")
    return proc.stdout.strip().splitlines()[-1]
