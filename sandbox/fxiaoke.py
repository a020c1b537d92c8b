"""Fxiaoke (纷享销客) OpenAPI emulator under ``/fxiaoke``.

Every answer is HTTP 200 with the ``errorCode`` envelope (crm_report.md §2.8); only gateway faults
(5xx, and 429 when ``throttle_as_http`` is set) use other statuses. Throttling faults otherwise come
back as errorCode 30004 (per second) and an exhausted quota as 30002.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.clock import iso_z
from sandbox.faults import FaultConfig, FaultKind
from sandbox.fxiaoke_auth import FxiaokeAuth
from sandbox.fxiaoke_query import run_query
from sandbox.fxiaoke_records import FxiaokeStore, price_line, total_order
from sandbox.fxiaoke_schema import (
    CREATABLE,
    LOOKUPS,
    OBJECTS,
    OK_BODY,
    REQUIRED_ON_CREATE,
    SYSTEM_MANAGED,
    FxiaokeError,
    encode,
    known,
    param_error,
)
from sandbox.seed_data import FXIAOKE
from sandbox.system import EmulatedSystem, RecordError, SandboxContext, record_edit

TOKEN_PATHS = ("/cgi/corpAccessToken/get/V2", "/oauth2.0/token")
LINES = "SalesOrderProductObj"


class _Json(JSONResponse):
    """JSON as the gateway sends it; text echoed from a request may hold unpaired surrogates, which
    become U+FFFD rather than failing the answer."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def _exact(exc: FxiaokeError) -> dict[str, Any]:
    """The deep-paging error exactly as documented (crm_report.md §2.4): three keys, no traceId."""
    return {"errorDescription": exc.description, "errorMessage": exc.message, "errorCode": exc.code}


class Fxiaoke(EmulatedSystem):
    name = FXIAOKE
    prefix = "/fxiaoke"

    def __init__(self, ctx: SandboxContext) -> None:
        super().__init__(ctx)
        self.auth = FxiaokeAuth(ctx.seed, ctx.clock)
        self.store = FxiaokeStore(ctx.data)
        self._trace = 0

    # -- framework hooks --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/cgi/corpAccessToken/get/V2", self._legacy_token, methods=["POST"]),
            Route("/oauth2.0/token", self._oauth_token, methods=["POST"]),
            Route("/cgi/crm/v2/data/query", self._query, methods=["POST"]),
            Route("/cgi/crm/v2/data/get", self._get, methods=["POST"]),
            Route("/cgi/crm/v2/data/update", self._update, methods=["POST"]),
            Route("/cgi/crm/v2/data/create", self._create, methods=["POST"]),
        ]

    def not_found(self, path: str) -> Response:
        return PlainTextResponse("404 Not Found", status_code=404)

    def connection_info(self, base_url: str) -> dict[str, Any]:
        return {
            "base_url": f"{base_url}{self.prefix}",
            "app_id": self.auth.app_id,
            "app_secret": self.auth.app_secret,
            "permanent_code": self.auth.permanent_code,
            "current_open_user_id": self.auth.open_user_id,
            "operator_user_id": "1000",
        }

    def is_api_path(self, path: str) -> bool:
        return path not in TOKEN_PATHS

    def fault_response(self, kind: FaultKind, config: FaultConfig, path: str) -> Response:
        headers = {"Retry-After": str(config.retry_after)} if config.retry_after is not None else None
        if kind == "server_error":
            code = config.status_5xx
            return HTMLResponse(f"<html><body><h1>{code} Server Error</h1></body></html>", status_code=code)
        if kind == "quota":
            body = {"errorCode": 30002, "errorMessage": "当天访问频次超限", "errorDescription": "daily quota exceeded"}
            return self._envelope(body, headers=headers)
        if config.throttle_as_http:
            return PlainTextResponse("Too Many Requests", status_code=429, headers=headers)
        body = {"errorCode": 30004, "errorMessage": "秒频次超限", "errorDescription": "calls per second exceeded"}
        return self._envelope(body, headers=headers)

    def expire_tokens(self) -> int:
        return self.auth.expire_all()

    def get_record(self, module: str, record_id: str) -> dict[str, Any] | None:
        record = self.store.get(module, record_id)
        if record is None:
            return None
        result = copy.deepcopy(record)
        if module == "SalesOrderObj":
            result["details"] = {LINES: copy.deepcopy(self.store.lines_of(record_id))}
        return result

    def put_record(self, body: dict[str, Any]) -> dict[str, Any]:
        """Control API: ``{"module", "id"?, "fields": {...}, "touch": true, "delete": false}``.

        Fields are stored as given (tests plant bad data this way); ``touch`` moves
        ``last_modified_time`` to the sandbox clock and bumps ``version``.
        """
        records, fields, record_id, deleted = record_edit(body, self.store.objects)
        if deleted is not None:
            return deleted
        module = body["module"]
        now = self.ctx.clock.now()
        if record_id is None:
            record_id = self.store.runtime_ids.next(now)
            records[record_id] = self.store.system_fields(record_id, record_id, "1000", now, now)
        record = records.get(record_id)
        if record is None:
            raise RecordError(f"no {module} record {record_id}")
        for key, value in fields.items():
            if value is None:
                record.pop(key, None)
            else:
                record[key] = copy.deepcopy(value)
        if body.get("touch", True) and "last_modified_time" not in fields:
            record["last_modified_time"] = self.ctx.clock.now_ms()
            record["version"] = str(int(record.get("version", "1")) + 1)
        return {"record": copy.deepcopy(record)}

    # -- plumbing ---------------------------------------------------------------------------------

    def _trace_id(self, request: Request | None = None, user: str = "-1000") -> str:
        third = request.query_params.get("thirdTraceId") if request is not None else None
        self._trace += 1
        return f"E-O.{self.auth.ea}.{user}-{third or uuid.UUID(int=self._trace).hex[-16:]}"

    def _envelope(
        self, body: dict[str, Any], request: Request | None = None, user: str = "-1000", headers: Any = None
    ) -> JSONResponse:
        return _Json({"traceId": self._trace_id(request, user), **body}, headers=headers)

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested beyond reason
            raise param_error("request body is not JSON") from None
        if not isinstance(body, dict):
            raise param_error("request body must be a JSON object")
        return body

    # -- token endpoints --------------------------------------------------------------------------

    async def _legacy_token(self, request: Request) -> Response:
        try:
            body = await self._body(request)
        except FxiaokeError as exc:
            return self._envelope(exc.body(), request)
        return self._envelope(self.auth.legacy_grant(body, self.faults.token_rate_limit), request)

    async def _oauth_token(self, request: Request) -> Response:
        try:
            body = await self._body(request)
        except FxiaokeError as exc:
            return self._envelope(exc.body(), request)
        return self._envelope(self.auth.oauth_grant(body, self.faults.token_rate_limit), request)

    # -- data endpoints ---------------------------------------------------------------------------

    async def _query(self, request: Request) -> Response:
        user = "-1000"
        try:
            body = await self._body(request)
            user = self.auth.authenticate(request.headers, body).user_id
            data = body.get("data")
            if not isinstance(data, dict):
                raise param_error("data 为必填项")
            object_name = data.get("dataObjectApiName")
            if not known(object_name, OBJECTS):
                raise param_error(f"dataObjectApiName {object_name!r} is illegal")
            with_total = data.get("find_explicit_total_num", True) is not False
            result = run_query(
                object_name,
                list(self.store.objects[object_name].values()),
                data.get("search_query_info"),
                with_total=with_total,
                include_null=body.get("includeNull") is True,
            )
        except FxiaokeError as exc:
            if exc.code == 10013:
                return _Json(_exact(exc))
            return self._envelope(exc.body(), request, user)
        page = {"dataList": result.rows, "offset": result.offset, "limit": result.limit, "total": result.total}
        return self._envelope({"data": page, **OK_BODY}, request, user)

    async def _get(self, request: Request) -> Response:
        user = "-1000"
        try:
            body = await self._body(request)
            user = self.auth.authenticate(request.headers, body).user_id
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            object_name, record_id = data.get("dataObjectApiName"), data.get("objectDataId")
            if not known(object_name, OBJECTS):
                raise param_error(f"dataObjectApiName {object_name!r} is illegal")
            record = self.store.get(object_name, str(record_id or ""))
            if record is None:
                raise param_error("数据不存在或已作废 (no such record)")
        except FxiaokeError as exc:
            return self._envelope(exc.body(), request, user)
        return self._envelope({"data": copy.deepcopy(record), **OK_BODY}, request, user)

    async def _update(self, request: Request) -> Response:
        user = "-1000"
        try:
            body = await self._body(request)
            user = self.auth.authenticate(request.headers, body).user_id
            data = body.get("data")
            if not isinstance(data, dict) or not isinstance(data.get("object_data"), dict):
                raise param_error("data.object_data 为必填项")
            changes = dict(data["object_data"])
            object_name = changes.pop("dataObjectApiName", None)
            if not known(object_name, OBJECTS):
                raise param_error(f"object_data.dataObjectApiName {object_name!r} is illegal")
            record_id = str(changes.pop("_id", "") or "")
            if not record_id:
                raise param_error("object_data._id 为必填项")
            record = self.store.get(object_name, record_id)
            if record is None:
                raise param_error("数据不存在或已作废 (no such record)")
            details = data.get("details") or {}
            staged = self._stage(object_name, record, changes)
            staged_lines = self._stage_details(object_name, record_id, details)
            now_ms = self.ctx.clock.now_ms()
            new_record, new_lines = self._apply(record, staged, staged_lines, user, now_ms)
        except FxiaokeError as exc:
            return self._envelope(exc.body(), request, user)
        # Every part is valid and computed: only now does the tenant's data change, all at once.
        for line, new_line in new_lines:
            line.clear()
            line.update(new_line)
        record.clear()
        record.update(new_record)
        workflow = body.get("triggerWorkFlow", True) is not False
        self.ctx.writes.add(
            self.name,
            {
                "at": iso_z(self.ctx.clock.now()),
                "object": object_name,
                "id": record_id,
                "fields": changes,
                "details": details or None,
                "triggerWorkFlow": workflow,
                "triggerApprovalFlow": body.get("triggerApprovalFlow", True) is not False,
                "auth_style": "bearer" if request.headers.get("authorization") else "legacy",
            },
        )
        return self._envelope(dict(OK_BODY), request, user)

    async def _create(self, request: Request) -> Response:
        """Create one record (docs/crm_reminders.md §2): ``dataObjectApiName`` inside ``object_data``;
        the answer carries the new ``dataId``. Every field is checked before anything is stored."""
        user = "-1000"
        try:
            body = await self._body(request)
            user = self.auth.authenticate(request.headers, body).user_id
            data = body.get("data")
            if not isinstance(data, dict) or not isinstance(data.get("object_data"), dict):
                raise param_error("data.object_data 为必填项")
            values = dict(data["object_data"])
            object_name = values.pop("dataObjectApiName", None)
            values.pop("object_describe_api_name", None)
            if not known(object_name, OBJECTS):
                raise param_error(f"object_data.dataObjectApiName {object_name!r} is illegal")
            if object_name not in CREATABLE:
                raise param_error(f"this sandbox creates {', '.join(sorted(CREATABLE))} records only")
            if data.get("details"):
                raise param_error(f"{object_name} 没有从对象 (no details)")
            record = self._new_record(object_name, values, user)
        except FxiaokeError as exc:
            return self._envelope(exc.body(), request, user)
        self.store.objects[object_name][record["_id"]] = record
        self.ctx.writes.add(
            self.name,
            {
                "at": iso_z(self.ctx.clock.now()),
                "object": object_name,
                "action": "create",
                "id": record["_id"],
                "fields": values,
                "triggerWorkFlow": body.get("triggerWorkFlow", True) is not False,
                "triggerApprovalFlow": body.get("triggerApprovalFlow", True) is not False,
                "auth_style": "bearer" if request.headers.get("authorization") else "legacy",
            },
        )
        return self._envelope({"dataId": record["_id"], **OK_BODY}, request, user)

    def _new_record(self, object_name: str, values: dict[str, Any], user: str) -> dict[str, Any]:
        staged: dict[str, Any] = {}
        for name, value in values.items():
            if name in SYSTEM_MANAGED or name in ("life_status", "lock_status"):
                raise param_error(f"字段 {name} 不允许修改")
            encoded, error = encode(object_name, name, value)
            if error:
                raise param_error(error)
            staged[name] = encoded
        for name in REQUIRED_ON_CREATE.get(object_name, ()):
            if staged.get(name) in (None, "", []):
                raise param_error(f"{name} 为必填项 (required)")
        now = self.ctx.clock.now()
        operator = user if user.isdigit() else "1000"
        owner = staged.pop("owner", None) or [operator]
        record_id = self.store.runtime_ids.next(now)
        content = str(staged.get("active_record_content") or record_id)
        record = self.store.system_fields(record_id, content[:100], owner[0], now, now)
        record["created_by"] = record["last_modified_by"] = [operator]
        for name, value in staged.items():
            if value is None:
                continue
            record[name] = value
            target = LOOKUPS.get((object_name, name))
            if target is not None:
                referenced = self.store.get(target, value)
                if referenced is None or referenced.get("is_deleted") is True:
                    raise param_error(f"{name} 关联的 {target} 数据 {value} 不存在或已作废")
                record[name + "__r"] = referenced.get("name")
                related = {"describe_api_name": target, "id": value, "name": referenced.get("name")}
                record.setdefault("related_object_data", []).append(related)
        return record

    def _stage(self, object_name: str, record: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        """Validated, encoded changes; nothing is applied until every part of the call is valid."""
        if record.get("lock_status") == "1":
            raise param_error("数据已锁定，不能编辑 (record is locked)")
        if "owner" in changes:
            raise param_error("owner 不能通过 update 修改，请使用 changeOwner")
        staged = {}
        for name, value in changes.items():
            if name in SYSTEM_MANAGED:
                raise param_error(f"字段 {name} 不允许修改")
            encoded, error = encode(object_name, name, value)
            if error:
                raise param_error(error)
            staged[name] = encoded
            target = LOOKUPS.get((object_name, name))
            if target is not None:
                staged[name + "__r"] = self._lookup_name(object_name, record, name, target, encoded)
        return staged

    def _lookup_name(
        self, object_name: str, record: dict[str, Any], name: str, target: str, value: str | None
    ) -> str | None:
        """The display name a lookup's ``__r`` companion gets; the target must exist."""
        if object_name == LINES and name == "order_id":
            if value != record.get("order_id"):
                raise param_error("明细的 order_id 不能修改 (a line cannot move to another order)")
            return record.get("order_id__r")
        if value is None:
            return None
        referenced = self.store.get(target, value)
        if referenced is None or referenced.get("is_deleted") is True:
            raise param_error(f"{name} 关联的 {target} 数据 {value} 不存在或已作废")
        return referenced.get("name")

    def _apply(
        self,
        record: dict[str, Any],
        staged: dict[str, Any],
        staged_lines: list[tuple[dict[str, Any], dict[str, Any]]],
        user: str,
        now_ms: int,
    ) -> tuple[dict[str, Any], list[tuple[dict[str, Any], dict[str, Any]]]]:
        """The record and lines as they will be, computed on copies; an amount that cannot be
        computed refuses the whole call."""
        new_record = copy.deepcopy(record)
        new_lines = []
        try:
            for line, line_changes in staged_lines:
                new_line = copy.deepcopy(line)
                self._commit(new_line, line_changes, user, now_ms)
                price_line(new_line)
                new_lines.append((line, new_line))
            if staged_lines:
                replaced = {id(line): new_line for line, new_line in new_lines}
                lines = [replaced.get(id(line), line) for line in self.store.lines_of(record["_id"])]
                total_order(new_record, lines)
            self._commit(new_record, staged, user, now_ms)
        except (ArithmeticError, ValueError) as exc:  # decimal.InvalidOperation is an ArithmeticError
            raise param_error(f"金额计算超出范围 (amounts out of range: {type(exc).__name__})") from None
        return new_record, new_lines

    def _stage_details(
        self, object_name: str, order_id: str, details: Any
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        if not details:
            return []
        if object_name != "SalesOrderObj" or not isinstance(details, dict) or set(details) - {LINES}:
            raise param_error("details 只支持 SalesOrderProductObj")
        rows = details.get(LINES)
        if not isinstance(rows, list):
            raise param_error("details.SalesOrderProductObj must be a list")
        staged = []
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("_id"), str) or not row["_id"]:
                raise param_error("details rows need their _id (this sandbox updates existing lines only)")
            line = self.store.get(LINES, row["_id"])
            if line is None or line.get("order_id") != order_id:
                raise param_error(f"明细 {row['_id']} 不属于该订单")
            changes = {k: v for k, v in row.items() if k not in ("_id", "dataObjectApiName")}
            staged.append((line, self._stage(LINES, line, changes)))
        return staged

    def _commit(self, record: dict[str, Any], changes: dict[str, Any], user: str, now_ms: int) -> None:
        for name, value in changes.items():
            if value is None:
                record.pop(name, None)
            else:
                record[name] = value
        record["last_modified_time"] = now_ms
        record["last_modified_by"] = [user]
        record["version"] = str(int(record.get("version", "1")) + 1)
