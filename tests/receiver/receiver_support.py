"""Helpers of the receiver tests: a real uvicorn server on 127.0.0.1 and pushes signed as a WMS signs them."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests
import uvicorn

from connectors.qimen import format_timestamp, sign

# The report's test vector (reference/logistics_report.md §1.4): the receiver is configured with it.
SECRET = "testsecret123"
APP_KEY = "12345678"
CUSTOMER_ID = "TESTCUST01"


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port, in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", access_log=False, log_config=None, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the receiver did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


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
