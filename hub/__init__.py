"""The hub core: settings, hub database, ledger, quarantine, CLI.

Importable without Airflow so that tests and the CLI stay fast.
"""
