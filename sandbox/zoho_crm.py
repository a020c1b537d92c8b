"""Zoho CRM v8 emulator: the accounts server under ``/zoho/accounts`` and the API under ``/zoho/api``.

Behaviour follows crm_report.md §1 and the §3 checklist; the wire details live in
:mod:`sandbox.zoho_auth` (tokens), :mod:`sandbox.zoho_paging` (Get Records),
:mod:`sandbox.zoho_writes` (Update Records) and :mod:`sandbox.zoho_schema` (fields, errors).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.clock import parse_instant
from sandbox.faults import FaultConfig, FaultKind
from sandbox.seed_data import ZOHO
from sandbox.system import EmulatedSystem, RecordError, SandboxContext, record_edit
from sandbox.zoho_auth import ZohoAuth
from sandbox.zoho_inserts import RecordInserter
from sandbox.zoho_meta import FIELD_TYPES, field_meta, modules_meta, org_meta, user_meta
from sandbox.zoho_paging import MAX_PER_PAGE, SORT_FIELDS, PageRequest, PageTokens, select_page
from sandbox.zoho_records import ZohoStore, price_line, total_order
from sandbox.zoho_schema import CREATABLE, MODULE_FIELDS, SUBFORMS, ZohoError, zoho_time
from sandbox.zoho_search import MAX_RECORDS as SEARCH_LIMIT
from sandbox.zoho_search import search
from sandbox.zoho_writes import RecordUpdater

MAX_FIELDS = 50
USER_TYPES = (
    "AllUsers",
    "ActiveUsers",
    "DeactiveUsers",
    "ConfirmedUsers",
    "NotConfirmedUsers",
    "DeletedUsers",
    "ActiveConfirmedUsers",
    "AdminUsers",
    "ActiveConfirmedAdmins",
    "CurrentUser",
)
API = "/api/crm/v8"


def _module(request: Request) -> str:
    module = request.path_params["module"]
    if module not in MODULE_FIELDS:
        raise ZohoError(400, "INVALID_MODULE", "the module name given seems to be invalid", {"resource_path_index": 0})
    return module


def _int_param(request: Request, name: str, default: int | None, low: int, high: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": name})
    return value


def _fields(request: Request, module: str, *, required: bool) -> list[str] | None:
    raw = request.query_params.get("fields")
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    if not names:
        if required:
            raise ZohoError(400, "REQUIRED_PARAM_MISSING", "required param is missing", {"param_name": "fields"})
        return None
    if len(names) > MAX_FIELDS:
        raise ZohoError(
            400, "LIMIT_EXCEEDED", "the given fields exceeds the limit", {"limit": MAX_FIELDS, "param_name": "fields"}
        )
    for name in names:
        if name not in MODULE_FIELDS[module]:
            raise ZohoError(
                400,
                "INVALID_DATA",
                "the field api name given seems to be invalid",
                {"api_name": name, "param_name": "fields"},
            )
    return names


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_body(raw: bytes) -> Any:
    """The request body as JSON, or Zoho's 400 for anything that is not JSON: invalid UTF-8, NaN or
    Infinity, nesting beyond the parser, unpaired surrogates (they cannot be stored and sent back)."""
    try:
        body = json.loads(raw.decode("utf-8") or "null", parse_constant=_reject_constant)
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):
        raise ZohoError(400, "INVALID_DATA", "body is not a valid JSON", {}) from None
    return body


def _modified_since(request: Request) -> Any:
    raw = request.headers.get("if-modified-since")
    if not raw:
        return None
    try:
        return parse_instant(raw)
    except (ValueError, OverflowError):
        pass
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"header_name": "If-Modified-Since"}) from None
    # RFC 2822 "-0000" means UTC with no zone information: Python gives a naive value.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _project(record: dict[str, Any], names: list[str], subform: str | None) -> dict[str, Any]:
    out = {"id": record["id"]}
    for name in names:
        if name != subform:
            out[name] = copy.deepcopy(record.get(name))
    return out


class ZohoCrm(EmulatedSystem):
    name = ZOHO
    prefix = "/zoho"

    def __init__(self, ctx: SandboxContext) -> None:
        super().__init__(ctx)
        self.auth = ZohoAuth(ctx.seed, ctx.clock)
        self.store = ZohoStore(ctx.data)
        self.tokens = PageTokens(ctx.seed)
        self.updater = RecordUpdater(self.store)
        self.inserter = RecordInserter(self.store, self.updater)

    # -- framework hooks --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/accounts/oauth/v2/token", self._token, methods=["POST"]),
            Route(API + "/settings/fields", self._fields_meta, methods=["GET"]),
            Route(API + "/settings/modules", self._modules_meta, methods=["GET"]),
            Route(API + "/settings/modules/{module}", self._module_meta, methods=["GET"]),
            Route(API + "/users", self._users, methods=["GET"]),
            Route(API + "/users/{user_id}", self._user, methods=["GET"]),
            Route(API + "/org", self._org, methods=["GET"]),
            Route(API + "/coql", self._not_supported("COQL (POST /coql)"), methods=["POST"]),
            Route(API + "/{module}/search", self._search, methods=["GET"]),
            Route(API + "/{module}/upsert", self._not_supported("Upsert Records"), methods=["POST"]),
            Route(API + "/{module}", self._list, methods=["GET"]),
            Route(API + "/{module}", self._update_many, methods=["PUT"]),
            Route(API + "/{module}/{record_id}", self._get_one, methods=["GET"]),
            Route(API + "/{module}/{record_id}", self._update_one, methods=["PUT"]),
            # Zoho serves these; the emulator refuses them clearly rather than answering 404 or 405.
            Route(API + "/{module}", self._insert, methods=["POST"]),
            Route(API + "/{module}", self._not_supported("Delete Records"), methods=["DELETE"]),
            Route(API + "/{module}/{record_id}", self._not_supported("Delete Records"), methods=["DELETE"]),
            Route(API + "/{rest:path}", self._wrong_method, methods=["PATCH", "OPTIONS", "POST", "DELETE", "PUT"]),
        ]

    def not_found(self, path: str) -> Response:
        return ZohoError(
            404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"
        ).response()

    def connection_info(self, base_url: str) -> dict[str, Any]:
        return {
            "accounts_url": f"{base_url}{self.prefix}/accounts",
            "api_domain": f"{base_url}{self.prefix}/api",
            "client_id": self.auth.client_id,
            "client_secret": self.auth.client_secret,
            "refresh_token": self.auth.refresh_token,
        }

    def is_api_path(self, path: str) -> bool:
        return path.startswith("/api/")

    def fault_response(self, kind: FaultKind, config: FaultConfig, path: str) -> Response:
        if kind == "server_error":
            return ZohoError(config.status_5xx, "INTERNAL_ERROR", "Internal Server Error").response()
        message = {
            "quota": "You have exceeded the API credits allotted for the day",
            "concurrency": "You have exceeded the concurrency limit",
        }.get(kind, "too many requests")
        # Zoho sends no Retry-After; a fault setting may add one to test clients that honour it.
        headers = {"Retry-After": str(config.retry_after)} if config.retry_after is not None else None
        return ZohoError(429, "TOO_MANY_REQUESTS", message).response(headers)

    def expire_tokens(self) -> int:
        return self.auth.expire_all()

    def get_record(self, module: str, record_id: str) -> dict[str, Any] | None:
        record = self.store.get(module, record_id)
        return copy.deepcopy(record) if record is not None else None

    def put_record(self, body: dict[str, Any]) -> dict[str, Any]:
        """Control API: ``{"module", "id"?, "fields": {...}, "touch": true, "delete": false}``.

        Fields are stored as given (no validation: tests plant bad data this way). ``touch`` moves
        ``Modified_Time`` to the sandbox clock; a ``Modified_Time`` in ``fields`` wins over it.
        """
        records, fields, record_id, deleted = record_edit(body, self.store.modules)
        if deleted is not None:
            return deleted
        module = body["module"]
        now = zoho_time(self.ctx.clock.now())
        if record_id is None:
            record_id = self.store.new_id(module)
            admin = {k: self.store.admin[k] for k in ("name", "id", "email")}
            records[record_id] = {
                "id": record_id,
                "Owner": admin,
                "Created_Time": now,
                "Modified_Time": now,
                "Created_By": admin,
                "Modified_By": admin,
                "Tag": [],
                "Locked__s": False,
                "Record_Status__s": "Available",
            }
        record = records.get(record_id)
        if record is None:
            raise RecordError(f"no {module} record {record_id}")
        for key, value in fields.items():
            record[key] = copy.deepcopy(value)
        subform = SUBFORMS.get(module)
        if subform and subform in fields:
            for row in record[subform]:
                row.setdefault("id", self.store.new_id("Ordered_Items"))
                price_line(row)
            total_order(record)
        if body.get("touch", True) and "Modified_Time" not in fields:
            record["Modified_Time"] = now
        return {"record": copy.deepcopy(record)}

    # -- metadata (what the official SDK reads before its first record call) ------------------------

    async def _fields_meta(self, request: Request) -> Response:
        try:
            self.auth.check(request.headers.get("authorization"))
            module = request.query_params.get("module")
            if not module:
                raise ZohoError(400, "REQUIRED_PARAM_MISSING", "required param is missing", {"param_name": "module"})
            if module not in FIELD_TYPES:
                raise ZohoError(
                    400, "INVALID_MODULE", "the module name given seems to be invalid", {"param_name": "module"}
                )
        except ZohoError as exc:
            return exc.response()
        return JSONResponse({"fields": field_meta(module)})

    async def _modules_meta(self, request: Request) -> Response:
        try:
            self.auth.check(request.headers.get("authorization"))
        except ZohoError as exc:
            return exc.response()
        return JSONResponse({"modules": modules_meta(self.store.admin, self.store.now)})

    async def _module_meta(self, request: Request) -> Response:
        try:
            self.auth.check(request.headers.get("authorization"))
            module = _module(request)
        except ZohoError as exc:
            return exc.response()
        found = [m for m in modules_meta(self.store.admin, self.store.now) if m["api_name"] == module]
        return JSONResponse({"modules": found})

    def _user_list(self) -> list[dict[str, Any]]:
        created = self.store.now
        return [user_meta(self.store.admin, admin=True, created=created)] + [
            user_meta(u, admin=False, created=created) for u in self.store.users
        ]

    async def _users(self, request: Request) -> Response:
        try:
            self.auth.check(request.headers.get("authorization"))
            kind = request.query_params.get("type", "AllUsers")
            if kind not in USER_TYPES:
                raise ZohoError(
                    400, "INVALID_DATA", "invalid data", {"param_name": "type", "supported_values": list(USER_TYPES)}
                )
            per_page = _int_param(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE) or MAX_PER_PAGE
            page = _int_param(request, "page", 1, 1, 10_000) or 1
        except ZohoError as exc:
            return exc.response()
        users = self._user_list()
        if kind in ("CurrentUser", "AdminUsers"):
            users = users[:1]
        chunk = users[(page - 1) * per_page : page * per_page]
        if not chunk:
            return Response(status_code=204)
        info = {"per_page": per_page, "count": len(chunk), "page": page, "more_records": page * per_page < len(users)}
        return JSONResponse({"users": chunk, "info": info})

    async def _user(self, request: Request) -> Response:
        try:
            self.auth.check(request.headers.get("authorization"))
        except ZohoError as exc:
            return exc.response()
        found = [u for u in self._user_list() if u["id"] == request.path_params["user_id"]]
        if not found:
            return Response(status_code=204)
        return JSONResponse({"users": found})

    async def _org(self, request: Request) -> Response:
        try:
            self.auth.check(request.headers.get("authorization"))
        except ZohoError as exc:
            return exc.response()
        return JSONResponse({"org": [org_meta(self.store.admin, self.store.now)]})

    async def _wrong_method(self, request: Request) -> Response:
        return ZohoError(
            400, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one", {}
        ).response()

    def _not_supported(self, what: str) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                self.auth.check(request.headers.get("authorization"))
                if "module" in request.path_params:
                    _module(request)
            except ZohoError as exc:
                return exc.response()
            return ZohoError(
                400,
                "NOT_SUPPORTED",
                f"{what} is not supported in this emulator",
                {"api": what, "see": "sandbox/README.md, Zoho CRM: not emulated"},
            ).response()

        return endpoint

    # -- endpoints --------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        params = dict(request.query_params)
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        try:
            if body and content_type.startswith("application/x-www-form-urlencoded"):
                params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            elif body and content_type.startswith("multipart/form-data"):
                form = await request.form()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        except Exception:  # noqa: BLE001 - any unreadable form is the same refusal
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        api_domain = f"{request.url.scheme}://{request.url.netloc}{self.prefix}/api"
        status, payload = self.auth.grant(params, api_domain, self.faults.token_rate_limit)
        return JSONResponse(payload, status_code=status)

    async def _list(self, request: Request) -> Response:
        try:
            self.auth.check(request.headers.get("authorization"))
            module = _module(request)
            names = _fields(request, module, required=True)
            assert names is not None
            page_request = self._page_request(request, module)
            records = list(self.store.modules[module].values())
            ids = request.query_params.get("ids")
            if ids:
                wanted = {i.strip() for i in ids.split(",") if i.strip()}
                if len(wanted) > 100:
                    raise ZohoError(400, "LIMIT_EXCEEDED", "too many ids", {"limit": 100, "param_name": "ids"})
                records = [r for r in records if r["id"] in wanted]
            chunk, info, matched = select_page(records, page_request, self.tokens, self.ctx.clock.now())
        except ZohoError as exc:
            return exc.response()
        if not chunk:
            if page_request.modified_since is not None and matched == 0:
                return Response(status_code=304)
            return Response(status_code=204)
        subform = SUBFORMS.get(module)
        data = [_project(r, names, subform) for r in chunk]
        return JSONResponse({"data": data, "info": info})

    def _page_request(self, request: Request, module: str) -> PageRequest:
        sort_by = request.query_params.get("sort_by", "id")
        sort_order = request.query_params.get("sort_order", "desc")
        if sort_by not in SORT_FIELDS:
            raise ZohoError(
                400, "INVALID_DATA", "invalid data", {"param_name": "sort_by", "supported_values": list(SORT_FIELDS)}
            )
        if sort_order not in ("asc", "desc"):
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": "sort_order"})
        token = request.query_params.get("page_token")
        if token is not None and (not token or len(token) > 96):
            raise ZohoError(
                400, "INVALID_DATA", "the page_token given seems to be invalid", {"param_name": "page_token"}
            )
        return PageRequest(
            module=module,
            per_page=_int_param(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE) or MAX_PER_PAGE,
            page=_int_param(request, "page", None, 1, None),
            page_token=token,
            sort_by=sort_by,
            sort_order=sort_order,
            modified_since=_modified_since(request),
        )

    async def _get_one(self, request: Request) -> Response:
        try:
            self.auth.check(request.headers.get("authorization"))
            module = _module(request)
            names = _fields(request, module, required=False)
        except ZohoError as exc:
            return exc.response()
        record = self.store.get(module, request.path_params["record_id"])
        if record is None:
            return Response(status_code=204)
        if names is None:
            body = copy.deepcopy(record)
        else:
            body = _project(record, names, None)
        return JSONResponse({"data": [body]})

    async def _insert(self, request: Request) -> Response:
        """Insert Records for the modules the emulator lets clients create in; the others are
        refused clearly, as before."""
        try:
            self.auth.check(request.headers.get("authorization"))
            module = _module(request)
            if module not in CREATABLE:
                return await self._not_supported("Insert Records")(request)
            body = _json_body(await request.body())
            if not isinstance(body, dict):
                raise ZohoError(400, "INVALID_DATA", "body is not a valid JSON", {})
            items = body.get("data")
            now = self.ctx.clock.now()
            status, results = self.inserter.insert(module, items, now)
        except ZohoError as exc:
            return exc.response()
        for item, result in zip(items, results, strict=True):
            self.ctx.writes.add(
                self.name,
                {
                    "at": zoho_time(now),
                    "module": module,
                    "action": "insert",
                    "id": result["details"].get("id") if result["status"] == "success" else None,
                    "fields": item,
                    "trigger": body.get("trigger"),
                    "result": result["code"],
                },
            )
        return JSONResponse({"data": results}, status_code=status)

    async def _search(self, request: Request) -> Response:
        """Search Records by ``criteria`` (docs/crm_reminders.md §1.4) in the modules the hub writes."""
        try:
            self.auth.check(request.headers.get("authorization"))
            module = _module(request)
            if module not in CREATABLE:
                return await self._not_supported("Search Records")(request)
            criteria = request.query_params.get("criteria")
            if not criteria:
                other = [p for p in ("email", "phone", "word") if request.query_params.get(p)]
                if other:
                    raise ZohoError(
                        400,
                        "NOT_SUPPORTED",
                        f"search by {other[0]} is not supported in this emulator",
                        {"param": other[0]},
                    )
                raise ZohoError(
                    400,
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    {"param": ["criteria", "email", "phone", "word"]},
                )
            names = _fields(request, module, required=False)
            per_page = _int_param(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE) or MAX_PER_PAGE
            page = _int_param(request, "page", 1, 1, None) or 1
            if page * per_page > SEARCH_LIMIT:
                raise ZohoError(
                    400,
                    "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                    "You can only get upto 2000 records using search",
                    {"limit": SEARCH_LIMIT},
                )
            found = search(list(self.store.modules[module].values()), criteria, MODULE_FIELDS[module])
        except ZohoError as exc:
            return exc.response()
        chunk = found[(page - 1) * per_page : page * per_page]
        if not chunk:
            return Response(status_code=204)
        data = [copy.deepcopy(r) if names is None else _project(r, names, None) for r in chunk]
        info = {"per_page": per_page, "count": len(chunk), "page": page, "more_records": page * per_page < len(found)}
        return JSONResponse({"data": data, "info": info})

    async def _update_many(self, request: Request) -> Response:
        return await self._update(request, None)

    async def _update_one(self, request: Request) -> Response:
        return await self._update(request, request.path_params["record_id"])

    async def _update(self, request: Request, record_id: str | None) -> Response:
        try:
            self.auth.check(request.headers.get("authorization"))
            module = _module(request)
            body = _json_body(await request.body())
            if not isinstance(body, dict):
                raise ZohoError(400, "INVALID_DATA", "body is not a valid JSON", {})
            items = body.get("data")
            if record_id is not None and isinstance(items, list):
                items = [{**item, "id": record_id} if isinstance(item, dict) else item for item in items[:1]]
            now = self.ctx.clock.now()
            status, results = self.updater.update(module, items, now)
        except ZohoError as exc:
            return exc.response()
        for item, result in zip(items, results, strict=True):
            self.ctx.writes.add(
                self.name,
                {
                    "at": zoho_time(now),
                    "module": module,
                    "id": str(item.get("id")) if isinstance(item, dict) else None,
                    "fields": item,
                    "trigger": body.get("trigger"),
                    "result": result["code"],
                },
            )
        return JSONResponse({"data": results}, status_code=status)
