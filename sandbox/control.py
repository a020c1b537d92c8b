"""The control API under ``/_sandbox``: health, faults, clock, call and write logs, records.

Tests and the demo steer the emulators through it; it is never part of an emulated system, so it is
neither logged nor subject to faults.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from sandbox.clock import iso_z, parse_instant
from sandbox.faults import FaultConfigError
from sandbox.smtp import SmtpSystem
from sandbox.system import EmulatedSystem, RecordError, SandboxContext


class BadRequest(ValueError):
    """A control request that is not JSON or not shaped as documented."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc


def apply_faults(
    ctx: SandboxContext, systems: dict[str, EmulatedSystem], body: dict[str, Any] | list[Any]
) -> dict[str, Any]:
    """Apply one fault setting (or a list of them); ``system`` missing or ``"*"`` means every system.

    Shared by ``POST /_sandbox/faults`` and ``--faults`` at start.
    """
    items = body if isinstance(body, list) else [body]
    expired: dict[str, int] = {}
    for item in items:
        if not isinstance(item, dict):
            raise FaultConfigError("a fault setting must be a JSON object")
        settings = dict(item)
        target = settings.pop("system", "*")
        expire = settings.pop("expire_tokens", False)
        names = list(systems) if target == "*" else [target]
        for name in names:
            if name not in systems:
                raise FaultConfigError(f"unknown system {name!r}; known: {sorted(systems)}")
            ctx.fault_state(name).apply(settings)
            if expire:
                expired[name] = systems[name].expire_tokens()
    result: dict[str, Any] = {"faults": {name: ctx.fault_state(name).config.as_dict() for name in systems}}
    if expired:
        result["expired_tokens"] = expired
    return result


def control_routes(
    ctx: SandboxContext, systems: Sequence[EmulatedSystem], info: Callable[[], dict[str, Any]]
) -> list[BaseRoute]:
    by_name = {s.name: s for s in systems}

    async def health(request: Request) -> Response:
        return JSONResponse(
            {
                "ok": True,
                "pid": os.getpid(),
                "now": iso_z(ctx.clock.now()),
                "frozen": ctx.clock.frozen,
                "seed": ctx.seed,
                "orders": len(ctx.data.orders),
                "systems": sorted(by_name),
                "in_flight": {name: ctx.fault_state(name).in_flight for name in by_name},
                **info(),
            }
        )

    async def get_faults(request: Request) -> Response:
        return JSONResponse({"faults": {n: ctx.fault_state(n).config.as_dict() for n in by_name}})

    async def post_faults(request: Request) -> Response:
        try:
            return JSONResponse(apply_faults(ctx, by_name, await _json_body(request)))
        except (FaultConfigError, BadRequest) as exc:
            return _error(400, str(exc))

    async def delete_faults(request: Request) -> Response:
        target = request.query_params.get("system")
        for name in [target] if target else list(by_name):
            if name not in by_name:
                return _error(404, f"unknown system {name!r}")
            ctx.fault_state(name).reset()
        return await get_faults(request)

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await _json_body(request)
                if "now" in body:
                    ctx.clock.set(parse_instant(str(body["now"])))
                if "advance_seconds" in body:
                    ctx.clock.advance(float(body["advance_seconds"]))
                if "frozen" in body:
                    ctx.clock.freeze(bool(body["frozen"]))
            except (ValueError, TypeError) as exc:
                return _error(400, f"bad clock request: {exc}")
        return JSONResponse({"now": iso_z(ctx.clock.now()), "frozen": ctx.clock.frozen})

    async def calls(request: Request) -> Response:
        if request.method == "DELETE":
            ctx.calls.clear()
            return JSONResponse({"calls": []})
        system = request.query_params.get("system")
        if system is not None and system not in by_name:
            return _error(404, f"unknown system {system!r}")
        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError:
            return _error(400, "since must be a call sequence number")
        return JSONResponse({"calls": ctx.calls.query(system, since)})

    async def mail(request: Request) -> Response:
        smtp = next((s for s in systems if isinstance(s, SmtpSystem)), None)
        if smtp is None:
            return _error(404, "this sandbox has no SMTP server")
        if request.method == "DELETE":
            smtp.mailbox.clear()
            return JSONResponse({"messages": []})
        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError:
            return _error(400, "since must be a message sequence number")
        return JSONResponse({"messages": smtp.mailbox.query(request.query_params.get("to"), since)})

    async def writes(request: Request) -> Response:
        if request.method == "DELETE":
            ctx.writes.clear()
            return JSONResponse({"writes": []})
        return JSONResponse({"writes": ctx.writes.query(request.query_params.get("system"))})

    async def put_record(request: Request) -> Response:
        system = by_name.get(request.path_params["system"])
        if system is None:
            return _error(404, f"unknown system {request.path_params['system']!r}")
        try:
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise RecordError("body must be a JSON object")
            return JSONResponse(system.put_record(body))
        except (RecordError, BadRequest) as exc:
            return _error(400, str(exc))

    async def get_record(request: Request) -> Response:
        system = by_name.get(request.path_params["system"])
        if system is None:
            return _error(404, f"unknown system {request.path_params['system']!r}")
        record = system.get_record(request.path_params["module"], request.path_params["record_id"])
        if record is None:
            return _error(404, "no such record")
        return JSONResponse({"record": record})

    async def seed_orders(request: Request) -> Response:
        return JSONResponse(
            {
                "orders": [
                    {
                        "number": o.number,
                        "crm": o.crm,
                        "crm_id": o.crm_id,
                        "customer_number": o.customer_number,
                        "currency": o.currency,
                        "order_time": iso_z(o.order_time),
                        "modified_time": iso_z(o.modified_time),
                        "lines": len(o.lines),
                        "defects": list(o.defects),
                    }
                    for o in ctx.data.orders
                ]
            }
        )

    async def seed_defects(request: Request) -> Response:
        return JSONResponse({"defects": ctx.data.defects})

    return [
        Route("/health", health, methods=["GET"]),
        Route("/faults", get_faults, methods=["GET"]),
        Route("/faults", post_faults, methods=["POST"]),
        Route("/faults", delete_faults, methods=["DELETE"]),
        Route("/clock", clock, methods=["GET", "POST"]),
        Route("/calls", calls, methods=["GET", "DELETE"]),
        Route("/writes", writes, methods=["GET", "DELETE"]),
        Route("/mail", mail, methods=["GET", "DELETE"]),
        Route("/records/{system}", put_record, methods=["POST"]),
        Route("/records/{system}/{module}/{record_id:path}", get_record, methods=["GET"]),
        Route("/seed/orders", seed_orders, methods=["GET"]),
        Route("/seed/defects", seed_defects, methods=["GET"]),
        # A system with control calls of its own (the Qimen WMS: receiver URL, push, orders) serves
        # them under /_sandbox/{system}/...
        *(Mount(f"/{s.name}", routes=s.control_routes()) for s in systems if hasattr(s, "control_routes")),
    ]
