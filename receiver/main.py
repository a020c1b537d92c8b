"""Run the receiver (``hub receiver``): its settings from the deployment, served by uvicorn.

* the Qimen binding from the Airflow Connection ``logistics_3pl`` (password = secret, login = app_key,
  extra ``customer_id``), looked up through ``flows.connections`` (``AIRFLOW_CONN_LOGISTICS_3PL`` or a
  secrets backend), so the secret never sits in a file of the receiver;
* the hub database from ``flows.connections.hub_engine`` (``$HUB_DATABASE_URL``, ``hub_db``, SQLite);
* the timestamp window from settings ``[logistics] timestamp_window_minutes``;
* the Airflow Asset event from ``$HUB_RECEIVER_AIRFLOW_URL`` and its credentials (optional).
"""

from __future__ import annotations

import logging
from typing import Any

from connectors.redaction import RedactingFilter
from receiver.app import create_app
from receiver.asset_events import notifier_from_env

LOGISTICS_CONNECTION = "logistics_3pl"


def app_from_deployment() -> Any:
    """The receiver app configured as the deployment says (see the module docstring)."""
    from flows.connections import get_connection, hub_engine
    from hub.settings import get_settings

    conn = get_connection(LOGISTICS_CONNECTION)
    extra = dict(conn.extra_dejson or {})
    if not conn.password:
        raise ValueError(f"Connection {LOGISTICS_CONNECTION!r} has no password (the Qimen secret)")
    return create_app(
        hub_engine,
        conn.password,
        app_key=conn.login or None,
        customer_id=str(extra["customer_id"]) if extra.get("customer_id") else None,
        window_minutes=get_settings().logistics.timestamp_window_minutes,
        asset_notifier=notifier_from_env(),
    )


def serve(host: str = "127.0.0.1", port: int = 8090, *, log_level: str = "info") -> int:
    """Serve the receiver until interrupted (uvicorn handles SIGINT/SIGTERM)."""
    import uvicorn

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    for name in ("receiver", "hub", "connectors"):
        logger = logging.getLogger(name)
        logger.setLevel(log_level.upper())
        logger.addHandler(handler)
        logger.propagate = False  # importing Airflow (for the Connection) configures the root logger too
    # No access log: each push is logged once by the receiver (method, key, outcome), not by its URL.
    uvicorn.run(app_from_deployment(), host=host, port=port, access_log=False, log_level=log_level, lifespan="off")
    return 0
