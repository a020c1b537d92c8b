"""Get Records paging for Zoho CRM v8: sorting, ``If-Modified-Since``, ``page`` and ``page_token``.

Pure logic over a list of records, so the limits (2,000 records by ``page``, 100,000 by token) can be
tested without loading that many records into a server.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sandbox.zoho_schema import ZohoError, parse_zoho_time, zoho_time

MAX_PER_PAGE = 200
DISCRETE_LIMIT = 2_000
TOKEN_LIMIT = 100_000
TOKEN_LIFETIME = timedelta(hours=24)
SORT_FIELDS = ("id", "Created_Time", "Modified_Time")


@dataclass(frozen=True)
class Cursor:
    """What a page token stands for: the query it continues and where the next page starts."""

    module: str
    sort_by: str
    sort_order: str
    modified_since: datetime | None
    offset: int
    expires: datetime


@dataclass(frozen=True)
class PageRequest:
    module: str
    per_page: int = MAX_PER_PAGE
    page: int | None = None
    page_token: str | None = None
    sort_by: str = "id"
    sort_order: str = "desc"
    modified_since: datetime | None = None


class PageTokens:
    """Issued page tokens. Opaque to clients (like Zoho's); derived from a counter so runs repeat."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._count = 0
        self._cursors: dict[str, Cursor] = {}

    def issue(self, cursor: Cursor) -> str:
        self._count += 1
        token = hashlib.sha256(f"{self._seed}:page-token:{self._count}".encode()).hexdigest()
        self._cursors[token] = cursor
        return token

    def resolve(self, token: str, module: str, now: datetime) -> Cursor:
        cursor = self._cursors.get(token)
        if cursor is None or cursor.module != module:
            raise ZohoError(
                400, "INVALID_DATA", "the page_token given seems to be invalid", {"param_name": "page_token"}
            )
        if now >= cursor.expires:
            raise ZohoError(400, "INVALID_DATA", "the page_token has expired", {"param_name": "page_token"})
        return cursor


def _sort_key(sort_by: str) -> Any:
    if sort_by == "id":
        return lambda r: (int(r["id"]),)
    return lambda r: (parse_zoho_time(r[sort_by]), int(r["id"]))


def select_page(
    records: list[dict[str, Any]], request: PageRequest, tokens: PageTokens, now: datetime
) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """The page of ``records`` the request asks for, the ``info`` block, and how many records matched
    before paging (0 with a ``modified_since`` means "304 Not Modified")."""
    if request.page is not None and request.page_token is not None:
        raise ZohoError(
            400,
            "AMBIGUITY_DURING_PROCESSING",
            "page and page_token cannot be given together",
            {"ambiguity_due_to": ["page", "page_token"]},
        )
    per_page = request.per_page
    if request.page_token is not None:
        cursor = tokens.resolve(request.page_token, request.module, now)
        sort_by, sort_order, since, offset = cursor.sort_by, cursor.sort_order, cursor.modified_since, cursor.offset
        if offset + per_page > TOKEN_LIMIT:
            raise ZohoError(
                400,
                "PAGINATION_LIMIT_EXCEEDED",
                "You can only get upto 100000 records using page_token param",
                {"limit": TOKEN_LIMIT},
            )
    else:
        page = request.page or 1
        if page * per_page > DISCRETE_LIMIT:
            raise ZohoError(
                400,
                "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                "You can only get upto 2000 records without using page_token param",
                {"limit": DISCRETE_LIMIT},
            )
        sort_by, sort_order, since = request.sort_by, request.sort_order, request.modified_since
        offset = (page - 1) * per_page

    matching = records
    if since is not None:
        # Inclusive, as the API filters (crm_report.md §1.2): a record modified exactly then is returned.
        matching = [r for r in records if parse_zoho_time(r["Modified_Time"]) >= since]
    matching = sorted(matching, key=_sort_key(sort_by), reverse=sort_order == "desc")
    chunk = matching[offset : offset + per_page]
    more = offset + len(chunk) < len(matching)
    expires = now + TOKEN_LIFETIME

    def token_at(position: int) -> str:
        return tokens.issue(Cursor(request.module, sort_by, sort_order, since, position, expires))

    info = {
        "per_page": per_page,
        "count": len(chunk),
        "page": offset // per_page + 1,
        "sort_by": sort_by,
        "sort_order": sort_order,
        "more_records": more,
        "next_page_token": token_at(offset + len(chunk)) if more else None,
        "previous_page_token": token_at(max(offset - per_page, 0)) if offset > 0 else None,
        "page_token_expiry": zoho_time(expires) if more else None,
    }
    return chunk, info, len(matching)
