"""Clients for the external systems: one module per system, speaking its real wire protocol.

Nothing here imports Airflow: tasks build a client from a Connection (``*.from_connection``) and the
clients stay importable and testable without a scheduler.
"""
