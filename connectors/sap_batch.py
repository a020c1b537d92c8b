"""OData V2 ``$batch``: multipart/mixed with CRLF line ends, one nested multipart per changeset,
and SAP's rule that a failed changeset is answered by a single error part (reference §3.5)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from requests.structures import CaseInsensitiveDict

from connectors.http import PermanentError
from connectors.sap_errors import SYSTEM, SapError, SapTransientError, sap_error_from
from connectors.sap_values import to_wire

CRLF = "\r\n"


@dataclass(frozen=True)
class BatchRequest:
    """One operation of a $batch: ``path`` is relative to the service root (``A_SalesOrder``)."""

    method: str
    path: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


# A part of a batch is a read (one BatchRequest) or a changeset (a sequence of them).
BatchPart = BatchRequest | Sequence[BatchRequest]


@dataclass(frozen=True)
class BatchResponse:
    status: int
    reason: str
    headers: CaseInsensitiveDict[str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"), parse_float=Decimal) if self.body.strip() else None

    def error(self, *, record_key: str | None = None) -> SapError:
        return sap_error_from(self.status, self.body, self.headers.get("Content-Type", ""), record_key=record_key)


@dataclass(frozen=True)
class ChangesetResult:
    """A changeset's outcome: every operation's response when it committed, else the one error."""

    responses: tuple[BatchResponse, ...] = ()
    error: SapError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _encode_operation(request: BatchRequest) -> str:
    body = "" if request.body is None else json.dumps(to_wire(request.body), ensure_ascii=False)
    headers = {"Accept": "application/json", **request.headers}
    if request.body is not None:
        headers.setdefault("Content-Type", "application/json")
        headers["Content-Length"] = str(len(body.encode("utf-8")))
    lines = [
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"{request.method.upper()} {request.path} HTTP/1.1",
        *(f"{k}: {v}" for k, v in headers.items()),
        "",  # the blank line ends the headers even without a body: SAP answers 400 without it
        body,
    ]
    return CRLF.join(lines)


def encode_batch(parts: Sequence[BatchPart], *, boundary: str | None = None) -> tuple[bytes, str]:
    """The body and Content-Type of a $batch request; writes must sit inside a changeset."""
    boundary = boundary or f"batch_{uuid.uuid4()}"
    chunks: list[str] = []
    for part in parts:
        chunks.append(f"--{boundary}")
        if isinstance(part, BatchRequest):
            if part.method.upper() != "GET":
                raise ValueError(f"{part.method} {part.path} must be inside a changeset")
            chunks.append(_encode_operation(part))
            continue
        if not part:
            raise ValueError("an empty changeset")
        inner = f"changeset_{uuid.uuid4()}"
        chunks.append(f"Content-Type: multipart/mixed; boundary={inner}{CRLF}")
        for operation in part:
            chunks.append(f"--{inner}")
            chunks.append(_encode_operation(operation))
        chunks.append(f"--{inner}--")
    chunks.append(f"--{boundary}--")
    return (CRLF.join(chunks) + CRLF).encode("utf-8"), f"multipart/mixed; boundary={boundary}"


def _boundary_of(content_type: str) -> str:
    match = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type, re.I)
    if match is None:
        raise ValueError(f"no multipart boundary in {content_type!r}")
    return match.group(1) or match.group(2)


def _split_head(block: bytes) -> tuple[list[bytes], bytes]:
    """Header lines and the rest, split at the first blank line (CRLF or bare LF)."""
    match = re.search(rb"\r?\n\r?\n", block)
    if match is None:
        return block.splitlines(), b""
    return block[: match.start()].splitlines(), block[match.end() :]


def _headers(lines: list[bytes]) -> CaseInsensitiveDict[str]:
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for line in lines:
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    return headers


def _multipart_parts(body: bytes, boundary: str) -> list[bytes]:
    # A delimiter is "--boundary" at the start of a line; the line break before it belongs to it.
    delimiter = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?:\r?\n|$)")
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start : match.start()])
        if match.group(1):  # the closing delimiter: the epilogue is ignored
            return parts
        start = match.end()
    if start is not None:
        raise ValueError("multipart body without its closing delimiter")
    return parts


def _decode_http(block: bytes) -> BatchResponse:
    lines, rest = _split_head(block)
    if not lines:
        raise ValueError("an empty HTTP part")
    status_line = lines[0].decode("latin-1").strip()
    match = re.match(r"HTTP/\d\.\d\s+(\d{3})\s*(.*)$", status_line)
    if match is None:
        raise ValueError(f"not an HTTP status line: {status_line!r}")
    # The boundary delimits the body; Content-Length is not trusted (hand-edited or re-encoded parts).
    return BatchResponse(int(match.group(1)), match.group(2), _headers(lines[1:]), rest.rstrip(b"\r\n"))


def decode_batch(body: bytes, content_type: str) -> list[BatchResponse | list[BatchResponse]]:
    """The parts of a $batch response in order: a read's response, or the list of a changeset's
    responses. A changeset that failed is answered by one plain error part (not a list)."""
    answers: list[BatchResponse | list[BatchResponse]] = []
    for part in _multipart_parts(body, _boundary_of(content_type)):
        lines, rest = _split_head(part)
        headers = _headers(lines)
        part_type = headers.get("Content-Type", "")
        if part_type.lower().startswith("multipart/mixed"):
            answers.append([_decode_http(_split_head(p)[1]) for p in _multipart_parts(rest, _boundary_of(part_type))])
        else:
            answers.append(_decode_http(rest))
    return answers


def changeset_results(
    parts: Sequence[BatchPart], answers: Sequence[BatchResponse | list[BatchResponse]]
) -> list[BatchResponse | ChangesetResult]:
    """Pairs each request part with its answer; a changeset answered by a single error part failed as
    a whole (nothing of it committed). A part without an answer is a transient, maybe-applied error."""
    results: list[BatchResponse | ChangesetResult] = []
    for index, part in enumerate(parts):
        answer = answers[index] if index < len(answers) else None
        if isinstance(part, BatchRequest):
            if isinstance(answer, BatchResponse):
                results.append(answer)
                continue
            raise PermanentError(SYSTEM, f"$batch part {index + 1} (a read) was not answered by one response")
        if answer is None:
            missing = SapTransientError(f"$batch changeset {index + 1} was not answered", maybe_applied=True)
            results.append(ChangesetResult(error=missing))
        elif isinstance(answer, BatchResponse):
            # SAP's rule: any failure in a changeset → one error response for all of it.
            ok = answer.ok and len(part) == 1
            results.append(ChangesetResult(responses=(answer,)) if ok else ChangesetResult(error=answer.error()))
        else:
            failed = next((r for r in answer if not r.ok), None)
            if failed is not None:
                results.append(ChangesetResult(error=failed.error()))
            elif len(answer) != len(part):
                lost = SapTransientError(
                    f"$batch changeset {index + 1}: {len(answer)} responses for {len(part)} operations",
                    maybe_applied=True,
                )
                results.append(ChangesetResult(error=lost))
            else:
                results.append(ChangesetResult(responses=tuple(answer)))
    return results
