# The hub's Airflow image: the official Airflow 3.3.2 image plus the project and its dependencies.
# Installing at build time (not _PIP_ADDITIONAL_REQUIREMENTS) keeps every container identical, and
# the constraints stop pip from moving Airflow or anything it pinned.
FROM apache/airflow:3.3.2-python3.11

# Dependencies before sources, so that a code change does not re-run the slow install layer.
# --chown: the editable install below writes its metadata into the project folder as user airflow.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/project/
RUN pip install --no-cache-dir -r /opt/airflow/project/requirements.txt \
        -c /opt/airflow/project/constraints.txt

# The forecasting environment (statsforecast 2.1.1 needs pandas < 3; the hub pins pandas 3): a second
# virtualenv, which the replenishment_planning DAG's forecast task runs in (@task.external_python).
COPY --chown=airflow:0 requirements-forecast.txt constraints-forecast.txt /opt/airflow/project/
RUN python -m venv /opt/airflow/venv-forecast \
    && /opt/airflow/venv-forecast/bin/pip install --no-cache-dir \
        -r /opt/airflow/project/requirements-forecast.txt -c /opt/airflow/project/constraints-forecast.txt
ENV HUB_FORECAST_PYTHON=/opt/airflow/venv-forecast/bin/python

COPY --chown=airflow:0 . /opt/airflow/project/
# --no-deps: everything was resolved above. Editable, so `config/` and `include/sql/` are read in place.
RUN pip install --no-cache-dir --no-deps -e /opt/airflow/project

# Containers run as arbitrary UIDs (compose sets AIRFLOW_UID), for which the user site-packages
# holding the editable hook is not on sys.path; PYTHONPATH makes the packages importable anyway.
ENV PYTHONPATH=/opt/airflow/project
