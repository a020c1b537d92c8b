"""Helpers of the receiver tests: a real uvicorn server on 127.0.0.1 (``devtools.servers.serving``) and
pushes signed as a WMS signs them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests

from connectors.qimen import format_timestamp, sign
from devtools.servers import serving  # noqa: F401 - the receiver tests take it from here

# The report's test vector (reference/logistics_report.md §1.4): the receiver is configured with it.
SECRET = "testsecret123"
APP_KEY = "12345678"
CUSTOMER_ID = "TESTCUST01"


def signed_query(
    body: str | bytes,
    *,
    method: str = "taobao.qimen.stockout.confirm",
    timestamp: str | None = None,
    secret: str = SECRET,
    extra: dict[str, str] | None = None,
) -> str:
    """The query string a WMS sends with ``body``: system parameters signed with ``secret``."""
    params = {
        "method": method,
        "timestamp": timestamp or format_timestamp(datetime.now(UTC)),
        "format": "xml",
        "app_key": APP_KEY,
        "v": "2.0",
        "sign_method": "md5",
        "customerId": CUSTOMER_ID,
        **(extra or {}),
    }
    params["sign"] = sign(params, body, secret)
    return urlencode(params)


class Wms:
    """Pushes to the receiver as a WMS does; returns (HTTP status, content type, parsed answer)."""

    def __init__(self, base_url: str) -> None:
        self.url = f"{base_url}/qimen"
        self.http = requests.Session()

    def push(
        self, body: str | bytes, *, query: str | None = None, content_type: str = "text/xml;charset=utf-8", **kw: Any
    ):
        from connectors.qimen_xml import parse_response

        data = body.encode("utf-8") if isinstance(body, str) else body
        q = query if query is not None else signed_query(data, **kw)
        response = self.http.post(f"{self.url}?{q}", data=data, headers={"Content-Type": content_type}, timeout=30)
        return response.status_code, response.headers.get("content-type"), parse_response(response.content)
