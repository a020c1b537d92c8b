"""``python -m sandbox up``: generate the seed data, serve every emulator on one port, announce readiness.

Once the socket listens, exactly one JSON line goes to stdout (the ready line: URLs and credentials)
and nothing else is ever written there; logs go to stderr. SIGINT/SIGTERM stop the server cleanly.
The SMTP emulator (:mod:`sandbox.smtp`) listens on a second port of the same host, on the same loop,
and the SFTP finance drop (:mod:`sandbox.sftp`) on a third; its files live under ``--sftp-root`` (else a
temporary folder removed when the server stops).
With ``--live-orders-every S`` new orders arrive in the CRMs every S seconds of sandbox time
(:mod:`sandbox.live_orders`); off by default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sandbox.app import build_app
from sandbox.clock import DEFAULT_START, SandboxClock, iso_z, parse_instant
from sandbox.control import apply_faults
from sandbox.faults import FaultConfigError
from sandbox.gateway import TRANSPORT_KEY
from sandbox.live_orders import LiveOrders
from sandbox.registry import SYSTEMS
from sandbox.seed_data import DEFAULT_ORDERS, generate
from sandbox.sftp import SftpSystem
from sandbox.smtp import SmtpSystem
from sandbox.system import EmulatedSystem, SandboxContext

log = logging.getLogger("sandbox")


class SandboxHttpProtocol(HttpToolsProtocol):
    """Puts the connection's transport in each request scope so the gateway can drop connections."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Without TCP_NODELAY a kept-alive client waits ~40 ms per response (Nagle vs delayed ACK).
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[TRANSPORT_KEY] = self.transport  # type: ignore[literal-required]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="serve every emulator until SIGINT/SIGTERM")
    up.add_argument("--seed", type=int, default=7)
    up.add_argument("--orders", type=int, default=DEFAULT_ORDERS, help="orders in the CRMs (both together)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=0, help="0 picks a free port")
    up.add_argument("--smtp-port", type=int, default=0, help="SMTP port on the same host; 0 picks a free port")
    up.add_argument("--sftp-port", type=int, default=0, help="SFTP port on the same host; 0 picks a free port")
    up.add_argument("--sftp-root", default=None, help="folder served as the SFTP root (default: a temporary one)")
    up.add_argument("--now", default=None, help=f"sandbox clock start, ISO-8601 (default {iso_z(DEFAULT_START)})")
    up.add_argument("--frozen", action="store_true", help="keep the sandbox clock still until told to move")
    up.add_argument("--faults", default=None, help="fault settings as JSON: one object or a list of them")
    up.add_argument(
        "--live-orders-every",
        type=float,
        default=0,
        metavar="SECONDS",
        help="a new order in Zoho or Fxiaoke every SECONDS of sandbox time (default 0: none)",
    )
    up.add_argument("--log-level", default="warning")
    return parser


def build(seed: int, orders: int, now: str | None, frozen: bool) -> tuple[SandboxContext, list[EmulatedSystem]]:
    start = parse_instant(now) if now else DEFAULT_START
    ctx = SandboxContext(seed=seed, clock=SandboxClock(start, frozen=frozen), data=generate(seed, orders, start))
    return ctx, [*(system(ctx) for system in SYSTEMS), SmtpSystem(ctx), SftpSystem(ctx)]


def ready_line(
    ctx: SandboxContext, systems: list[EmulatedSystem], base_url: str, live: LiveOrders | None = None
) -> dict[str, Any]:
    info = {
        "ready": True,
        "pid": os.getpid(),
        "base_url": base_url,
        "control_url": f"{base_url}/_sandbox",
        "now": iso_z(ctx.clock.now()),
        "systems": {s.name: s.connection_info(base_url) for s in systems},
    }
    if live is not None:
        info["live_orders"] = live.status()
    return info


def _bound_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc}") from exc
    return sock


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        ctx, systems = build(args.seed, args.orders, args.now, args.frozen)
        if args.faults:
            apply_faults(ctx, {s.name: s for s in systems}, json.loads(args.faults))
        live = LiveOrders(ctx, systems, args.live_orders_every) if args.live_orders_every else None
    except (ValueError, FaultConfigError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2

    try:
        sock = _bound_socket(args.host, args.port)
        smtp_sock = _bound_socket(args.host, args.smtp_port)
        sftp_sock = _bound_socket(args.host, args.sftp_port)
    except OSError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    smtp = next(s for s in systems if isinstance(s, SmtpSystem))
    host, port = sock.getsockname()[:2]
    base_url = f"http://{host}:{port}"
    smtp.address = smtp_sock.getsockname()[:2]
    sftp = next(s for s in systems if isinstance(s, SftpSystem))
    sftp.address = sftp_sock.getsockname()[:2]
    try:
        sftp.open_root(args.sftp_root)
    except OSError as exc:
        print(f"sandbox: cannot use the SFTP root {args.sftp_root}: {exc}", file=sys.stderr)
        return 2
    info = ready_line(ctx, systems, base_url, live)
    app = build_app(ctx, systems, lambda: {"base_url": base_url, **({"live_orders": live.status()} if live else {})})
    config = uvicorn.Config(
        app,
        http=SandboxHttpProtocol,
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level=args.log_level,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)

    # Until uvicorn installs its own handlers, a signal just asks the server to stop. uvicorn re-raises
    # the signal that stopped it once it has shut down; this handler turns that into a normal return,
    # so callers of main() get an exit code.
    def request_stop(signum: int, frame: Any) -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)

    async def serve() -> None:
        mail_server = await smtp.start(smtp_sock)
        sftp_server = await sftp.start(sftp_sock)
        try:
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started:
                if task.done():
                    await task
                    return
                await asyncio.sleep(0.01)
            sys.stdout.write(json.dumps(info, ensure_ascii=False) + "\n")
            sys.stdout.flush()
            ticker = asyncio.create_task(live.run()) if live else None
            await task
            if ticker is not None:
                ticker.cancel()
        finally:
            # Open SMTP and SFTP sessions are cancelled by asyncio.run when this returns.
            mail_server.close()
            sftp_server.close()

    try:
        asyncio.run(serve())
    finally:
        sftp.close_root()
    return 0
