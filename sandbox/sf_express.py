"""SF Express (顺丰 丰桥) emulator: the route query ``EXP_RECE_SEARCH_ROUTES`` at ``POST /sf/std/service``.

After logistics_report.md §4. The form fields ``partnerID``, ``requestID``, ``serviceCode``,
``timestamp`` (epoch ms), ``msgDigest`` = Base64(MD5(URLEncode_UTF8(msgData + timestamp +
checkWord))) with Java ``URLEncoder`` rules, and ``msgData`` (JSON). The answer is always HTTP 200
JSON ``{"apiResultCode", "apiErrorMsg", "apiResponseID", "apiResultData"}``; on success
``apiResultData`` is a JSON *string* holding ``{"success", "errorCode", "errorMsg", "msgData":
{"routeResps": [{"mailNo", "routes": [...]}]}}``.

The routes are those of the SF waybills the Qimen WMS emulator handed over (the sandbox's shared
:class:`~sandbox.waybills.WaybillBook`), scanned on the sandbox clock (:mod:`sandbox.sf_routes`). A
waybill SF does not know comes back with no routes. ``trackingType`` 2 looks up by the customer
order number, i.e. the deliveryOrderCode. ``checkPhoneNo`` is not checked (the partner's own waybills).

Platform errors (``apiResultData`` null), checked in this order; the codes are SF's A1xxx family, the
exact choice per case is the emulator's [verify]: A1001 a required field missing (必传参数不可为空),
A1004 unknown partnerID or serviceCode (无对应服务权限), A1006 msgDigest wrong (数字签名无效), A1002
timestamp not epoch ms (请求时效已过期). The reference documents no freshness window for SF's
timestamp, so none is enforced: the demo and the tests move the sandbox clock days ahead of the
hub's, which a window would turn into refusals SF is not known to give. Business errors
(A1000, ``success`` false): ``1010`` msgData not a JSON object or a field of the wrong type, ``8013``
no tracking number (未传入查询单号), at most 10 numbers per query. Gateway faults: throttling, quota
and concurrency A1005 流量受控 (HTTP 200); a server error A1099 系统异常 with the configured 5xx status.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qsl, quote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.faults import FaultConfig, FaultKind
from sandbox.sf_routes import routes
from sandbox.system import EmulatedSystem, SandboxContext
from sandbox.waybills import waybill_book

SERVICE_PATH = "/std/service"
ROUTE_SERVICE = "EXP_RECE_SEARCH_ROUTES"
REQUIRED = ("partnerID", "requestID", "serviceCode", "timestamp", "msgDigest", "msgData")
MAX_NUMBERS = 10
_NUMBER = re.compile(r"[A-Za-z0-9-]{1,40}")


def java_url_encode(text: str) -> str:
    """``java.net.URLEncoder.encode(text, "UTF-8")``: space → +, ``.-*_`` and alphanumerics kept, ``~`` → %7E."""
    return quote_plus(text, safe="*", encoding="utf-8", errors="replace").replace("~", "%7E")


def msg_digest(msg_data: str, timestamp: str, check_word: str) -> str:
    raw = java_url_encode(msg_data + timestamp + check_word).encode("ascii")
    return base64.b64encode(hashlib.md5(raw, usedforsecurity=False).digest()).decode("ascii")


class SfError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SfExpress(EmulatedSystem):
    name = "sf_express"
    prefix = "/sf"

    def __init__(self, ctx: SandboxContext) -> None:
        super().__init__(ctx)
        digest = hashlib.sha256(f"{ctx.seed}:sf:credentials".encode()).hexdigest()
        self.partner_id = f"PH{int(digest[:8], 16) % 10**8:08d}"
        self.check_word = digest[8:40]
        self.partners = {self.partner_id: self.check_word}
        self.book = waybill_book(ctx)
        self._responses = 0

    def routes(self) -> list[BaseRoute]:
        return [Route(SERVICE_PATH, self._service, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]

    def connection_info(self, base_url: str) -> dict[str, Any]:
        return {
            "url": f"{base_url}{self.prefix}{SERVICE_PATH}",
            "partner_id": self.partner_id,
            "check_word": self.check_word,
        }

    def fault_response(self, kind: FaultKind, config: FaultConfig, path: str) -> Response:
        if kind == "server_error":
            return self._answer("A1099", "系统异常", None, config.status_5xx)
        return self._answer("A1005", "流量受控", None)

    def _answer(self, code: str, error: str, data: dict[str, Any] | None, status: int = 200) -> Response:
        self._responses += 1
        response_id = hashlib.sha256(f"{self.ctx.seed}:sf:response:{self._responses}".encode()).hexdigest()[:32]
        payload = {
            "apiResultCode": code,
            "apiErrorMsg": error,
            "apiResponseID": response_id.upper(),
            "apiResultData": None if data is None else json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        }
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8", "replace")
        return Response(body, status_code=status, media_type="application/json;charset=UTF-8")

    async def _service(self, request: Request) -> Response:
        body = await request.body()
        try:
            form = self._form(body if request.method == "POST" else request.scope.get("query_string", b""))
            self._check(form)
            data = self._query(form["msgData"])
        except SfError as exc:
            return self._answer(exc.code, exc.message, None)
        return self._answer("A1000", "", data)

    @staticmethod
    def _form(raw: bytes) -> dict[str, str]:
        form: dict[str, str] = {}
        for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace"):
            form.setdefault(key, value)
        return form

    def _check(self, form: dict[str, str]) -> None:
        for key in REQUIRED:
            if not form.get(key):
                raise SfError("A1001", f"必传参数不可为空: {key}")
        check_word = self.partners.get(form["partnerID"])
        if check_word is None:
            raise SfError("A1004", "无对应服务权限: unknown partnerID")
        if form["serviceCode"] != ROUTE_SERVICE:
            raise SfError("A1004", f"无对应服务权限: serviceCode {form['serviceCode'][:60]}")
        if msg_digest(form["msgData"], form["timestamp"], check_word) != form["msgDigest"]:
            raise SfError("A1006", "数字签名无效")
        stamp = form["timestamp"]
        if not re.fullmatch(r"[0-9]{1,15}", stamp):
            raise SfError("A1002", "请求时效已过期: timestamp must be epoch milliseconds")

    def _query(self, raw: str) -> dict[str, Any]:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return _failure("1010", "msgData 不是合法的 JSON")
        if not isinstance(data, dict):
            return _failure("1010", "msgData 必须是 JSON 对象")
        tracking_type = str(data.get("trackingType", "1"))
        numbers = data.get("trackingNumber")
        if isinstance(numbers, str):
            numbers = [n.strip() for n in numbers.split(",") if n.strip()]
        if tracking_type not in ("1", "2") or (numbers is not None and not isinstance(numbers, list)):
            return _failure("1010", "trackingType 须为 1 或 2, trackingNumber 须为数组")
        if not numbers:
            return _failure("8013", "未传入查询单号")
        if len(numbers) > MAX_NUMBERS or not all(isinstance(n, str) and _NUMBER.fullmatch(n) for n in numbers):
            return _failure("1010", f"trackingNumber: 1 到 {MAX_NUMBERS} 个单号, 字母数字")
        now = self.ctx.clock.now()
        responses = []
        for number in numbers:
            if tracking_type == "2":
                waybills = [w for w in self.book.of_order(number) if w.carrier == "SF"]
                responses += [{"mailNo": w.number, "routes": routes(w, self.ctx.seed, now)} for w in waybills]
            else:
                waybill = self.book.get(number)
                known = waybill is not None and waybill.carrier == "SF"
                responses.append({"mailNo": number, "routes": routes(waybill, self.ctx.seed, now) if known else []})
        return {"success": True, "errorCode": "S0000", "errorMsg": None, "msgData": {"routeResps": responses}}

    # -- control API (/_sandbox/sf_express/...) --------------------------------------------------------

    def control_routes(self) -> list[Route]:
        return [Route("/credentials", self._add_credentials, methods=["POST"])]

    async def _add_credentials(self, request: Request) -> Response:
        """Another known partner, e.g. the report's test vector's check word."""
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            return JSONResponse({"error": f"body is not JSON: {exc}"}, status_code=400)
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) and body[k] for k in ("partner_id", "check_word")
        ):
            return JSONResponse({"error": "partner_id and check_word are required strings"}, status_code=400)
        self.partners[body["partner_id"]] = body["check_word"]
        return JSONResponse({"partners": sorted(self.partners)})


def _failure(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "errorCode": code, "errorMsg": message, "msgData": None}
