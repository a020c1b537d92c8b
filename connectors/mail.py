"""SMTP client for the hub's outgoing e-mail (customer confirmations): one message per call, typed errors.

Built on the standard library's ``smtplib`` rather than the SMTP provider's ``SmtpHook``, because the hook
- finds its Connection through ``BaseHook.get_connection`` (Airflow's secrets backends or the Task SDK
  supervisor), so it cannot be built or tested without Airflow, which ``connectors`` must be;
- retries every exception, 5xx refusals included, and resends after a connection lost during DATA,
  when the message may already have been delivered (DESIGN §3.2: nothing sent twice);
- builds its own MIME message from strings, so the caller's ``EmailMessage`` (its Message-ID above all)
  does not go out as built, and reports no reply codes a caller could classify.
The Connection is still read the way the provider reads ``smtp_default``: :meth:`SmtpConfig.from_connection`.

Errors follow the HTTP connectors' rule (DESIGN §3.5): a 4xx reply, a refused or lost connection or a
timeout is transient and retried by :mod:`connectors.retry` (the one policy), then raised as
:class:`TransientError`; a header or address the message cannot carry (CR, LF or NUL from CRM data, a
value the e-mail library refuses to write) is a :class:`HeaderRefused` (a ``BusinessError`` naming the
field) before any SMTP traffic; a 5xx reply is permanent (:class:`BusinessError` for a refused recipient or
message, :class:`AuthError` for credentials). A connection lost after DATA began is never retried here:
the server may have accepted the message, so it surfaces as a ``TransientError`` at once and the caller
(the ledger) decides; a resend carries the same deterministic Message-ID, by which receivers recognise it.
"""

from __future__ import annotations

import io
import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.errors import MessageError
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from typing import Any, NoReturn

from connectors.base import ConnectionLike, extra_bool, extra_retry
from connectors.errors import AuthError, BusinessError, PermanentError, RetryableError, TransientError
from connectors.retry import RetryPolicy, call_with_retries

log = logging.getLogger(__name__)

SYSTEM = "smtp"
# Replies that mean the credentials (or their absence) are wrong: RFC 4954 §6 and RFC 3207.
_AUTH_CODES = frozenset({530, 534, 535, 538})


def mask_address(address: str) -> str:
    """An address fit for a log line (DESIGN §3.6): ``c***@example.cn``."""
    local, at, domain = address.partition("@")
    return f"{local[:1]}***{at}{domain}" if at else "***"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    from_address: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True  # upgrade a plain connection (submission port 587)
    ssl: bool = False  # implicit TLS from the first byte (port 465); wins over starttls
    verify_tls: bool = True
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_connection(cls, conn: ConnectionLike) -> SmtpConfig:
        """From an Airflow Connection of type ``smtp`` (``smtp_default``), with the SMTP provider's extras.

        Like the provider: implicit TLS unless ``disable_ssl``, STARTTLS unless ``disable_tls``,
        ``from_email`` is the sender, ``timeout`` in seconds, ``retry_limit`` retries after the first
        try, ``ssl_context: "none"`` skips certificate checks. Also ``verify_tls`` and the retry extras
        of the other connectors (``max_attempts``, ``backoff_base``, ``backoff_cap``).
        """
        extra = conn.extra_dejson
        host = (conn.host or "").strip()
        if not host:
            raise ValueError("the SMTP connection has no host")
        from_address = str(extra.get("from_email") or "").strip()
        if not from_address:
            raise ValueError("the SMTP connection has no from_email extra")
        implicit_tls = not extra_bool(extra, "disable_ssl", False)
        retry = extra_retry(extra)
        if "retry_limit" in extra:
            retry = RetryPolicy(
                max_attempts=int(extra["retry_limit"]) + 1,
                base=retry.base,
                cap=retry.cap,
                max_retry_after=retry.max_retry_after,
            )
        port = getattr(conn, "port", None)
        return cls(
            host=host,
            port=int(port) if port else (465 if implicit_tls else 587),
            from_address=from_address,
            user=conn.login or None,
            password=conn.password or None,
            starttls=not implicit_tls and not extra_bool(extra, "disable_tls", False),
            ssl=implicit_tls,
            verify_tls=extra_bool(extra, "verify_tls", True) and extra.get("ssl_context") != "none",
            timeout=float(extra.get("timeout", 30)),
            retry=retry,
        )


class RecipientRefused(BusinessError):
    """The server refused one or more recipients for good (550 and the like).

    ``delivered_to`` lists the recipients it accepted: the message went to them, so resending it as a
    whole would reach them twice.
    """

    def __init__(self, refused: dict[str, tuple[int, bytes]], delivered_to: list[str]) -> None:
        first_code = next(iter(refused.values()))[0]
        details = "; ".join(f"<{addr}>: {code} {_text(reply)}" for addr, (code, reply) in refused.items())
        super().__init__(
            SYSTEM,
            f"recipient refused: {details}",
            code=_enhanced_code(next(iter(refused.values()))[1]) or str(first_code),
            status=first_code,
            record_key=", ".join(refused),
        )
        self.refused = {addr: code for addr, (code, _) in refused.items()}
        self.delivered_to = delivered_to


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _enhanced_code(reply: bytes | str) -> str | None:
    """The RFC 3463 code at the start of a reply text (``5.1.2``), if the server sent one."""
    head = _text(reply).split(" ", 1)[0]
    parts = head.split(".")
    return head if len(parts) == 3 and all(p.isdigit() for p in parts) else None


class _TracksData:
    """Notes when DATA began: a failure after that may follow an accepted message."""

    data_started = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.data_started = True
        return super().data(msg)  # type: ignore[misc]


class _Smtp(_TracksData, smtplib.SMTP):
    pass


class _SmtpSsl(_TracksData, smtplib.SMTP_SSL):
    pass


class Mailer:
    """Sends ``EmailMessage`` objects through one SMTP server, one connection per message.

    A connection per message keeps a failure from leaking into the next send and costs little at the
    hub's volume (a few hundred confirmations a run).
    """

    def __init__(self, config: SmtpConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._sleep = sleep
        self._context: ssl.SSLContext | None = None

    def send(self, message: EmailMessage) -> str:
        """Send ``message``; returns its Message-ID.

        The message must carry a Message-ID (``transforms.message_ids.stable_message_id``): without one
        a resend could not be recognised. ``From`` defaults to the configured sender; recipients come from To, Cc
        and Bcc (Bcc is not transmitted). Raises :class:`HeaderRefused` before connecting when a header or
        address cannot be sent, and lets any exception that is not an SMTP or socket error propagate.
        """
        message_id = message.get("Message-ID")
        if not message_id:
            raise ValueError("the message has no Message-ID: set stable_message_id(key, domain)")
        if not message.get("From"):
            message["From"] = self.config.from_address
        _check_headers(message)
        recipients = [addr for _, addr in getaddresses(message.get_all("To", []) + message.get_all("Cc", []))]
        recipients += [addr for _, addr in getaddresses(message.get_all("Bcc", []))]
        if not recipients:
            raise ValueError(f"message {message_id} has no recipient")
        sender = _envelope_sender(message)
        _check_envelope(sender, recipients)
        _check_renders(message, [sender, *recipients])
        call_with_retries(
            self.config.retry,
            lambda: self._attempt(message, recipients),
            system=SYSTEM,
            what=f"message {message_id}",
            sleep=self._sleep,
        )
        log.info("smtp: sent %s to %s", message_id, ", ".join(mask_address(r) for r in recipients))
        return str(message_id)

    def _tls_context(self) -> ssl.SSLContext:
        # Built once per mailer: loading the CA store costs ~50 ms, more than sending a message.
        if self._context is None:
            self._context = ssl.create_default_context()
            if not self.config.verify_tls:  # only when the connection says so (DESIGN §3.6)
                self._context.check_hostname = False
                self._context.verify_mode = ssl.CERT_NONE
        return self._context

    def _connect(self) -> _Smtp | _SmtpSsl:
        cfg = self.config
        context = self._tls_context() if cfg.ssl or cfg.starttls else None
        client: _Smtp | _SmtpSsl
        if cfg.ssl:
            client = _SmtpSsl(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
        else:
            client = _Smtp(cfg.host, cfg.port, timeout=cfg.timeout)
        try:
            if cfg.starttls and not cfg.ssl:
                client.starttls(context=context)
            if cfg.user:
                client.login(cfg.user, cfg.password or "")
        except BaseException:
            client.close()
            raise
        return client

    def _attempt(self, message: EmailMessage, recipients: list[str]) -> None:
        client: _Smtp | _SmtpSsl | None = None
        try:
            client = self._connect()
            refused = client.send_message(message, to_addrs=recipients)
            if refused:
                raise RecipientRefused(refused, [r for r in recipients if r not in refused])
        except smtplib.SMTPRecipientsRefused as exc:
            _raise_for_recipients(exc.recipients)
        except smtplib.SMTPResponseException as exc:
            _raise_for_reply(exc.smtp_code, exc.smtp_error, during_data=bool(client and client.data_started))
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(SYSTEM, f"TLS certificate of {self.config.host} rejected: {exc}", code="TLS") from exc
        except smtplib.SMTPServerDisconnected as exc:
            _raise_for_lost_connection(exc, during_data=bool(client and client.data_started))
        except smtplib.SMTPException as exc:  # no reply code: a missing extension or AUTH mechanism
            raise PermanentError(SYSTEM, f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:  # refused, reset, timed out, name not resolved
            _raise_for_lost_connection(exc, during_data=bool(client and client.data_started))
        finally:
            if client is not None:
                _quit(client)


# Address headers name the record's e-mail address; other headers are named as they are.
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender"})
# A line break not followed by whitespace ends the header (injection); NUL is refused by SMTP servers.
_FORBIDDEN = re.compile(r"[\r\n\x00]")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


class HeaderRefused(BusinessError):
    """A header or address the message cannot carry (CR, LF or NUL from CRM data, a value the e-mail
    library refuses to write): no send can succeed, so it is refused before any SMTP traffic.
    ``field`` is ``"email"`` for an address, else the header's name in lower case (``"subject"``)."""

    def __init__(self, header: str, problem: str, *, field: str | None = None) -> None:
        name = header.lower()
        super().__init__(
            SYSTEM,
            f"header {header}: {problem}",
            code="INVALID_HEADER",
            field=field or ("email" if name in _ADDRESS_HEADERS else name),
        )
        self.header = header


def check_header_values(values: Mapping[str, str | None], *, header: str = "header") -> None:
    """Raise :class:`HeaderRefused` naming the first field whose value cannot go into a mail header.

    For the values a message is built from (``{"order_number": …, "email": …}``), before building it:
    ``EmailMessage`` refuses a CR or LF with a bare ``ValueError`` the moment the header is set, and lets a
    NUL through to the server. Calling this first turns both into a refusal of the record, with its field.
    """
    for name, value in values.items():
        if value is not None and (problem := _forbidden(str(value), folded=False)):
            raise HeaderRefused(header, f"{name} contains {problem}", field=name)


def _forbidden(value: str, *, folded: bool = True) -> str | None:
    unfolded = _FOLD.sub(" ", value) if folded else value  # a header parsed from a source keeps its folds
    found = _FORBIDDEN.search(unfolded)
    if found is None:
        return None
    return "a NUL character" if found.group() == "\x00" else "a line break (CR/LF)"


def _check_headers(message: Message) -> None:
    for name, value in message.raw_items():
        if problem := _forbidden(str(value)):
            raise HeaderRefused(name, f"contains {problem}")


def _envelope_sender(message: Message) -> str:
    return parseaddr(str(message.get("Sender") or message["From"]))[1]


def _check_envelope(sender: str, recipients: Iterable[str]) -> None:
    for header, address in [("From", sender), *(("To", r) for r in recipients)]:
        if problem := _forbidden(address):
            raise HeaderRefused(header, f"an address contains {problem}")
        if not address.strip():
            raise HeaderRefused(header, "an address is empty")


def _check_renders(message: Message, addresses: list[str]) -> None:
    """Write the message as ``smtplib.send_message`` will, before connecting: what the library refuses
    to write (an embedded header, an unencodable value) is refused here, not in the middle of a session."""
    international = any(not address.isascii() for address in addresses)
    policy = message.policy.clone(utf8=True) if international and hasattr(message.policy, "utf8") else None
    try:
        BytesGenerator(io.BytesIO(), policy=policy).flatten(message, linesep="\r\n")
    except (MessageError, ValueError) as exc:  # HeaderParseError, UnicodeEncodeError and the like
        raise HeaderRefused(_header_named_in(message, str(exc)), f"cannot be written: {exc}") from exc


def _header_named_in(message: Message, text: str) -> str:
    for name, value in message.raw_items():
        if str(value) and str(value) in text:
            return name
    return "message"


def _raise_for_recipients(refused: dict[str, tuple[int, bytes]]) -> NoReturn:
    transient = {addr: reply for addr, reply in refused.items() if 400 <= reply[0] < 500}
    if transient:
        code, reply = next(iter(transient.values()))
        raise RetryableError(f"{code} {_text(reply)}", status=code, code=_enhanced_code(reply) or str(code))
    raise RecipientRefused(refused, [])


def _raise_for_reply(code: int, reply: bytes | str, *, during_data: bool) -> NoReturn:
    text = f"{code} {_text(reply)}"
    enhanced = _enhanced_code(reply) or str(code)
    if 400 <= code < 500:
        raise RetryableError(text, status=code, code=enhanced)
    if code in _AUTH_CODES:
        raise AuthError(SYSTEM, f"credentials refused: {text}", code=enhanced, status=code)
    if during_data:
        raise BusinessError(SYSTEM, f"message refused: {text}", code=enhanced, status=code)
    raise PermanentError(SYSTEM, text, code=enhanced, status=code)


def _raise_for_lost_connection(exc: OSError, *, during_data: bool) -> NoReturn:
    code = "TIMEOUT" if isinstance(exc, TimeoutError) else "CONNECTION"
    if during_data:
        raise TransientError(
            SYSTEM, f"{type(exc).__name__} after DATA began; the message may have been delivered: {exc}", code=code
        ) from exc
    raise RetryableError(f"{type(exc).__name__}: {exc}", code=code) from exc


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()  # the server already hung up (421) or the connection broke
