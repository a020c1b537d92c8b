"""The sandbox SMTP server answers any command line a client may send with an SMTP reply (RFC 5321
§4.2: three digits, then text), and a malformed session never stores a message or kills the server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fuzzing import FUZZ
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.sandbox

VERBS = [
    "EHLO",
    "HELO",
    "MAIL FROM:",
    "RCPT TO:",
    "DATA",
    "AUTH",
    "AUTH PLAIN",
    "AUTH LOGIN",
    "RSET",
    "NOOP",
    "VRFY",
    "EXPN",
    "HELP",
    "QUIT",
    "STARTTLS",
    "BDAT",
    "XCLIENT",
    "",
]
ARGS = st.one_of(
    st.text(max_size=80).map(lambda t: t.replace("\r", "").replace("\n", "")),
    st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").decode("latin-1")),
    st.sampled_from(["<>", "<a@b>", "<orders@parts-hub.example>", "<x@invalid.example>", "=" * 600, "AAAA" * 300]),
)
LINE = st.builds(lambda verb, arg: f"{verb} {arg}".strip(), st.sampled_from(VERBS), ARGS)


@pytest.fixture
def smtp(sandbox_faults: dict[str, Any]) -> Iterator[dict[str, Any]]:
    control = sandbox_faults["control_url"]
    requests.delete(control + "/mail", timeout=10).raise_for_status()
    yield sandbox_faults["systems"]["smtp"] | {"control_url": control}


def _replies(sock: socket.socket) -> list[bytes]:
    """Read one complete (possibly multi-line) reply: lines until one whose 4th byte is a space."""
    data = b""
    while not data.endswith(b"\r\n") or (data.split(b"\r\n")[-2][3:4] == b"-"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return [line for line in data.split(b"\r\n") if line]


@FUZZ
@given(lines=st.lists(LINE, min_size=1, max_size=8))
def test_any_command_gets_an_smtp_reply_and_stores_nothing(smtp, lines):
    with socket.create_connection((smtp["host"], smtp["port"]), timeout=10) as sock:
        greeting = _replies(sock)
        assert greeting and greeting[-1][:3] == b"220"
        for line in lines:
            sock.sendall(line.encode("latin-1", "replace") + b"\r\n")
            reply = _replies(sock)
            if not reply:  # the server closed the channel (421 or QUIT): a valid end of session
                break
            for part in reply:
                assert part[:3].isdigit() and part[:1] in b"2345" and part[3:4] in (b" ", b"-"), (line, reply)
            if line.upper().startswith("DATA") and reply[-1][:3] == b"354":
                sock.sendall(b".\r\n")  # an empty message ends the DATA phase
                _replies(sock)
            if reply[-1][:3] == b"221" or reply[-1][:3] == b"421":
                break
    # Nothing reached the mailbox without AUTH, and the server still serves the next client.
    assert requests.get(smtp["control_url"] + "/mail", timeout=10).json()["messages"] == []
    with socket.create_connection((smtp["host"], smtp["port"]), timeout=10) as sock:
        assert _replies(sock)[-1][:3] == b"220"


def test_too_many_unknown_commands_close_the_channel_with_421(smtp):
    """As Postfix's error limit does: a 421 (RFC 5321 §3.8), then the server hangs up."""
    with socket.create_connection((smtp["host"], smtp["port"]), timeout=10) as sock:
        _replies(sock)
        replies = []
        for _ in range(5):
            sock.sendall(b"BDAT\r\n")
            replies.append(_replies(sock)[-1])
        assert [r[:9] for r in replies[:4]] == [b"500 5.5.2"] * 4
        assert replies[4].startswith(b"421 4.7.0")
        assert sock.recv(1024) == b""
