"""Assembles one Starlette app: each system under its prefix behind its gateway, plus ``/_sandbox``."""

from __future__ import annotations

import re
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
    return Starlette(routes=_any_character(routes))


def build_app(
    ctx: SandboxContext, systems: Sequence[EmulatedSystem], info: Callable[[], dict[str, Any]] = dict
) -> Starlette:
    routes = [Mount("/_sandbox", routes=control_routes(ctx, systems, info))]
    routes += [Mount(s.prefix, app=Gateway(_system_app(s), s)) for s in systems]
    return Starlette(routes=_any_character(routes))


def _any_character(routes: list[Any]) -> list[Any]:
    """Let path patterns match every character, line breaks included: Starlette's ``.`` stops at a
    newline, so ``/Sales_Orders/%0A`` fell through to a plain-text 404 instead of reaching the
    emulator, which answers in the vendor's error shape."""
    for route in routes:
        route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)
        if isinstance(route, Mount) and route.routes:
            _any_character(route.routes)
    return routes
