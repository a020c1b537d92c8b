"""What every emulated system provides, and the shared context it is built from.

Adding a system = one module with an :class:`EmulatedSystem` subclass + one line in
:mod:`sandbox.registry`. The gateway (:mod:`sandbox.gateway`) adds call logging and fault injection
around it, the control API (:mod:`sandbox.control`) reaches its records through the hooks below.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox.clock import SandboxClock
from sandbox.faults import FaultConfig, FaultKind, FaultState
from sandbox.logs import CallLog, WriteLog
from sandbox.seed_data import SeedData


@dataclass
class SandboxContext:
    seed: int
    clock: SandboxClock
    data: SeedData
    calls: CallLog = field(default_factory=CallLog)
    writes: WriteLog = field(default_factory=WriteLog)
    faults: dict[str, FaultState] = field(default_factory=dict)

    def fault_state(self, system: str) -> FaultState:
        if system not in self.faults:
            self.faults[system] = FaultState(self.seed, system)
        return self.faults[system]


class RecordError(ValueError):
    """A control-API record request that does not fit the system's data model."""


def record_edit(
    body: dict[str, Any], tables: dict[str, dict[str, dict[str, Any]]]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], str | None, dict[str, Any] | None]:
    """Read a control-API record edit ``{"module", "id"?, "fields", "delete"}`` against ``tables``.

    Returns the module's records, the fields, the record id (None: create) and, for a delete that
    was carried out, its answer.
    """
    module = body.get("module")
    if module not in tables:
        raise RecordError(f"unknown module {module!r}; known: {sorted(tables)}")
    records = tables[module]
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise RecordError("fields must be an object")
    record_id = str(body["id"]) if body.get("id") else None
    if body.get("delete"):
        if record_id is None or records.pop(record_id, None) is None:
            raise RecordError("no such record to delete")
        return records, fields, record_id, {"deleted": record_id}
    return records, fields, record_id, None


class EmulatedSystem(ABC):
    name: ClassVar[str]  # key in the ready line, the control API and the call log, e.g. "zoho_crm"
    prefix: ClassVar[str]  # mount point, e.g. "/zoho"

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx

    @property
    def faults(self) -> FaultConfig:
        return self.ctx.fault_state(self.name).config

    @abstractmethod
    def routes(self) -> list[BaseRoute]:
        """Routes relative to the prefix."""

    def not_found(self, path: str) -> Response:
        """The system's own answer to an unknown path."""
        return Response("Not Found", status_code=404, media_type="text/plain")

    @abstractmethod
    def connection_info(self, base_url: str) -> dict[str, Any]:
        """What a client needs to connect: URLs and credentials, as printed in the ready line."""

    def is_api_path(self, path: str) -> bool:
        """Whether faults with scope "api" apply to this path (relative to the prefix)."""
        return True

    @abstractmethod
    def fault_response(self, kind: FaultKind, config: FaultConfig, path: str) -> Response:
        """The system's own way of saying "throttled", "quota used up" or "server error"."""

    def expire_tokens(self) -> int:
        """Invalidate every issued access token; returns how many."""
        return 0

    def put_record(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create or change a record behind the clients' backs (control API)."""
        raise RecordError(f"{self.name} does not accept injected records")

    def get_record(self, module: str, record_id: str) -> dict[str, Any] | None:
        return None
