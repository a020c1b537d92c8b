"""Assembles one Starlette app: each system under its prefix behind its gateway, plus ``/_sandbox``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from sandbox.control import control_routes
from sandbox.gateway import Gateway
from sandbox.system import EmulatedSystem, SandboxContext


def _system_app(system: EmulatedSystem) -> Starlette:
    async def fallback(request: Request) -> Response:
        return system.not_found(request.url.path)

    routes = [*system.routes(), Route("/{rest:path}", fallback, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]
    return Starlette(routes=routes)


def build_app(
    ctx: SandboxContext, systems: Sequence[EmulatedSystem], info: Callable[[], dict[str, Any]] = dict
) -> Starlette:
    routes = [Mount("/_sandbox", routes=control_routes(ctx, systems, info))]
    routes += [Mount(s.prefix, app=Gateway(_system_app(s), s)) for s in systems]
    return Starlette(routes=routes)
