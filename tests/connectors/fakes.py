"""Stand-ins shared by the connector tests (pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeConnection:
    """Stands in for ``airflow.sdk.Connection``: the attributes the connectors read, nothing else."""

    host: str | None
    login: str | None
    password: str | None
    extra_dejson: dict[str, Any] = field(default_factory=dict)
    port: int | None = None
    schema: str | None = None
