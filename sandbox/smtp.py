"""SMTP submission server (RFC 5321, RFC 6409, AUTH per RFC 4954) for the hub's customer e-mail.

It runs on uvicorn's event loop beside the HTTP emulators, in the same thread: the mailbox, the fault
state and the call log are shared with the control API without locks, and the SIGTERM that stops
uvicorn stops it too (``sandbox.server`` closes the listener, ``asyncio.run`` cancels open sessions).

It behaves as a submission server does:

- EHLO advertises ``SIZE 10485760``, ``8BITMIME``, ``SMTPUTF8``, ``ENHANCEDSTATUSCODES`` and
  ``AUTH LOGIN PLAIN``; replies carry enhanced status codes (RFC 3463).
- AUTH is required: MAIL, RCPT or DATA before it get ``530 5.7.0``; wrong credentials ``535 5.7.8``.
  The sandbox listens on loopback and offers no STARTTLS, so AUTH is accepted in clear
  (aiosmtpd ``auth_require_tls=False``). A production connection keeps TLS on.
- Only senders of the hub's own domain are relayed (``553 5.7.1`` otherwise), as a provider
  refuses to send as someone else.
- Recipients in a domain that does not exist (``invalid.example``, anything under the reserved
  ``.invalid`` TLD) get ``550 5.1.2``; a message over 10 MB gets ``552 5.3.4``.

Faults reuse the sandbox fault settings (``POST /_sandbox/faults {"system": "smtp", ...}``). One
decision per mail transaction, drawn at its first RCPT, where a real server runs its policy checks:

- ``burst_429`` / ``rate_429`` → ``421 4.7.0 too many messages, slow down`` and the channel closes;
  ``max_concurrency`` (open sessions) → ``421 4.7.0 too many connections``;
- ``burst_drop`` / ``rate_drop`` (and ``rate_truncate``) → the connection closes without a reply;
- ``burst_5xx`` / ``rate_5xx`` → the whole message is read, then ``451 4.3.0 temporary failure``;
- ``quota_exhausted`` → ``550 5.4.5 daily sending quota exceeded`` after DATA (as Gmail says it);
- ``slow_seconds`` delays the reply to DATA.

None of these stores the message, so a client that retries sends it exactly once.

The call log gets one entry per AUTH, RCPT and DATA reply and per command refused for want of AUTH
(``method`` = the command, ``status`` = the reply code, ``error_code`` = the enhanced status code).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import socket
import warnings
from typing import Any, ClassVar

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox.clock import iso_z
from sandbox.faults import Decision, FaultConfig, FaultKind, FaultState
from sandbox.smtp_store import Mailbox
from sandbox.system import EmulatedSystem, SandboxContext

log = logging.getLogger("sandbox.smtp")

SIZE_LIMIT = 10 * 1024 * 1024
SENDER_DOMAIN = "parts-hub.example"
FROM_ADDRESS = f"orders@{SENDER_DOMAIN}"
NONEXISTENT_DOMAINS = frozenset({"invalid.example"})
HOSTNAME = "smtp.sandbox.parts-hub.example"

THROTTLED = "421 4.7.0 too many messages, slow down"
TOO_MANY_CONNECTIONS = "421 4.7.0 too many connections, try again later"
TEMPORARY_FAILURE = "451 4.3.0 temporary failure, try again later"
QUOTA_EXCEEDED = "550 5.4.5 daily sending quota exceeded"
TOO_BIG = "552 5.3.4 message size exceeds fixed maximum message size"

# aiosmtpd's own replies that lack the enhanced status code a real server sends (RFC 3463).
_ENHANCED = {
    "552 Error: Too much mail data": TOO_BIG,
    "552 Error: message size exceeds fixed maximum message size": TOO_BIG,
    "503 Error: need MAIL command": "503 5.5.1 need MAIL command",
    "503 Error: need RCPT command": "503 5.5.1 need RCPT command",
    "503 Error: nested MAIL command": "503 5.5.1 nested MAIL command",
    # aiosmtpd hangs up after five unknown commands with a 502; a real server (Postfix's
    # smtpd_hard_error_limit) says 421, the one code RFC 5321 §3.8 gives a server closing the channel.
    "502 5.5.1 Too many unrecognized commands, goodbye.": "421 4.7.0 too many errors, closing connection",
}
_REPLY = re.compile(r"^(\d{3})[ -](\d\.\d{1,3}\.\d{1,3})?")

# aiosmtpd warns on every connection that AUTH without TLS is unsafe (here the documented choice:
# loopback only) and on every login about its own deprecated attribute; both would fill the sandbox log.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
_NOISE = ("auth_require_tls == False", "Session.login_data is deprecated")


class _QuietAiosmtpd(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(noise in record.getMessage() for noise in _NOISE)


logging.getLogger("mail.log").addFilter(_QuietAiosmtpd())


def _secret(seed: int, label: str) -> str:
    return hashlib.sha256(f"{seed}:smtp:{label}".encode()).hexdigest()[:24]


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def domain_exists(domain: str) -> bool:
    return domain not in NONEXISTENT_DOMAINS and not domain.endswith(".invalid") and domain != "invalid"


class SmtpSystem(EmulatedSystem):
    """The mail server as a sandbox system: ready-line entry, fault settings and call log under "smtp".

    It has no HTTP routes (its prefix answers 404); clients speak SMTP to ``host``:``port``.
    """

    name: ClassVar[str] = "smtp"
    prefix: ClassVar[str] = "/smtp"

    def __init__(self, ctx: SandboxContext) -> None:
        super().__init__(ctx)
        self.user = "hub-mailer"
        self.password = _secret(ctx.seed, "password")
        self.mailbox = Mailbox()
        self.address: tuple[str, int] | None = None

    def routes(self) -> list[BaseRoute]:
        return []

    def connection_info(self, base_url: str) -> dict[str, Any]:
        host, port = self.address or (None, None)
        return {"host": host, "port": port, "user": self.user, "password": self.password, "from_address": FROM_ADDRESS}

    def is_api_path(self, path: str) -> bool:
        return False

    def fault_response(self, kind: FaultKind, config: FaultConfig, path: str) -> Response:
        return self.not_found(path)

    async def start(self, sock: socket.socket) -> asyncio.Server:
        """Serve SMTP on an already bound socket, on the running loop."""
        self.address = sock.getsockname()[:2]  # already set for the ready line; kept true if started alone
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: SubmissionServer(self), sock=sock)

    def authenticate(self, credentials: Any) -> bool:
        return (
            isinstance(credentials, LoginPassword)
            and hmac.compare_digest(credentials.login, self.user.encode())
            and hmac.compare_digest(credentials.password, self.password.encode())
        )

    def log_reply(self, command: str, reply: str | None, fault: str | None, started: float) -> None:
        entry = self.ctx.calls.start(self.name, command, self.prefix, "", iso_z(self.ctx.clock.now()))
        match = _REPLY.match(reply or "")
        entry["status"] = int(match.group(1)) if match else None
        entry["error_code"] = match.group(2) if match else None
        entry["fault"] = fault
        entry["duration_ms"] = round((asyncio.get_running_loop().time() - started) * 1000, 1)


class _Handler:
    """aiosmtpd hooks: sender and recipient policy, and what happens to an accepted message."""

    def __init__(self, system: SmtpSystem) -> None:
        self.system = system

    async def handle_EHLO(
        self, server: SubmissionServer, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_MAIL(
        self, server: SubmissionServer, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if _domain(address) != SENDER_DOMAIN:
            return f"553 5.7.1 <{address}>: sender address rejected: not owned by user {self.system.user}"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 sender ok"

    async def handle_RCPT(
        self, server: SubmissionServer, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not domain_exists(_domain(address)):
            return f"550 5.1.2 <{address}>: recipient address rejected: domain not found"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 recipient ok"

    async def handle_DATA(self, server: SubmissionServer, session: Session, envelope: Envelope) -> str:
        decision = server.decision
        if decision.slow_seconds:
            await asyncio.sleep(decision.slow_seconds)
        if decision.kind == "server_error":
            return TEMPORARY_FAILURE
        if decision.kind == "quota":
            return QUOTA_EXCEEDED
        assert envelope.mail_from is not None and envelope.original_content is not None
        stored = self.system.mailbox.add(
            envelope.mail_from, envelope.rcpt_tos, envelope.original_content, self.system.ctx.clock.now()
        )
        return f"250 2.0.0 ok: queued as {stored['queue_id']}"


class SubmissionServer(SMTP):
    """One SMTP session: aiosmtpd's protocol plus the sandbox's fault decisions and call log."""

    def __init__(self, system: SmtpSystem) -> None:
        self.system = system  # before aiosmtpd's __init__, which inspects this object's members
        super().__init__(
            _Handler(system),
            data_size_limit=SIZE_LIMIT,
            enable_SMTPUTF8=True,
            hostname=HOSTNAME,
            ident="parts-hub sandbox ESMTP",
            auth_required=True,
            auth_require_tls=False,
            authenticator=self._authenticator,
            timeout=60,
        )
        self.decision = Decision()
        self._last_reply: str | None = None
        self._counted = False

    def _faults(self) -> FaultState:
        return self.system.ctx.fault_state(self.system.name)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # As for HTTP (sandbox/server.py): without TCP_NODELAY every reply waits ~40 ms on delayed ACKs.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._counted:
            self._counted = True
            self._faults().in_flight += 1

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._faults().in_flight -= 1
        super().connection_lost(error)

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, str):
            status = _ENHANCED.get(status, status)
            if status.startswith("500 Error: command"):
                status = "500 5.5.2 " + status[4:]
            self._last_reply = status
        await super().push(status)

    def _authenticator(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, credentials: Any
    ) -> AuthResult:
        ok = self.system.authenticate(credentials)
        reply = "235 2.7.0 Authentication successful" if ok else "535 5.7.8 Authentication credentials invalid"
        self.system.log_reply("AUTH", reply, None, self.loop.time())
        return AuthResult(success=ok, handled=False, auth_data=credentials if ok else None)

    async def check_auth_needed(self, caller_method: str) -> bool:
        needed = await super().check_auth_needed(caller_method)
        if needed:
            self.system.log_reply(caller_method, self._last_reply, None, self.loop.time())
        return needed

    def _opens_transaction(self) -> bool:
        assert self.session is not None and self.envelope is not None
        return bool(self.session.authenticated and self.envelope.mail_from and not self.envelope.rcpt_tos)

    async def smtp_RCPT(self, arg: str | None) -> None:
        started = self.loop.time()
        if self._opens_transaction():
            self.decision = self._faults().decide()
            kind = self.decision.kind
            if kind in ("drop", "truncate"):
                self.system.log_reply("RCPT", None, kind, started)
                assert self.transport is not None
                self.transport.abort()
                return
            if kind in ("throttle", "concurrency"):
                # 421 means the server closes the channel (RFC 5321 §3.8), as aiosmtpd does on its own limits.
                await self.push(THROTTLED if kind == "throttle" else TOO_MANY_CONNECTIONS)
                self.system.log_reply("RCPT", self._last_reply, kind, started)
                assert self.transport is not None
                self.transport.close()
                return
        self._last_reply = None
        await super().smtp_RCPT(arg)
        if self._last_reply and not self._last_reply.startswith("530"):
            self.system.log_reply("RCPT", self._last_reply, None, started)

    async def smtp_DATA(self, arg: str | None) -> None:
        started = self.loop.time()
        self._last_reply = None
        await super().smtp_DATA(arg)
        if self._last_reply and not self._last_reply.startswith("530"):
            kind = self.decision.kind if self.decision.kind in ("server_error", "quota") else None
            fault = kind or ("slow" if self.decision.slow_seconds else None)
            self.system.log_reply("DATA", self._last_reply, fault, started)
        self.decision = Decision()
