"""The ``hub`` console script: quarantine, ledger, database, settings and sandbox commands for
operations. It may import every layer; nothing imports it."""
