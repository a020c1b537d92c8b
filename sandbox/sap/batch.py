"""``$batch`` bodies: multipart/mixed parsing and writing (sap_report.md §3.5).

Requests are ``application/http`` parts; writes sit in changesets (nested multipart/mixed). The
answer has one part per read and, per changeset, either a nested multipart with one response per
operation (echoing ``Content-ID``) or — when any operation failed — a single error response for the
whole changeset. Lines end in CRLF; LF alone is accepted on input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus

_BOUNDARY_RE = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


class BatchFormatError(ValueError):
    """The body is not a well-formed batch."""


@dataclass
class BatchRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


@dataclass
class ChangeSet:
    requests: list[BatchRequest] = field(default_factory=list)


@dataclass
class BatchResponse:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    content_id: str | None = None


def boundary_of(content_type: str) -> str:
    match = _BOUNDARY_RE.search(content_type or "")
    if not match:
        raise BatchFormatError("multipart/mixed content type without a boundary")
    return match.group(1).strip()


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts between ``--boundary`` lines, up to ``--boundary--``."""
    delimiter = b"--" + boundary.encode("latin-1")
    pos = body.find(delimiter)
    if pos < 0:
        raise BatchFormatError(f"boundary {boundary} not found")
    parts = []
    while True:
        after = pos + len(delimiter)
        if body[after : after + 2] == b"--":
            return parts
        eol = body.find(b"\n", after)
        if eol < 0:
            raise BatchFormatError("multipart body ends inside a delimiter line")
        nxt = body.find(b"\n" + delimiter, eol)
        if nxt < 0:
            raise BatchFormatError(f"closing delimiter --{boundary}-- missing")
        part = body[eol + 1 : nxt]
        parts.append(part[:-1] if part.endswith(b"\r") else part)
        pos = nxt + 1


def split_head(data: bytes) -> tuple[list[str], bytes]:
    """Header lines and the rest, split at the first empty line."""
    match = re.search(rb"\r?\n\r?\n", data)
    if match is None:
        head, rest = data, b""
    else:
        head, rest = data[: match.start()], data[match.end() :]
    return [line for line in head.decode("utf-8").splitlines() if line.strip()], rest


def parse_headers(lines: list[str]) -> dict[str, str]:
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise BatchFormatError(f"malformed header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def _http_request(mime_headers: dict[str, str], content: bytes) -> BatchRequest:
    if not mime_headers.get("content-type", "").lower().startswith("application/http"):
        raise BatchFormatError("a batch part must have Content-Type application/http")
    lines, body = split_head(content)
    if not lines:
        raise BatchFormatError("a batch part has no request line")
    request_line, *header_lines = lines
    words = request_line.split()
    if len(words) != 3 or not words[2].startswith("HTTP/"):
        raise BatchFormatError(f"malformed request line {request_line!r}")
    headers = parse_headers(header_lines)
    content_id = mime_headers.get("content-id") or headers.get("content-id")
    return BatchRequest(words[0].upper(), words[1], headers, body.strip(b"\r\n"), content_id)


def parse_batch(body: bytes, content_type: str) -> list[BatchRequest | ChangeSet]:
    items: list[BatchRequest | ChangeSet] = []
    for part in split_multipart(body, boundary_of(content_type)):
        lines, content = split_head(part)
        mime = parse_headers(lines)
        kind = mime.get("content-type", "")
        if kind.lower().startswith("multipart/mixed"):
            changeset = ChangeSet()
            for inner in split_multipart(content, boundary_of(kind)):
                inner_lines, inner_content = split_head(inner)
                request = _http_request(parse_headers(inner_lines), inner_content)
                if request.method == "GET":
                    raise BatchFormatError("a changeset may not contain a GET request")
                changeset.requests.append(request)
            items.append(changeset)
        else:
            request = _http_request(mime, content)
            if request.method != "GET":
                raise BatchFormatError(f"{request.method} outside a changeset; writes must be inside a changeset")
            items.append(request)
    return items


def _status_line(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}".rstrip()


def _response_part(response: BatchResponse) -> bytes:
    mime = ["Content-Type: application/http", "Content-Length: {length}", "Content-Transfer-Encoding: binary"]
    if response.content_id:
        mime.append(f"Content-ID: {response.content_id}")
    http = [_status_line(response.status)]
    headers = dict(response.headers)
    headers["Content-Length"] = str(len(response.body))
    http += [f"{name}: {value}" for name, value in headers.items()]
    payload = ("\r\n".join(http) + "\r\n\r\n").encode("utf-8") + response.body
    head = "\r\n".join(mime).replace("{length}", str(len(payload)))
    return head.encode("utf-8") + b"\r\n\r\n" + payload


def write_batch(
    results: list[BatchResponse | list[BatchResponse]], batch_boundary: str, changeset_boundaries: list[str]
) -> bytes:
    """The body of the 202 answer; ``changeset_boundaries`` supplies one boundary per changeset."""
    out = bytearray()
    boundaries = iter(changeset_boundaries)
    for result in results:
        out += f"--{batch_boundary}\r\n".encode()
        if isinstance(result, list):
            boundary = next(boundaries)
            inner = bytearray()
            for response in result:
                inner += f"--{boundary}\r\n".encode() + _response_part(response) + b"\r\n"
            inner += f"--{boundary}--\r\n".encode()
            out += (
                f"Content-Type: multipart/mixed; boundary={boundary}\r\nContent-Length: {len(inner)}\r\n\r\n".encode()
            )
            out += inner
        else:
            out += _response_part(result)
        out += b"\r\n"
    out += f"--{batch_boundary}--\r\n".encode()
    return bytes(out)
