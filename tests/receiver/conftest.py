"""Fixtures of the receiver tests (helpers in receiver_support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from receiver_support import Wms, serving


@pytest.fixture
def receiver_at() -> Callable[..., Any]:
    """``receiver_at(app)``: a context manager serving ``app`` and yielding a :class:`Wms` for it."""

    @contextmanager
    def start(app: Any) -> Iterator[Wms]:
        with serving(app) as base_url:
            wms = Wms(base_url)
            wms.base_url = base_url  # type: ignore[attr-defined]
            yield wms

    return start
