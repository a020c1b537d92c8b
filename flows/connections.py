"""Credentials and endpoints come only from Airflow Connections (DESIGN §3.6).

``airflow.sdk.Connection.get`` reads the secrets backends (environment variables
``AIRFLOW_CONN_<ID>`` included) both inside a task and in the ``hub`` CLI, so this is the one
place the hub asks for a connection. The import is deferred because Airflow is slow to import.
"""

from __future__ import annotations

from typing import Any


class MissingConnection(LookupError):
    def __init__(self, conn_id: str) -> None:
        super().__init__(
            f"Airflow Connection {conn_id!r} is not defined: add it in the UI (Admin → Connections) "
            f"or as the environment variable AIRFLOW_CONN_{conn_id.upper()}"
        )
        self.conn_id = conn_id


def get_connection(conn_id: str, *, required: bool = True) -> Any | None:
    """The Airflow Connection ``conn_id``; ``None`` when absent and not ``required``."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        if required:
            raise MissingConnection(conn_id) from None
        return None


def hub_database_url() -> str:
    """The hub database URL, with the ``hub_db`` Connection taken into account (see ``hub.db``)."""
    import os

    from hub.db import database_url

    if os.environ.get("HUB_DATABASE_URL"):  # wins anyway: no need to ask Airflow for the Connection
        return database_url()
    return database_url(get_connection("hub_db", required=False))


def hub_engine() -> Any:
    """An Engine on the hub database a deployment configured (``$HUB_DATABASE_URL``, ``hub_db``, SQLite)."""
    from hub.db import make_engine

    return make_engine(hub_database_url())


def sap_client() -> Any:
    """A SAP client from the ``sap_s4`` Connection, closed on leaving the ``with`` block. With OAuth,
    the tasks share one access token through the hub's token cache, as for the CRMs."""
    from contextlib import closing

    from connectors.sap_s4 import SapClient
    from hub.token_cache import token_store

    return closing(SapClient.from_connection(get_connection("sap_s4"), token_store=token_store(hub_engine())))


def qimen_client() -> Any:
    """The Qimen client of the 3PL warehouse (``logistics_3pl`` Connection), closed on leaving ``with``."""
    from contextlib import closing

    from connectors.qimen import QimenClient

    return closing(QimenClient.from_connection(get_connection("logistics_3pl")))


def sf_client() -> Any:
    """SF Express's route query (``carrier_sf`` Connection); ``None`` when no carrier API is configured."""
    from connectors.sf_express import SfClient

    conn = get_connection("carrier_sf", required=False)
    return SfClient.from_connection(conn) if conn is not None else None
