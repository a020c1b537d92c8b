"""The two ways the CRMs page a list, each declared once and shared by every resource that pages so.

A paginator only decides *which page comes next*; the client makes the call. ``fetch`` is the
client's single call for one page, given where to read from. The resources of each vendor name
their paginator (``connectors.base.Resource.paginator``), so a CRM adapter declares key, cursor and
paging of a resource in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.http import PermanentError


@dataclass(frozen=True)
class PageThenToken:
    """Numbered pages while they reach, then an opaque token (Zoho CRM v8 ``page`` / ``page_token``).

    ``page`` reaches only the first ``page_limit`` records; past them the server's
    ``next_page_token`` leads on. Never both in one call.
    """

    max_page_size: int
    page_limit: int

    def pages(
        self,
        fetch: Callable[[dict[str, Any]], tuple[list[dict[str, Any]], Mapping[str, Any]]],
        *,
        page_size: int,
        system: str,
        what: str,
    ) -> Iterator[list[dict[str, Any]]]:
        """``fetch(position)`` → (records, info with ``more_records`` / ``next_page_token``); an empty
        list ends the listing (Zoho answers 204/304 for nothing)."""
        page, token = 1, None
        while True:
            records, info = fetch({"page_token": token} if token else {"page": page})
            if records:
                yield records
            if not info.get("more_records") or not records:
                return
            if token is None and (page + 1) * page_size <= self.page_limit:
                page += 1
                continue
            token = info.get("next_page_token")
            if not token:
                raise PermanentError(
                    system, f"{what}: more records past {page * page_size} but no next_page_token", code="NO_PAGE_TOKEN"
                )


@dataclass(frozen=True)
class OffsetThenKeyset:
    """Offset pages up to ``max_offset``, then keyset pages on the primary key (Fxiaoke ``offset`` ≤
    10,000, then ``_id GT <last>`` from offset 0). Both phases sort by the key, so the switch
    neither skips nor repeats a record."""

    max_page_size: int
    max_offset: int

    def pages(
        self,
        fetch: Callable[[int, Any], list[dict[str, Any]]],
        *,
        key: str,
        page_size: int,
        system: str,
        what: str,
    ) -> Iterator[list[dict[str, Any]]]:
        """``fetch(offset, after)``: a page from ``offset`` (``after`` None), or the page of keys
        greater than ``after`` (offset 0)."""
        offset, after = 0, None
        while True:
            page = fetch(0 if after is not None else offset, after)
            if page:
                yield page
            if len(page) < page_size:
                return
            if after is None and offset + page_size < self.max_offset:
                offset += page_size
                continue
            after = page[-1].get(key)
            if not after:
                raise PermanentError(system, f"{what}: record without {key}; cannot page on", code="NO_KEY")
