"""What the Qimen WMS and SF Express tests share: a signing Qimen client, request builders, a tiny
push receiver (stdlib HTTP server in a thread) and an SF client.

The sign and the SF digest are written here from logistics_report.md §1.3 and §4, independently of
the emulator's code, so the tests check the emulator against the report, not against itself.

Imported by the test modules of this folder (pytest puts the folder on ``sys.path``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode

import requests

GMT8 = timezone(timedelta(hours=8))
OWNER = "PARTSHUB"


def sign(params: Iterable[tuple[str, str]], body: bytes, secret: str) -> str:
    """§1.3: sorted k+v of every param but sign, then the body, the secret at both ends, MD5, upper hex."""
    joined = "".join(k + v for k, v in sorted(params) if k != "sign")
    return (
        hashlib.md5(secret.encode() + joined.encode() + body + secret.encode(), usedforsecurity=False)
        .hexdigest()
        .upper()
    )


def sf_digest(msg_data: str, timestamp: str, check_word: str) -> str:
    """§4: Base64(MD5(URLEncode_UTF8(msgData + timestamp + checkWord))), Java URLEncoder rules."""
    encoded = quote_plus(msg_data + timestamp + check_word, safe="*").replace("~", "%7E")
    return base64.b64encode(hashlib.md5(encoded.encode(), usedforsecurity=False).digest()).decode()


def gmt8(moment: datetime) -> str:
    return moment.astimezone(GMT8).strftime("%Y-%m-%d %H:%M:%S")


def xml_dict(text: str | bytes) -> dict[str, Any]:
    """A flat-ish reading of a response/confirm: leaves by tag; repeated containers as lists of dicts."""

    def convert(element: ET.Element) -> Any:
        children = list(element)
        if not children:
            return element.text or ""
        out: dict[str, Any] = {}
        for child in children:
            value = convert(child)
            if child.tag in ("orderLines", "packages", "items", "processes", "criteriaList"):
                value = [convert(c) for c in child]
            out[child.tag] = value
        return out

    return convert(ET.fromstring(text))  # noqa: S314 - the emulator's own output


class Sandbox:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.control = info["control_url"]
        self.qimen = info["systems"]["qimen_wms"]
        self.sf = info["systems"]["sf_express"]

    def now(self) -> datetime:
        text = requests.get(self.control + "/clock", timeout=10).json()["now"]
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    def clock(self, **body: Any) -> datetime:
        r = requests.post(self.control + "/clock", json=body, timeout=10)
        r.raise_for_status()
        return datetime.fromisoformat(r.json()["now"].replace("Z", "+00:00"))

    def advance(self, hours: float) -> datetime:
        return self.clock(advance_seconds=hours * 3600)

    def control_post(self, path: str, body: Any) -> dict[str, Any]:
        r = requests.post(self.control + path, json=body, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()

    def orders(self) -> dict[str, dict[str, Any]]:
        orders = requests.get(self.control + "/qimen_wms/orders", timeout=10).json()["orders"]
        return {o["deliveryOrderCode"]: o for o in orders}

    def push(self) -> list[dict[str, Any]]:
        return self.control_post("/qimen_wms/push", {})["pushes"]

    # -- Qimen --------------------------------------------------------------------------------------

    def params(self, method: str, **overrides: str | None) -> dict[str, str]:
        params = {
            "method": method if "." in method and method.startswith("taobao") else f"taobao.qimen.{method}",
            "timestamp": gmt8(self.now()),
            "format": "xml",
            "app_key": self.qimen["app_key"],
            "v": "2.0",
            "sign_method": "md5",
            "customerId": self.qimen["customer_id"],
        }
        params.update(overrides)  # type: ignore[arg-type]
        return {k: v for k, v in params.items() if v is not None}

    def post_raw(self, query: str, body: bytes) -> requests.Response:
        return requests.post(
            f"{self.qimen['url']}?{query}", data=body, headers={"Content-Type": "text/xml;charset=utf-8"}, timeout=30
        )

    def call(
        self, method: str, body: bytes | str, *, secret: str | None = None, **overrides: str | None
    ) -> dict[str, Any]:
        raw = body.encode() if isinstance(body, str) else body
        params = self.params(method, **overrides)
        params["sign"] = sign(params.items(), raw, secret or self.qimen["secret"])
        r = self.post_raw(urlencode(params), raw)
        return assert_envelope(r)

    def create(self, code: str, lines: list[tuple[str, str, int]], **kwargs: Any) -> dict[str, Any]:
        return self.call("stockout.create", create_body(code, lines, **kwargs))

    # -- SF -----------------------------------------------------------------------------------------

    def sf_form(self, msg_data: str, **overrides: str | None) -> dict[str, str]:
        stamp = str(int(self.now().timestamp() * 1000))
        form = {
            "partnerID": self.sf["partner_id"],
            "requestID": "3f1c2a7e-0000-4000-8000-000000000001",
            "serviceCode": "EXP_RECE_SEARCH_ROUTES",
            "timestamp": stamp,
            "msgData": msg_data,
        }
        form["msgDigest"] = sf_digest(msg_data, stamp, self.sf["check_word"])
        form.update(overrides)  # type: ignore[arg-type]
        return {k: v for k, v in form.items() if v is not None}

    def sf_post(self, form: dict[str, str] | bytes) -> dict[str, Any]:
        r = requests.post(
            self.sf["url"],
            data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
            timeout=30,
        )
        assert r.status_code == 200, (r.status_code, r.text[:300])
        body = r.json()
        assert isinstance(body["apiResultCode"], str) and isinstance(body["apiErrorMsg"], str)
        assert body["apiResultData"] is None or isinstance(body["apiResultData"], str)
        return body

    def routes(self, numbers: list[str], tracking_type: str = "1") -> dict[str, list[dict[str, str]]]:
        msg = {"language": "0", "trackingType": tracking_type, "trackingNumber": numbers, "methodType": "1"}
        body = self.sf_post(self.sf_form(json.dumps(msg, separators=(",", ":"))))
        assert body["apiResultCode"] == "A1000", body
        data = json.loads(body["apiResultData"])  # the second parse §4 describes
        assert data["success"] is True and data["errorCode"] == "S0000", data
        return {r["mailNo"]: r["routes"] for r in data["msgData"]["routeResps"]}


def assert_envelope(r: requests.Response) -> dict[str, Any]:
    """HTTP 200, text/xml, <response> with flag success|failure, a code and a message."""
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/xml"), r.headers["content-type"]
    assert "Traceback" not in r.text
    body = xml_dict(r.content)
    assert body["flag"] in ("success", "failure"), body
    assert isinstance(body["code"], str) and body["code"], body
    assert isinstance(body["message"], str), body
    assert body["code"] != "isp.unknown-error", body
    return body


def line_xml(n: str, item: str, qty: int | str, *, tag: str = "orderLine", extra: str = "") -> str:
    return (
        f"<{tag}><orderLineNo>{n}</orderLineNo><ownerCode>{OWNER}</ownerCode><itemCode>{item}</itemCode>"
        f"<itemName>备件</itemName><inventoryType>ZP</inventoryType><planQty>{qty}</planQty>{extra}</{tag}>"
    )


def create_body(
    code: str,
    lines: list[tuple[str, str, int]],
    *,
    warehouse: str = "WH-SH01",
    total: int | None = None,
    header_extra: str = "",
    city: str = "苏州市",
) -> str:
    total_xml = f"<totalOrderLines>{total}</totalOrderLines>" if total is not None else ""
    receiver = (
        "<receiverInfo><company>华东汽修有限公司</company><name>张工</name><mobile>13800001234</mobile>"
        f"<province>江苏省</province><city>{city}</city><detailAddress>星湖街100号</detailAddress></receiverInfo>"
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><request><deliveryOrder>'
        f"{total_xml}<deliveryOrderCode>{code}</deliveryOrderCode><orderType>B2BCK</orderType>"
        f"<warehouseCode>{warehouse}</warehouseCode><createTime>2026-11-30 08:00:00</createTime>"
        f"{header_extra}{receiver}</deliveryOrder><orderLines>"
        + "".join(line_xml(n, item, qty) for n, item, qty in lines)
        + "</orderLines></request>"
    )


class Receiver:
    """The hub's side of the pushes, minimal: verifies the sign, answers success, or failure when told.

    ``fail_next[order code] = N`` answers the next N pushes of that order with flag failure.
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self.fail_next: dict[str, int] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                query = self.path.partition("?")[2]
                answer = receiver.take(query, body)
                payload = (
                    '<?xml version="1.0" encoding="utf-8"?><response>'
                    f"<flag>{answer[0]}</flag><code>{answer[1]}</code><message>{answer[2]}</message></response>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml;charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/qimen"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take(self, query: str, body: bytes) -> tuple[str, str, str]:
        pairs = parse_qsl(query, keep_blank_values=True)
        params = dict(pairs)
        doc = xml_dict(body)
        good = params.get("sign") == sign(pairs, body, self.secret)
        code = doc["deliveryOrder"]["deliveryOrderCode"]
        with self.lock:
            failing = self.fail_next.get(code, 0)
            if good and failing:
                self.fail_next[code] = failing - 1
            self.received.append({"params": params, "body": body, "doc": doc, "sign_ok": good, "failed": failing > 0})
        if not good:
            return ("failure", "sign-check-failure", "Illegal request")
        if failing:
            return ("failure", "busy", "try again")
        return ("success", "0", "success")

    def of(self, code: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.received if r["doc"]["deliveryOrder"]["deliveryOrderCode"] == code]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
