"""Data-quality gates (DESIGN §5): Great Expectations Core suites defined in code, and the gates that
split a batch into passing rows and quarantined records.

- :mod:`quality.suites`: the registry, one suite per gate;
- :mod:`quality.gate`: ``run_gate`` on a pandas frame;
- :mod:`quality.sql_gate`: ``run_table_gate`` on a table, validated inside the database.

Importing this package loads neither GX nor pandas; the gates import them when they run.
"""

import logging

# GX logs every metric computation at INFO, which would drown the task logs (DESIGN §7).
logging.getLogger("great_expectations").setLevel(logging.WARNING)
