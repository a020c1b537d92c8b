"""Qimen (奇门) WMS emulator: the 3PL warehouse behind ``POST /qimen/router/qimen/service``.

Follows logistics_report.md. Every call: system params in the query string, the XML document as
the raw body, checked in this order, the first failure answered:

1. ``method``, ``timestamp``, ``format``, ``app_key``, ``v``, ``sign``, ``sign_method``, ``customerId``
   present and each given once → else ``missing-parameter`` / ``invalid-parameter``;
2. ``app_key`` known → ``invalid-app-key``; ``sign_method=md5`` → ``invalid-sign-method``;
3. the sign per §1.3/§1.5 (all query params except ``sign``, empty ones kept) → ``sign-check-failure``
   / ``Illegal request``;
4. ``timestamp`` GMT+8 and not older than 10 minutes (one-sided, as ``checkTimestamp``) →
   ``invalid-timestamp``; ``format=xml`` → ``invalid-format``; ``v`` 1.0/2.0/3.0 → ``invalid-version``;
   ``customerId`` bound to the app_key → ``invalid-customer-id``;
5. a method this WMS serves (with or without the ``taobao.qimen.`` prefix) → ``invalid-method``;
6. the body a ``<request>`` document → ``invalid-xml``; then the method's own checks
   (``missing-field`` / ``invalid-field`` naming the field, ``warehouse-not-found``, ``owner-not-found``,
   ``item-not-found``, ``order-exists`` 单据已存在, ``order-canceled``, ``order-not-found``,
   ``order-shipped``).

The answer is always HTTP 200 ``text/xml;charset=utf-8`` ``<response><flag/><code/><message/>…``
(``code`` 0 on success), whatever the input. Codes are the emulator's own (the report found no
official table); gateway faults answer as the TOP gateway Qimen runs on: throttling, quota and
concurrency ``failure`` code 7 "App Call Limited" (HTTP 200), a server error code 15 "Remote
service error" with the configured 5xx status.

Methods: ``stockout.create``, ``order.cancel``, ``stockout.query``, ``orderprocess.query``,
``inventory.query``. The warehouse (:mod:`sandbox.qimen_warehouse`) works on the sandbox clock; the
pushes (:mod:`sandbox.qimen_push`) go to the receiver URL set through the control API. Its counts and
their seeded drift are :mod:`sandbox.qimen_counts`; plant 2010's count sheets :mod:`sandbox.count_sheets`.

Control routes of the counts (under ``/_sandbox/qimen_wms``): ``GET|POST /counts`` (list; count now:
``{"warehouse", "items"?, "adjustType"?}``), ``GET|POST /counts/schedule`` (``{"enabled": bool}``),
``GET /drift`` (the seed's drift with the expected differences), ``GET /stock`` (``?warehouse=&item=``,
the WMS's stock rows), ``POST /count_sheets`` (``{"folder", "day": "YYYY-MM-DD"}``: writes plant 2010's
sheets there).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.count_sheets import sheet_drift, write_count_sheets
from sandbox.faults import FaultConfig, FaultKind
from sandbox.qimen_counts import ADJUST_TYPES, CountBook
from sandbox.qimen_orders import read_cancel, read_inventory_query, read_order_ref, read_stockout_create
from sandbox.qimen_push import Credentials, Pusher
from sandbox.qimen_warehouse import OWNER_CODE, Warehouse
from sandbox.qimen_xml import QimenError, XmlError, document, gmt8, parse_gmt8, parse_request, qimen_sign
from sandbox.system import EmulatedSystem, SandboxContext
from sandbox.waybills import waybill_book

log = logging.getLogger("sandbox.qimen")

SERVICE_PATH = "/router/qimen/service"
SYSTEM_PARAMS = ("method", "timestamp", "format", "app_key", "v", "sign", "sign_method", "customerId")
VERSIONS = ("1.0", "2.0", "3.0")
TIMESTAMP_WINDOW = timedelta(minutes=10)
PREFIX = "taobao.qimen."
MEDIA_TYPE = "text/xml;charset=utf-8"


def _xml(fields: dict[str, Any], status: int = 200) -> Response:
    return Response(document("response", fields), status_code=status, media_type=MEDIA_TYPE)


def _success(**fields: Any) -> dict[str, Any]:
    return {"flag": "success", "code": "0", "message": "success", **fields}


class QimenWms(EmulatedSystem):
    name = "qimen_wms"
    prefix = "/qimen"

    def __init__(self, ctx: SandboxContext) -> None:
        super().__init__(ctx)
        digest = hashlib.sha256(f"{ctx.seed}:qimen:credentials".encode()).hexdigest()
        self.credentials = Credentials(
            app_key=str(20_000_000 + int(digest[:8], 16) % 9_000_000),
            secret=digest[8:40],
            customer_id=f"PARTSHUB-WMS-{digest[40:44].upper()}",
        )
        # app_key → (secret, customerIds bound to it); the control API can add more (the report's test vector).
        self.apps: dict[str, tuple[str, set[str]]] = {
            self.credentials.app_key: (self.credentials.secret, {self.credentials.customer_id})
        }
        self.warehouse = Warehouse(ctx, waybill_book(ctx))
        self.counts = CountBook(ctx, self.warehouse)
        self.pusher = Pusher(ctx, self.name, self.warehouse, self.credentials)
        self._methods = {
            "stockout.create": self._stockout_create,
            "order.cancel": self._order_cancel,
            "stockout.query": self._stockout_query,
            "orderprocess.query": self._orderprocess_query,
            "inventory.query": self._inventory_query,
        }

    # -- framework hooks --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route(SERVICE_PATH, self._service, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]

    def not_found(self, path: str) -> Response:
        return _xml(QimenError("invalid-url", f"no Qimen service at {path[:200]}").fields(), 404)

    def connection_info(self, base_url: str) -> dict[str, Any]:
        return {
            "url": f"{base_url}{self.prefix}{SERVICE_PATH}",
            "app_key": self.credentials.app_key,
            "secret": self.credentials.secret,
            "customer_id": self.credentials.customer_id,
            "owner_code": OWNER_CODE,
            "warehouses": {p.code: p.warehouse for p in self.ctx.data.plants if p.warehouse},
        }

    def fault_response(self, kind: FaultKind, config: FaultConfig, path: str) -> Response:
        if kind == "server_error":
            return _xml(QimenError("15", "Remote service error").fields(), config.status_5xx)
        return _xml(QimenError("7", "App Call Limited").fields())

    def get_record(self, module: str, record_id: str) -> dict[str, Any] | None:
        order = self.warehouse.orders.get(record_id) if module == "orders" else None
        return self.warehouse.order_json(order, self.ctx.clock.now()) if order is not None else None

    # -- the router ---------------------------------------------------------------------------------

    async def _service(self, request: Request) -> Response:
        self.pusher.ensure_running()
        body = await request.body()
        now = self.ctx.clock.now()
        try:
            if request.method != "POST":
                raise QimenError("invalid-http-method", "the Qimen router takes POST")
            method = self._authenticate(request.scope.get("query_string", b""), body, now)
            try:
                doc = parse_request(body)
            except XmlError as exc:
                raise QimenError("invalid-xml", str(exc)) from None
            self.warehouse.advance(now)
            return _xml(self._methods[method](doc, now))
        except QimenError as exc:
            return _xml(exc.fields())
        except Exception:  # the emulator's own bug: still the vendor's envelope, and a log line to find it
            log.exception("qimen_wms failed on a request")
            return _xml(QimenError("isp.unknown-error", "unexpected error in the WMS emulator").fields())

    def _authenticate(self, query: bytes, body: bytes, now: datetime) -> str:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace")
        params: dict[str, str] = {}
        for key, value in pairs:
            if key in params:
                raise QimenError("invalid-parameter", f"parameter {key[:50]!r} appears more than once")
            params[key] = value
        for key in SYSTEM_PARAMS:
            if not params.get(key):
                raise QimenError("missing-parameter", f"missing required parameter: {key}")
        app = self.apps.get(params["app_key"])
        if app is None:
            raise QimenError("invalid-app-key", f"Invalid app_key: {params['app_key'][:50]!r}")
        secret, customers = app
        if params["sign_method"] != "md5":
            raise QimenError("invalid-sign-method", "sign_method must be md5")
        if qimen_sign(pairs, body, secret) != params["sign"]:
            raise QimenError("sign-check-failure", "Illegal request")
        try:
            stamp = parse_gmt8(params["timestamp"])
        except (ValueError, OverflowError):
            raise QimenError("invalid-timestamp", "timestamp must be yyyy-MM-dd HH:mm:ss (GMT+8)") from None
        if now - stamp > TIMESTAMP_WINDOW:
            raise QimenError(
                "invalid-timestamp", f"timestamp {params['timestamp']} is older than 10 minutes (now {gmt8(now)} GMT+8)"
            )
        if params["format"] != "xml":
            raise QimenError("invalid-format", "format must be xml")
        if params["v"] not in VERSIONS:
            raise QimenError("invalid-version", f"v must be one of {', '.join(VERSIONS)}")
        if params["customerId"] not in customers:
            raise QimenError(
                "invalid-customer-id", f"customerId {params['customerId'][:50]!r} is not bound to this app"
            )
        method = params["method"].removeprefix(PREFIX)
        if method not in self._methods:
            raise QimenError("invalid-method", f"method not served by this WMS: {params['method'][:80]!r}")
        return method

    # -- methods ------------------------------------------------------------------------------------

    def _stockout_create(self, doc: dict[str, Any], now: datetime) -> dict[str, Any]:
        new = read_stockout_create(doc)
        before = len(self.warehouse.orders[new.code].lines) if new.code in self.warehouse.orders else None
        order = self.warehouse.create(new, now)
        if before != len(order.lines):
            self.ctx.writes.add(
                self.name,
                {
                    "method": "stockout.create",
                    "deliveryOrderCode": order.code,
                    "lines": len(order.lines) - (before or 0),
                },
            )
        return _success(createTime=gmt8(order.created), deliveryOrderId=order.wms_id)

    def _order_cancel(self, doc: dict[str, Any], now: datetime) -> dict[str, Any]:
        warehouse, code = read_cancel(doc)
        self.warehouse.cancel(warehouse, code, now)
        self.ctx.writes.add(self.name, {"method": "order.cancel", "orderCode": code})
        return _success()

    def _stockout_query(self, doc: dict[str, Any], now: datetime) -> dict[str, Any]:
        order = self.warehouse.find(*read_order_ref(doc, "deliveryOrderCode"))
        return _success(**self.warehouse.stockout_view(order, now))

    def _orderprocess_query(self, doc: dict[str, Any], now: datetime) -> dict[str, Any]:
        order = self.warehouse.find(*read_order_ref(doc, "orderCode"))
        return _success(**self.warehouse.process_view(order, now))

    def _inventory_query(self, doc: dict[str, Any], now: datetime) -> dict[str, Any]:
        return _success(**self.warehouse.inventory(read_inventory_query(doc)))

    # -- control API (/_sandbox/qimen_wms/...) --------------------------------------------------------

    def control_routes(self) -> list[Route]:
        return [
            Route("/receiver", self._receiver, methods=["GET", "POST"]),
            Route("/push", self._push, methods=["POST"]),
            Route("/orders", self._orders, methods=["GET"]),
            Route("/faults", self._push_faults, methods=["GET", "POST", "DELETE"]),
            Route("/credentials", self._add_credentials, methods=["POST"]),
            Route("/counts", self._counts, methods=["GET", "POST"]),
            Route("/counts/schedule", self._count_schedule, methods=["GET", "POST"]),
            Route("/drift", self._drift, methods=["GET"]),
            Route("/stock", self._stock, methods=["GET"]),
            Route("/count_sheets", self._count_sheets, methods=["POST"]),
        ]

    async def _counts(self, request: Request) -> Response:
        now = self.ctx.clock.now()
        if request.method == "POST":
            body = await _json_object(request)
            if isinstance(body, Response):
                return body
            warehouse, items = body.get("warehouse"), body.get("items")
            adjust_type = body.get("adjustType", "CHECK")
            if set(body) - {"warehouse", "items", "adjustType"}:
                return JSONResponse({"error": "known fields: warehouse, items, adjustType"}, 400)
            if not isinstance(warehouse, str) or not warehouse:
                return JSONResponse({"error": "warehouse is required (WH-SH01, WH-SZ01)"}, 400)
            if items is not None and not (
                isinstance(items, list) and items and all(isinstance(i, str) and 0 < len(i) <= 50 for i in items)
            ):
                return JSONResponse({"error": "items must be a non-empty list of itemCodes"}, 400)
            if adjust_type not in ADJUST_TYPES:
                return JSONResponse({"error": f"adjustType must be one of {', '.join(ADJUST_TYPES)}"}, 400)
            try:
                count = self.counts.count_now(warehouse, sorted(set(items)) if items else None, adjust_type, now)
            except QimenError as exc:
                return JSONResponse({"error": exc.message}, 400)
            return JSONResponse(self.counts.count_json(count))
        self.warehouse.advance(now)
        return JSONResponse(self.counts.state_json())

    async def _count_schedule(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _json_object(request)
            if isinstance(body, Response):
                return body
            if set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
                return JSONResponse({"error": 'the body is {"enabled": true|false}'}, 400)
            now = self.ctx.clock.now()
            self.warehouse.advance(now)
            self.counts.set_schedule(body["enabled"], now)
        return JSONResponse(self.counts.schedule_json())

    async def _drift(self, request: Request) -> Response:
        return JSONResponse({**self.counts.drift_json(), "count_sheets": [d.json() for d in sheet_drift(self.ctx)]})

    async def _stock(self, request: Request) -> Response:
        self.warehouse.advance(self.ctx.clock.now())
        warehouse, item = request.query_params.get("warehouse"), request.query_params.get("item")
        rows = [
            {
                "warehouseCode": key[0],
                "itemCode": key[1],
                "inventoryType": key[2],
                "batchCode": key[3],
                "quantity": unfrozen,
                "lockQuantity": frozen,
            }
            for key, unfrozen, frozen in self.warehouse.stock.rows()
            if (not warehouse or key[0] == warehouse) and (not item or key[1] == item)
        ]
        return JSONResponse({"stock": rows})

    async def _count_sheets(self, request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        folder, day = body.get("folder"), body.get("day")
        if not isinstance(folder, str) or not folder or not isinstance(day, str):
            return JSONResponse({"error": 'the body is {"folder": "<path>", "day": "YYYY-MM-DD"}'}, 400)
        try:
            on = date.fromisoformat(day)
        except ValueError:
            return JSONResponse({"error": f"day is not YYYY-MM-DD: {day[:40]!r}"}, 400)
        try:
            paths = write_count_sheets(self.ctx, Path(folder), on)
        except OSError as exc:
            return JSONResponse({"error": f"cannot write to {folder[:200]!r}: {exc.strerror or exc}"}, 400)
        return JSONResponse({"files": [str(p) for p in paths]})

    async def _receiver(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _json_object(request)
            if isinstance(body, Response):
                return body
            url = body.get("url")
            try:
                if url is not None and not isinstance(url, str):
                    raise ValueError("url must be a string or null")
                self.pusher.set_receiver(url)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            self.pusher.ensure_running()
        return JSONResponse({"url": self.pusher.url})

    async def _push(self, request: Request) -> Response:
        if not self.pusher.url:
            return JSONResponse({"error": "no receiver URL set: POST /_sandbox/qimen_wms/receiver first"}, 409)
        results = await self.pusher.push_due()
        return JSONResponse({"receiver": self.pusher.url, "now": gmt8(self.ctx.clock.now()), "pushes": results})

    async def _orders(self, request: Request) -> Response:
        now = self.ctx.clock.now()
        self.warehouse.advance(now)
        return JSONResponse({"orders": [self.warehouse.order_json(o, now) for o in self.warehouse.orders.values()]})

    async def _push_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.pusher.bad_sign, self.warehouse.late_minutes = 0, 0.0
        elif request.method == "POST":
            body = await _json_object(request)
            if isinstance(body, Response):
                return body
            bad, late = (
                body.get("bad_sign", self.pusher.bad_sign),
                body.get("late_minutes", self.warehouse.late_minutes),
            )
            if set(body) - {"bad_sign", "late_minutes"}:
                return JSONResponse({"error": "known push faults: bad_sign (next N pushes), late_minutes"}, 400)
            if not isinstance(bad, int) or isinstance(bad, bool) or bad < 0:
                return JSONResponse({"error": "bad_sign must be a non-negative integer"}, 400)
            if not isinstance(late, int | float) or isinstance(late, bool) or not 0 <= late <= 100_000:
                return JSONResponse({"error": "late_minutes must be a number from 0 to 100000"}, 400)
            self.pusher.bad_sign, self.warehouse.late_minutes = bad, float(late)
        return JSONResponse({"bad_sign": self.pusher.bad_sign, "late_minutes": self.warehouse.late_minutes})

    async def _add_credentials(self, request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        values = [body.get(k) for k in ("app_key", "secret", "customer_id")]
        if not all(isinstance(v, str) and v for v in values):
            return JSONResponse({"error": "app_key, secret and customer_id are required strings"}, 400)
        app_key, secret, customer = values
        known = self.apps.get(app_key)
        if known is not None and known[0] != secret:
            return JSONResponse({"error": f"app_key {app_key} is known with another secret"}, 409)
        self.apps.setdefault(app_key, (secret, set()))[1].add(customer)
        return JSONResponse({"app_keys": sorted(self.apps)})


async def _json_object(request: Request) -> dict[str, Any] | Response:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        return JSONResponse({"error": f"body is not JSON: {exc}"}, status_code=400)
    if not isinstance(body, dict):
        return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
    return body
