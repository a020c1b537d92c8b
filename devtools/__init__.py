"""Developer tooling: the demo (``make demo``), the dev server (``make up``), the test runner
(``make test``) and the local Airflow home they share. It may import every layer; nothing imports it."""
