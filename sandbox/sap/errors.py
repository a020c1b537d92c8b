"""The SAP Gateway error body (sap_report.md §3.4) and the exception that carries it.

``{"error": {"code", "message": {"lang", "value"}, "innererror": {"application", "transactionid",
"timestamp", "Error_Resolution", "errordetails": [...]}}}``. The message classes and numbers the
emulator uses for business errors are its own choices where the reference names none [verify]:
V1/302 sold-to party not in the sales area, V1/382 material unknown, V1/462 order block, M3/305
material not in plant, V1/343 quantity, VL/609 goods issue already posted, and the Gateway classes
/IWBEP/CM_MGW_RT (framework), /IWFND/CM_CONSUMER (hub) for protocol errors.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

# The texts real Gateway systems put in every error; clients show them to administrators.
SAP_TRANSACTION = (
    'For backend administrators: use ADT feed reader "SAP Gateway Error Log" or run transaction '
    "/IWFND/ERROR_LOG on SAP Gateway hub system and search for entries with the timestamp above for more details"
)
SAP_NOTE = "See SAP Note 1797736 for error analysis (https://service.sap.com/sap/support/notes/1797736)"

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class ErrorDetail:
    code: str
    message: str
    target: str = ""
    propertyref: str = ""
    severity: str = "error"

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "propertyref": self.propertyref,
            "severity": self.severity,
            "target": self.target,
        }


@dataclass
class SapError(Exception):
    """An error answer in SAP's shape. ``details`` become ``innererror.errordetails``; SAP repeats the
    main message there, so an empty list gets the main message as its only entry."""

    status: int
    code: str
    message: str
    details: list[ErrorDetail] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


@dataclass(frozen=True)
class ServiceInfo:
    """What ``innererror.application`` names: the service that answered."""

    service_id: str
    component_id: str
    version: str = "0001"


class ErrorFactory:
    """Builds error bodies with transaction ids and timestamps from the sandbox clock."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._count = 0

    def transaction_id(self) -> str:
        self._count += 1
        return hashlib.sha256(f"{self._seed}:sap:tx:{self._count}".encode()).hexdigest()[:32].upper()

    def body(self, error: SapError, service: ServiceInfo | None, now: datetime) -> dict[str, Any]:
        details = error.details or [ErrorDetail(error.code, error.message)]
        application = {
            "component_id": service.component_id if service else "",
            "service_namespace": "/SAP/",
            "service_id": service.service_id if service else "",
            "service_version": service.version if service else "",
        }
        return {
            "error": {
                "code": error.code,
                "message": {"lang": "en", "value": error.message},
                "innererror": {
                    "application": application,
                    "transactionid": self.transaction_id(),
                    "timestamp": gateway_timestamp(now),
                    "Error_Resolution": {"SAP_Transaction": SAP_TRANSACTION, "SAP_Note": SAP_NOTE},
                    "errordetails": [d.as_dict() for d in details],
                },
            }
        }

    def encode(self, error: SapError, service: ServiceInfo | None, now: datetime) -> bytes:
        # "replace": messages may echo request text holding unpaired surrogates.
        return json.dumps(self.body(error, service, now), ensure_ascii=False).encode("utf-8", "replace")

    def response(self, error: SapError, service: ServiceInfo | None, now: datetime) -> Response:
        return Response(
            self.encode(error, service, now),
            status_code=error.status,
            media_type=JSON_TYPE,
            headers={"dataserviceversion": "1.0", **error.headers},
        )


def gateway_timestamp(moment: datetime) -> str:
    """``20201027150920.7447650``: UTC, seconds with seven decimals."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y%m%d%H%M%S") + f".{moment.microsecond:06d}0"


def not_found_segment(segment: str) -> SapError:
    return SapError(404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for the segment '{segment}'.")


def bad_request(message: str, code: str = "/IWBEP/CM_MGW_RT/021") -> SapError:
    return SapError(400, code, message)
