"""SAP S/4HANA (on-premise URL shape) emulator under ``/sap``: eight OData V2 services.

Services under ``/sap/opu/odata/sap/<SERVICE>/`` (sap_contract.md, sap_report.md): API_SALES_ORDER_SRV,
API_MATERIAL_STOCK_SRV, API_PRODUCT_AVAILY_INFO_BASIC, ``API_OUTBOUND_DELIVERY_SRV;v=0002``,
API_BILLING_DOCUMENT_SRV, API_BUSINESS_PARTNER, API_PHYSICAL_INVENTORY_DOC_SRV,
API_PURCHASEREQ_PROCESS_SRV. This module is the
HTTP edge: basic auth (or a static bearer token, or one from the OAuth 2.0 token endpoint of
:mod:`sandbox.sap.oauth`), the ``sap-client`` check, CSRF, the lazy progression of documents on every
request; :mod:`sandbox.sap.handler` does the OData work.

Choices where the reference is silent [verify]: a failed logon answers 401 with
``WWW-Authenticate: Basic realm="SAP NetWeaver Application Server [S4H/100]"`` and an SAP error body
(code /IWFND/CM_CONSUMER/101) rather than the ICF's HTML logon page; an unknown ``sap-client`` is
also a 401; an unknown service is 404 /IWFND/MED/170. Injected 5xx faults answer with the SAP error
body; 429 comes as API Management (Apigee) would send it, ``{"fault": {"faultstring", "detail":
{"errorcode"}}}``, with ``Retry-After`` only when the fault settings give one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.clock import iso_z
from sandbox.faults import FaultConfig, FaultKind
from sandbox.sap.backend import SapBackend
from sandbox.sap.csrf import CsrfSessions, csrf_failed
from sandbox.sap.errors import ErrorFactory, SapError, ServiceInfo
from sandbox.sap.handler import SERVICE_ROOT, ODataHandler, ODataRequest, ODataResponse
from sandbox.sap.oauth import SapOAuth
from sandbox.sap.odata_json import Renderer
from sandbox.sap.services import SERVICES
from sandbox.system import EmulatedSystem, RecordError, SandboxContext

USER = "HUB_COMM_USER"
CLIENT = "100"
SYSTEM_ID = "S4H"
REALM = f'Basic realm="SAP NetWeaver Application Server [{SYSTEM_ID}/{CLIENT}]"'
MODIFYING = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "MERGE", "DELETE"]
TOKEN_PATH = "/bc/sec/oauth2/token"


def _secret(seed: int, label: str, length: int) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(f"{seed}:sap:{label}".encode()).digest()).decode()[:length]


class SapS4(EmulatedSystem):
    name = "sap_s4"
    prefix = "/sap"

    def __init__(self, ctx: SandboxContext) -> None:
        super().__init__(ctx)
        self.password = _secret(ctx.seed, "password", 20)
        self.bearer_token = _secret(ctx.seed, "bearer", 40)
        self.backend = SapBackend(ctx.data, USER)
        self.errors = ErrorFactory(ctx.seed)
        self.csrf = CsrfSessions(ctx.seed)
        self.oauth = SapOAuth(ctx.seed, ctx.clock)
        self.handler = ODataHandler(self.backend, self.errors, ctx.clock.now)
        self.handler.on_write = self._log_write

    # -- framework hooks --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/opu/odata/sap/{rest:path}", self._odata, methods=METHODS),
            Route(TOKEN_PATH, self._token, methods=["POST"]),
        ]

    def is_api_path(self, path: str) -> bool:
        # API faults hit the OData services; the token endpoint stays up, as Zoho's accounts server does.
        return path != TOKEN_PATH

    def not_found(self, path: str) -> Response:
        return self._error(SapError(404, "/IWFND/MED/170", f"No service found for path '{path}'"), None)

    def connection_info(self, base_url: str) -> dict[str, Any]:
        return {
            "base_url": base_url,
            "service_root": f"{base_url}{SERVICE_ROOT}",
            "user": USER,
            "password": self.password,
            "client": CLIENT,
            "bearer_token": self.bearer_token,
            "oauth_token_url": f"{base_url}{self.prefix}{TOKEN_PATH}",
            "oauth_client_id": self.oauth.client_id,
            "oauth_client_secret": self.oauth.client_secret,
        }

    def fault_response(self, kind: FaultKind, config: FaultConfig, path: str) -> Response:
        if kind == "server_error":
            status = config.status_5xx
            message = (
                "Service temporarily unavailable; the system is overloaded or in maintenance"
                if status == 503
                else "An exception was raised in the backend system; try again later"
            )
            return self._error(SapError(status, "/IWBEP/CM_MGW_RT/000", message), None)
        headers = {"Retry-After": str(config.retry_after)} if config.retry_after is not None else None
        if kind == "concurrency":
            fault = {
                "faultstring": (
                    "Spike arrest violation. Allowed rate : "
                    "MessageRate{messagesPerPeriod=10, periodInMicroseconds=1000000}"
                ),
                "detail": {"errorcode": "policies.ratelimit.SpikeArrestViolation"},
            }
        else:
            fault = {
                "faultstring": "Rate limit quota violation. Quota limit  exceeded. Identifier : _default",
                "detail": {"errorcode": "policies.ratelimit.QuotaViolation"},
            }
        return JSONResponse({"fault": fault}, status_code=429, headers=headers)

    def expire_tokens(self) -> int:
        return self.csrf.expire_all() + self.oauth.expire_all()

    def get_record(self, module: str, record_id: str) -> dict[str, Any] | None:
        """Any entity by its (single) key as verbose JSON; an order comes with items, schedule lines,
        pricing elements and partners, a delivery or billing document with its items. Module
        ``MaterialDocument``: a material document the physical-inventory postings created, with its
        lines' movement types (701…708), quantities and amounts (SAP has it in API_MATERIAL_DOCUMENT_SRV,
        which the emulator does not serve). Module ``billing_anomalies``, id ``all`` or a billing
        document: the seeded billing anomalies with their expected exception reason. Module
        ``purchase_requisitions``, id ``all`` (``{"count", "records"}``) or a requisition number: the
        purchase requisitions created, items inline (material, plant, quantity, delivery date,
        external reference, ...)."""
        self.backend.advance(self.ctx.clock.now())
        if module == "purchase_requisitions":
            return self.backend.purchase_reqs.describe(None if record_id in ("", "all") else record_id)
        if module == "MaterialDocument":
            return self.backend.physinv.material_documents.get(record_id)
        if module == "billing_anomalies":  # the seeded ones (sandbox.sap.billing_anomalies)
            return self.backend.documents.anomalies.describe(None if record_id in ("", "all") else record_id)
        for service in SERVICES.values():
            es = service.set_by_name.get(module)
            if es is None or len(es.type.keys) != 1:
                continue
            row = self.backend.store.table(module).get((record_id,))
            if row is None:
                return None
            expand: dict[str, Any] = {nav.name: {} for nav in es.type.navs if nav.many}
            if module == "A_SalesOrder":
                expand["to_Item"] = {"to_ScheduleLine": {}, "to_PricingElement": {}}
            renderer = Renderer(service, f"{SERVICE_ROOT}/{service.path}", self.backend.store.children)
            return renderer.entity(es, row, None, expand)
        return None

    def put_record(self, body: dict[str, Any]) -> dict[str, Any]:
        """Control API modules: ``goods_receipt`` {Material, Plant, Quantity}; ``A_Customer`` (id =
        customer number) with fields such as ``OrderIsBlockedForCustomer``; ``config`` {page_size,
        hub_goods_issue_plants: the plants whose deliveries wait for the hub's PostGoodsIssue, by
        default those the seed gives a 3PL warehouse; [] makes SAP issue every new delivery itself;
        billing_anomalies: true seeds the billing anomalies of :mod:`sandbox.sap.billing_anomalies`
        on the billings from then on, false (the default) stops seeding more}."""
        module = body.get("module")
        fields = body.get("fields") or {}
        if not isinstance(fields, dict):
            raise RecordError("fields must be an object")
        now = self.ctx.clock.now()
        if module == "goods_receipt":
            result = self.backend.goods_receipt(fields, now)
            self.ctx.writes.add(self.name, {"at": iso_z(now), "module": module, "fields": fields})
            return result
        if module == "A_Customer":
            customer = str(body.get("id") or fields.get("Customer") or "")
            return self.backend.edit_customer(customer, fields)
        if module == "config":
            return {"record": self._configure(fields)}
        raise RecordError(f"unknown module {module!r}; known: ['A_Customer', 'config', 'goods_receipt']")

    def _configure(self, fields: dict[str, Any]) -> dict[str, Any]:
        known = {"page_size", "hub_goods_issue_plants", "billing_anomalies"}
        if not fields or set(fields) - known:
            raise RecordError(f"config fields: {sorted(known)}")
        if "page_size" in fields:
            page_size = fields["page_size"]
            if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
                raise RecordError("page_size must be a positive integer")
            self.handler.page_size = page_size
        if "hub_goods_issue_plants" in fields:
            plants = fields["hub_goods_issue_plants"]
            codes = {p.code for p in self.ctx.data.plants}
            if not isinstance(plants, list) or not all(isinstance(p, str) and p in codes for p in plants):
                raise RecordError(f"hub_goods_issue_plants must be a list of plants out of {sorted(codes)}")
            # Deliveries already created keep their state; only new ones follow the setting.
            self.backend.documents.hub_plants = set(plants)
        if "billing_anomalies" in fields:
            enabled = fields["billing_anomalies"]
            if not isinstance(enabled, bool):
                raise RecordError("billing_anomalies must be true or false")
            # What is due before now is billed by the old setting.
            self.backend.advance(self.ctx.clock.now())
            self.backend.documents.anomalies.enabled = enabled
        return {
            "billing_anomalies": self.backend.documents.anomalies.enabled,
            "page_size": self.handler.page_size,
            "hub_goods_issue_plants": sorted(self.backend.documents.hub_plants),
        }

    # -- HTTP edge --------------------------------------------------------------------------------

    def _error(self, error: SapError, service: Any) -> Response:
        info = ServiceInfo(service.name, service.component_id, service.version) if service else None
        return self.errors.response(error, info, self.ctx.clock.now())

    def _authenticated(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return hmac.compare_digest(value.strip(), self.bearer_token) or self.oauth.valid(value.strip())
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user.upper(), USER) and hmac.compare_digest(password, self.password)

    def _log_write(self, method: str, service: str, path: str, status: int) -> None:
        self.ctx.writes.add(
            self.name,
            {"at": iso_z(self.ctx.clock.now()), "method": method, "service": service, "path": path, "status": status},
        )

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True))
        status, body = self.oauth.grant(request.headers.get("authorization"), form)
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
        if status == 401:
            headers["WWW-Authenticate"] = REALM
        return JSONResponse(body, status_code=status, headers=headers)

    async def _odata(self, request: Request) -> Response:
        rest = request.path_params["rest"]
        service_path, _, resource = rest.partition("/")
        service = SERVICES.get(service_path)
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        if not self._authenticated(request.headers.get("authorization")):
            error = SapError(401, "/IWFND/CM_CONSUMER/101", "Logon failed: user or password is not valid")
            error.headers["WWW-Authenticate"] = REALM
            return self._error(error, service)
        if query.get("sap-client", CLIENT) != CLIENT:
            error = SapError(
                401, "/IWFND/CM_CONSUMER/101", f"Logon failed: client {query['sap-client']} is not available"
            )
            error.headers["WWW-Authenticate"] = REALM
            return self._error(error, service)
        if service is None:
            name = service_path.split(";")[0]
            return self._error(
                SapError(
                    404, "/IWFND/MED/170", f"No service found for namespace '/SAP/', name '{name}', version '0001'"
                ),
                None,
            )
        method = request.method.upper()
        fetch = request.headers.get("x-csrf-token", "").lower() == "fetch"
        cookie = request.headers.get("cookie")
        if method in MODIFYING and not self.csrf.valid(request.headers.get("x-csrf-token"), cookie):
            return csrf_failed()
        self.backend.advance(self.ctx.clock.now().astimezone(UTC))
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
        odata = ODataRequest(
            method="GET" if method == "HEAD" else method,
            service=service,
            path=resource,
            query={k: v for k, v in query.items() if k not in ("sap-client", "sap-language")},
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
            host_url=f"{request.url.scheme}://{host}",
        )
        answer: ODataResponse = self.handler.handle(odata)
        headers = dict(answer.headers)
        if fetch and method in ("GET", "HEAD"):
            token, set_cookie = self.csrf.fetch(cookie)
            headers["x-csrf-token"] = token
            response = Response(answer.body, status_code=answer.status, headers=headers)
            if set_cookie:
                response.headers.append("set-cookie", set_cookie)
                response.headers.append("set-cookie", f"sap-usercontext=sap-client={CLIENT}; path=/")
            return response
        return Response(answer.body, status_code=answer.status, headers=headers)
