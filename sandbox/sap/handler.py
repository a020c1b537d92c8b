"""OData V2 request handling for one emulated system, independent of the web framework, so that
``$batch`` runs its parts through exactly the same code as plain requests.

Server-driven paging: when more than ``page_size`` rows remain after ``$skip``/``$top``, the answer
carries ``__next`` = the same URL (from the request's Host) plus ``$skiptoken=<offset>``. Atom XML
is not emulated: every payload is JSON, whatever ``Accept`` says. PUT is treated like PATCH/MERGE.
Writes the emulator does not implement answer 501 "Method '…' not implemented in data provider
class", as a Gateway service without that method does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from sandbox.sap.backend import SapBackend
from sandbox.sap.batch import BatchFormatError, BatchResponse, ChangeSet, parse_batch, write_batch
from sandbox.sap.edm import EntitySet, FunctionImport, Service
from sandbox.sap.errors import JSON_TYPE, ErrorDetail, ErrorFactory, SapError, ServiceInfo, not_found_segment
from sandbox.sap.odata_json import Renderer, check_decimal, key_predicate, parse_value, row_etag
from sandbox.sap.odata_query import (
    compile_filter,
    equality_lookup,
    parse_expand,
    parse_int_option,
    parse_literal,
    parse_orderby,
    parse_select,
    query_error,
    sort_rows,
)
from sandbox.sap.purchase_req import item_key
from sandbox.sap.resource import Segment, parse_key, parse_path
from sandbox.sap.store import Row, later

log = logging.getLogger("sandbox.sap")
SERVICE_ROOT = "/sap/opu/odata/sap"
DEFAULT_PAGE_SIZE = 1000
PATCHABLE = frozenset(
    {"A_SalesOrder", "A_SalesOrderItem", "A_OutbDeliveryHeader", "A_OutbDeliveryItem", "A_Customer",
     "A_CustomerSalesArea", "A_PhysInventoryDocItem"}
)  # fmt: skip
NOT_ALLOWED = "/IWBEP/CM_MGW_RT/002"
NOT_IMPLEMENTED = "/IWBEP/CM_MGW_RT/001"
DELIVERY_PICKING = frozenset(
    {
        "PickAllItems",
        "ConfirmPickingAllItems",
        "PickOneItem",
        "ConfirmPickingOneItem",
        "PickOneItemWithSalesQuantity",
        "PickOneItemWithBaseQuantity",
        "SetPickingQuantityWithBaseQuantity",
    }
)
END_OF_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@dataclass
class ODataRequest:
    method: str
    service: Service
    path: str  # below the service root, without query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    host_url: str  # scheme://host[:port] as the client addressed us

    @property
    def service_url(self) -> str:
        return f"{self.host_url}{SERVICE_ROOT}/{self.service.path}"


@dataclass
class ODataResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> ODataResponse:
    # "replace": stored text never holds unpaired surrogates, but echoed request text may.
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
    return ODataResponse(status, body, {"Content-Type": JSON_TYPE, "dataserviceversion": "2.0", **(headers or {})})


def _etag_matches(sent: str, current: str) -> bool:
    return sent.strip() == "*" or sent.strip().removeprefix("W/") == current.removeprefix("W/")


class ODataHandler:
    def __init__(self, backend: SapBackend, errors: ErrorFactory, now: Any) -> None:
        self.backend = backend
        self.store = backend.store
        self.errors = errors
        self.now = now  # callable returning the sandbox time
        self.page_size = DEFAULT_PAGE_SIZE
        # Told of every write (also those inside $batch): method, service path, resource path, status.
        self.on_write: Callable[[str, str, str, int], None] | None = None

    # -- entry points -------------------------------------------------------------------------------

    def handle(self, req: ODataRequest) -> ODataResponse:
        """One request; a write is one transaction (inside ``$batch``, part of its changeset's), so a
        request that fails, for whatever reason, leaves nothing behind."""
        try:
            if req.path.strip("/") == "$batch":  # each changeset is its own transaction
                response = self._dispatch(req)
            else:
                with self.store.journal.transaction():
                    response = self._dispatch(req)
                    if response.status >= 400:
                        raise _Failed(response)
        except _Failed as failed:
            response = failed.response
        except SapError as exc:
            response = self.error(exc, req.service)
        except RecursionError:
            response = self.error(
                SapError(400, "/IWBEP/CM_MGW_RT/021", "The request is nested too deeply to be processed"), req.service
            )
        except Exception as exc:  # noqa: BLE001 - a dump: SAP answers 500 in its error shape, never a trace
            log.exception("unexpected error in %s %s", req.method, req.path)
            response = self.error(
                SapError(500, "/IWBEP/CM_MGW_RT/000", f"Runtime error {type(exc).__name__} in the backend"),
                req.service,
            )
        if req.method != "GET" and req.path.strip("/") != "$batch" and self.on_write is not None:
            self.on_write(req.method, req.service.path, req.path, response.status)
        return response

    def error(self, exc: SapError, service: Service | None) -> ODataResponse:
        info = ServiceInfo(service.name, service.component_id, service.version) if service else None
        body = self.errors.encode(exc, info, self.now())
        return ODataResponse(exc.status, body, {"Content-Type": JSON_TYPE, "dataserviceversion": "1.0", **exc.headers})

    def renderer(self, req: ODataRequest) -> Renderer:
        return Renderer(req.service, req.service_url, self.store.children)

    def _dispatch(self, req: ODataRequest) -> ODataResponse:
        segments = parse_path(req.path)
        if not segments:
            return self._service_document(req)
        first = segments[0]
        if first.name == "$metadata" and len(segments) == 1:
            return ODataResponse(
                200, req.service.metadata_xml, {"Content-Type": "application/xml", "dataserviceversion": "2.0"}
            )
        if first.name == "$batch" and len(segments) == 1:
            if req.method != "POST":
                raise SapError(405, NOT_ALLOWED, "Method not allowed for $batch; use POST")
            return self.batch(req)
        function = req.service.function_by_name.get(first.name)
        if function is not None and len(segments) == 1 and first.key is None:
            return self._function(req, function)
        es = req.service.set_by_name.get(first.name)
        if es is None:
            raise not_found_segment(first.name)
        return self._entity_request(req, es, segments)

    # -- entity sets --------------------------------------------------------------------------------

    def _entity_request(self, req: ODataRequest, es: EntitySet, segments: list[Segment]) -> ODataResponse:
        count = bool(segments) and segments[-1].name == "$count"
        if count:
            segments = segments[:-1]
        head = segments[0]
        parent: Row | None = None
        if head.key is not None:
            parent = self._get(es, parse_key(head.key, es.type, head.name), head.name)
        for segment in segments[1:]:
            if parent is None:
                raise not_found_segment(segment.name)
            nav = es.type.nav_by_name.get(segment.name)
            if nav is None:
                raise not_found_segment(segment.name)
            rows = self.store.children(es, nav.name, parent)
            es = req.service.set_by_name[nav.target]
            if segment.key is not None:
                key = parse_key(segment.key, es.type, segment.name)
                parent = next((r for r in rows if self.store.table(es.name).key_of(r) == key), None)
                if parent is None:
                    raise not_found_segment(segment.name)
            elif nav.many:
                if segment is not segments[-1]:
                    raise not_found_segment(segments[segments.index(segment) + 1].name)
                if req.method == "POST" and not count:
                    return self._create(req, es, parent)
                if req.method != "GET":
                    raise SapError(405, NOT_ALLOWED, f"Method {req.method} is not allowed on a collection")
                return self._collection(req, es, rows, count)
            else:
                parent = rows[0] if rows else None
                if parent is None:
                    raise not_found_segment(segment.name)
        if parent is None:
            if req.method == "POST":
                return self._create(req, es)
            if req.method != "GET":
                raise SapError(405, NOT_ALLOWED, f"Method {req.method} is not allowed on entity set {es.name}")
            rows = self._candidates(req, es)
            return self._collection(req, es, rows, count)
        if count:
            raise not_found_segment("$count")
        if req.method == "GET":
            return self._entity(req, es, parent)
        if req.method in ("PATCH", "MERGE", "PUT"):
            return self._update(req, es, parent)
        if req.method == "DELETE":
            return self._delete(req, es, parent)
        raise SapError(405, NOT_ALLOWED, f"Method {req.method} is not allowed on an entity of {es.name}")

    def _get(self, es: EntitySet, key: tuple[Any, ...], segment: str) -> Row:
        if es.name == "A_PurchaseRequisitionItem":  # '00010' and '10' name the same item
            key = (key[0], item_key(key[1]))
        row = self.store.table(es.name).get(key)
        if row is None:
            raise not_found_segment(segment)
        return row

    def _candidates(self, req: ODataRequest, es: EntitySet) -> list[Row]:
        """Rows that may match ``$filter``: from an index when the filter pins an indexed property."""
        table = self.store.table(es.name)
        text = req.query.get("$filter")
        if text:
            lookup = equality_lookup(compile_filter(text, es.type)[0])
            if lookup is not None and lookup[0] in table.indexes:
                name, values = lookup
                return [row for value in values for row in table.lookup(name, value)]
            if lookup is not None and lookup[0] == table.keys[0] and len(table.keys) == 1:
                return [r for r in (table.get((v,)) for v in lookup[1]) if r is not None]
        return table.all()

    def _collection(self, req: ODataRequest, es: EntitySet, rows: list[Row], count_only: bool) -> ODataResponse:
        et = es.type
        q = req.query
        if q.get("$filter"):
            _, predicate = compile_filter(q["$filter"], et)
            rows = [r for r in rows if predicate(r)]
        order = parse_orderby(q["$orderby"], et) if q.get("$orderby") else [(k, False) for k in et.keys]
        rows = sort_rows(list(rows), order)
        total = len(rows)
        skip = parse_int_option("$skip", q.get("$skip")) or 0
        top = parse_int_option("$top", q.get("$top"))
        window = rows[skip:] if top is None else rows[skip : skip + top]
        if count_only:
            return ODataResponse(
                200, str(len(window)).encode(), {"Content-Type": "text/plain", "dataserviceversion": "2.0"}
            )
        inline = q.get("$inlinecount", "none")
        if inline not in ("allpages", "none"):
            raise query_error(f"Invalid value '{inline}' for system query option $inlinecount")
        token = parse_int_option("$skiptoken", q.get("$skiptoken")) or 0
        page = window[token : token + self.page_size]
        next_url = None
        if token + self.page_size < len(window):
            params = {k: v for k, v in q.items() if k != "$skiptoken"}
            params["$skiptoken"] = str(token + self.page_size)
            query = urlencode(params, quote_via=quote, safe="$',()/")
            next_url = f"{req.service_url}/{req.path.strip('/')}?{query}"
        select = parse_select(q["$select"], et) if q.get("$select") else None
        expand = self._expand(req, es)
        payload = self.renderer(req).collection(
            es, page, select, expand, count=total if inline == "allpages" else None, next_url=next_url
        )
        return _json(payload)

    def _expand(self, req: ODataRequest, es: EntitySet) -> dict[str, Any]:
        text = req.query.get("$expand")
        if not text:
            return {}
        return parse_expand(text, es.type, lambda name: req.service.set_by_name[name].type)

    def _entity(self, req: ODataRequest, es: EntitySet, row: Row) -> ODataResponse:
        select = parse_select(req.query["$select"], es.type) if req.query.get("$select") else None
        payload = {"d": self.renderer(req).entity(es, row, select, self._expand(req, es))}
        etag = row_etag(es.type, row)
        return _json(payload, headers={"ETag": etag} if etag else None)

    # -- writes -------------------------------------------------------------------------------------

    def _body(self, req: ODataRequest) -> Any:
        try:
            return json.loads(req.body or b"null")
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise SapError(400, "/IWBEP/CM_MGW_RT/021", "The request body is not valid JSON") from None

    def _create(self, req: ODataRequest, es: EntitySet, parent: Row | None = None) -> ODataResponse:
        if not es.creatable:
            raise SapError(405, NOT_ALLOWED, f"Entity set {es.name} does not allow creation")
        if es.name == "A_SalesOrderItem":
            return self._create_item(req, es, parent)
        if es.name == "A_PhysInventoryDocHeader" and parent is None:
            return self._create_physinv(req, es)
        if es.name == "A_PurchaseRequisitionHeader" and parent is None:
            return self._create_purchase_requisition(req, es)
        if es.name != "A_SalesOrder" or parent is not None:
            raise SapError(
                501, NOT_IMPLEMENTED, f"Method '{es.name.upper()}_CREATE_ENTITY' not implemented in data provider class"
            )
        payload = self._body(req)
        now = self.now()
        order = self.backend.orders.create(payload, now)
        sent = set(payload) if isinstance(payload, dict) else set()
        expand: dict[str, Any] = {}
        if "to_Item" in sent:
            items = payload["to_Item"]
            items = items.get("results", []) if isinstance(items, dict) else items
            expand["to_Item"] = {"to_PricingElement": {}} if any("to_PricingElement" in i for i in items) else {}
        if "to_Partner" in sent:
            expand["to_Partner"] = {}
        body = {"d": self.renderer(req).entity(es, order, None, expand)}
        location = f"{req.service_url}/{es.name}{key_predicate(es.type, order)}"
        headers = {"Location": location}
        etag = row_etag(es.type, order)
        if etag:
            headers["ETag"] = etag
        return _json(body, 201, headers)

    def _create_physinv(self, req: ODataRequest, es: EntitySet) -> ODataResponse:
        """A physical-inventory document with its items (deep insert); 201 with what was sent expanded."""
        payload = self._body(req)
        header = self.backend.physinv.create(payload, self.now())
        expand = {"to_PhysicalInventoryDocumentItem": {}} if "to_PhysicalInventoryDocumentItem" in payload else {}
        body = {"d": self.renderer(req).entity(es, header, None, expand)}
        headers = {"Location": f"{req.service_url}/{es.name}{key_predicate(es.type, header)}"}
        etag = row_etag(es.type, header)
        if etag:
            headers["ETag"] = etag
        return _json(body, 201, headers)

    def _create_purchase_requisition(self, req: ODataRequest, es: EntitySet) -> ODataResponse:
        """A purchase requisition with its items (deep insert); 201 with the items expanded. A
        validation-only request saves nothing, so its answer has no Location."""
        payload = self._body(req)
        header, items = self.backend.purchase_reqs.create(payload, self.now())
        renderer = self.renderer(req)
        body = renderer.entity(es, header)
        item_set = req.service.set_by_name[es.type.nav_by_name["to_PurchaseReqnItem"].target]
        body["to_PurchaseReqnItem"] = {"results": [renderer.entity(item_set, item) for item in items]}
        headers = {}
        if header["PurchaseRequisition"]:
            headers["Location"] = f"{req.service_url}/{es.name}{key_predicate(es.type, header)}"
        return _json({"d": body}, 201, headers)

    def _create_item(self, req: ODataRequest, es: EntitySet, order: Row | None) -> ODataResponse:
        """An item of an existing order: ``A_SalesOrder('…')/to_Item``, or ``A_SalesOrderItem`` with
        the order's number in ``SalesOrder``."""
        payload = self._body(req)
        if order is None:
            number = payload.get("SalesOrder") if isinstance(payload, dict) else None
            if not isinstance(number, str) or not number:
                raise SapError(
                    400, "V1/320", "Enter a value for field Sales document (SalesOrder)",
                    [ErrorDetail("V1/320", "Enter a value for field Sales document (SalesOrder)", "SalesOrder",
                                 "SalesOrder")],
                )  # fmt: skip
            order = self.store.table("A_SalesOrder").get((number,))
            if order is None:
                raise SapError(404, "V1/302", f"Sales document {number[:10]} does not exist")
            payload = {k: v for k, v in payload.items() if k != "SalesOrder"}
        item = self.backend.orders.create_item(order, payload, self.now())
        expand = {"to_PricingElement": {}} if isinstance(payload, dict) and "to_PricingElement" in payload else {}
        body = {"d": self.renderer(req).entity(es, item, None, expand)}
        location = f"{req.service_url}/{es.name}{key_predicate(es.type, item)}"
        return _json(body, 201, {"Location": location})

    def _check_etag(self, req: ODataRequest, es: EntitySet, row: Row) -> None:
        current = row_etag(es.type, row)
        if current is None:
            return
        sent = req.headers.get("if-match")
        if not sent:
            raise SapError(428, "/IWBEP/CM_MGW_RT/003", "Precondition required: send the entity's ETag in If-Match")
        if not _etag_matches(sent, current):
            raise SapError(
                412,
                "/IWBEP/CM_MGW_RT/019",
                "Precondition failed: the entity was changed by someone else (ETag mismatch)",
            )

    def _update(self, req: ODataRequest, es: EntitySet, row: Row) -> ODataResponse:
        if not es.updatable:
            raise SapError(405, NOT_ALLOWED, f"Entity set {es.name} does not allow updates")
        if es.name not in PATCHABLE:
            raise SapError(
                501, NOT_IMPLEMENTED, f"Method '{es.name.upper()}_UPDATE_ENTITY' not implemented in data provider class"
            )
        self._check_etag(req, es, row)
        payload = self._body(req)
        if not isinstance(payload, dict):
            raise SapError(400, "/IWBEP/CM_MGW_RT/021", "The request body is not a valid JSON object")
        changes: dict[str, Any] = {}
        for name, raw in payload.items():
            if name == "__metadata" or name in es.type.keys:
                continue
            p = es.type.by_name.get(name)
            if p is None:
                raise SapError(400, "/IWBEP/CM_MGW_RT/022", f"Property '{name}' is invalid for type '{es.type.name}'")
            if not p.updatable:
                continue  # Gateway ignores read-only properties in a payload
            try:
                changes[name] = parse_value(p, raw)
            except ValueError as exc:
                raise SapError(400, "/IWBEP/CM_MGW_RT/021", f"Invalid value for property '{name}': {exc}") from None
        now = self.now()
        if es.name == "A_SalesOrderItem":  # no ETag of its own; the order's changes with it
            self.backend.orders.update_item(row, changes, now)
            return ODataResponse(204, b"", {"dataserviceversion": "1.0"})
        if es.name == "A_OutbDeliveryItem":  # the delivery quantity moves with its order item
            self.backend.documents.change_item(row, changes, now)
            return ODataResponse(204, b"", {"ETag": row_etag(es.type, row) or "", "dataserviceversion": "1.0"})
        if es.name == "A_PhysInventoryDocItem":  # a count: the item's ETag moves, the header's status too
            self.backend.physinv.change_item(row, changes, now)
            return ODataResponse(204, b"", {"ETag": row_etag(es.type, row) or "", "dataserviceversion": "1.0"})
        if es.name == "A_OutbDeliveryHeader":
            self.backend.documents.change_header(row, changes, now)
            return ODataResponse(204, b"", {"ETag": row_etag(es.type, row) or "", "dataserviceversion": "1.0"})
        etag_prop = es.type.etag_prop
        if etag_prop is not None and etag_prop.type == "Edm.DateTimeOffset":
            changes[etag_prop.name] = later(row[etag_prop.name], now)
            if "LastChangeDate" in es.type.by_name:
                changes["LastChangeDate"] = now.replace(hour=0, minute=0, second=0, microsecond=0)
        elif etag_prop is not None:
            changes[etag_prop.name] = f"{int(row[etag_prop.name] or 0) + 1:04d}"
        self.store.table(es.name).update(row, changes)
        etag = row_etag(es.type, row)
        return ODataResponse(
            204, b"", {"ETag": etag, "dataserviceversion": "1.0"} if etag else {"dataserviceversion": "1.0"}
        )

    def _delete(self, req: ODataRequest, es: EntitySet, row: Row) -> ODataResponse:
        if not es.deletable:
            raise SapError(405, NOT_ALLOWED, f"Entity set {es.name} does not allow deletion")
        if es.name not in ("A_SalesOrder", "A_OutbDeliveryHeader"):
            raise SapError(
                501, NOT_IMPLEMENTED, f"Method '{es.name.upper()}_DELETE_ENTITY' not implemented in data provider class"
            )
        self._check_etag(req, es, row)
        if es.name == "A_OutbDeliveryHeader":
            self.backend.documents.delete_delivery(row, self.now())
        else:
            self.backend.orders.delete(row)
        return ODataResponse(204, b"", {"dataserviceversion": "1.0"})

    # -- function imports ---------------------------------------------------------------------------

    def _function(self, req: ODataRequest, function: FunctionImport) -> ODataResponse:
        if req.method != function.http_method:
            raise SapError(
                405, NOT_ALLOWED, f"Function import {function.name} requires HTTP method {function.http_method}"
            )
        if function.entity_set is not None:
            return self._entity_function(req, function)
        args: dict[str, Any] = {}
        for p in function.params:
            raw = req.query.get(p.name)
            if raw is None:
                raise SapError(
                    400, "/IWBEP/CM_MGW_RT/016", f"Parameter '{p.name}' of function import '{function.name}' is missing"
                )
            value = parse_literal(raw)
            if p.type == "Edm.String" and not isinstance(value, str):
                raise SapError(400, "/IWBEP/CM_MGW_RT/017", f"Parameter '{p.name}' has an invalid value '{raw}'")
            if p.type == "Edm.Decimal" and not isinstance(value, Decimal):
                raise SapError(400, "/IWBEP/CM_MGW_RT/017", f"Parameter '{p.name}' has an invalid value '{raw}'")
            if p.type in ("Edm.DateTime", "Edm.DateTimeOffset") and not isinstance(value, datetime):
                raise SapError(400, "/IWBEP/CM_MGW_RT/017", f"Parameter '{p.name}' has an invalid value '{raw}'")
            args[p.name] = value
        renderer = self.renderer(req)
        result_type = req.service.complex_by_name[function.result_type]
        if function.name in ("DetermineAvailabilityOf", "DetermineAvailabilityAt", "CalculateAvailabilityTimeseries"):
            start = args.get("RequestedUTCDateTime") or self.now()
            record = self._availability(args["Material"], args["SupplyingPlant"], start)
            if function.returns_collection:
                return _json({"d": {"results": [renderer.complex(result_type, record)]}})
            return _json({"d": {function.name: renderer.complex(result_type, record)}})
        if function.name == "PostGoodsIssue":
            reports = self.backend.documents.post_goods_issue(args["DeliveryDocument"], self.now())
            return _json({"d": {"results": [renderer.complex(result_type, r) for r in reports]}})
        if function.name == "GetPDF":
            binary = self.backend.documents.pdf(args["BillingDocument"])
            return _json({"d": {function.name: renderer.complex(result_type, {"BillingDocumentBinary": binary})}})
        documents = self.backend.documents
        if function.name == "Cancel":
            results = documents.cancel_billing(args["BillingDocument"], self.now())
            return _json({"d": {"results": [renderer.complex(result_type, r) for r in results]}})
        if function.name in ("rejectApprovalRequest", "releaseApprovalRequest"):
            order = args["SalesOrder"]
            if self.store.table("A_SalesOrder").get((order,)) is None:
                raise SapError(404, "V1/302", f"Sales document {order[:10]} does not exist")
            # The emulator starts no approval workflow, so no order ever waits for one [emulator].
            raise SapError(400, "V1/899", f"Sales document {order} has no open approval request")
        if function.name == "ReverseGoodsIssue":
            results = documents.reverse_goods_issue(args["DeliveryDocument"], self.now())
            return _json({"d": {"results": [renderer.complex(result_type, r) for r in results]}})
        if function.name in DELIVERY_PICKING:
            reports = documents.pick(function.name, args, self.now())
            return _json({"d": {"results": [renderer.complex(result_type, r) for r in reports]}})
        raise SapError(501, NOT_IMPLEMENTED, f"Function import {function.name} is not implemented")

    def _entity_function(self, req: ODataRequest, function: FunctionImport) -> ODataResponse:
        """A function import answering an entity (the physical-inventory actions): ``{"d": {…}}``.
        Parameters flagged non-nullable are required; the others may be left out, as SAP's OpenAPI
        description marks them optional."""
        args: dict[str, Any] = {}
        for p in function.params:
            raw = req.query.get(p.name)
            value = parse_literal(raw) if raw is not None else None
            if value is None:
                if not p.nullable:
                    raise SapError(
                        400,
                        "/IWBEP/CM_MGW_RT/016",
                        f"Parameter '{p.name}' of function import '{function.name}' is missing",
                    )
                continue
            expected = {
                "Edm.String": str,
                "Edm.Decimal": Decimal,
                "Edm.DateTime": datetime,
                "Edm.Boolean": bool,
            }[p.type]
            too_long = isinstance(value, str) and p.max_length is not None and len(value) > p.max_length
            if value is not None and (not isinstance(value, expected) or too_long):
                raise SapError(400, "/IWBEP/CM_MGW_RT/017", f"Parameter '{p.name}' has an invalid value '{raw}'")
            if isinstance(value, Decimal):
                try:
                    value = check_decimal(p, value) if value.is_finite() else None
                except ValueError:
                    value = None
                if value is None:
                    raise SapError(400, "/IWBEP/CM_MGW_RT/017", f"Parameter '{p.name}' has an invalid value '{raw}'")
            args[p.name] = value
        es_name, row = self.backend.physinv.function(function.name, args, self.now())
        es = req.service.set_by_name[es_name]
        return _json({"d": self.renderer(req).entity(es, row)})

    def _availability(self, material: str, plant: str, start: datetime) -> dict[str, Any]:
        if material not in self.backend.data.material_by_number:
            raise SapError(400, "M3/305", f"Material {material} does not exist")
        if not self.backend.atp.maintained(material, plant):
            raise SapError(400, "M3/305", f"Material {material} not maintained in plant {plant}")
        start = start.astimezone(UTC).replace(microsecond=0)
        return {
            "PeriodStartUTCDateTime": start,
            "PeriodStartTimeZone": "UTC",
            "PeriodEndUTCDateTime": END_OF_TIME,
            "PeriodEndTimeZone": "UTC",
            "AvailableQuantityInBaseUnit": max(Decimal(0), self.backend.atp.available(material, plant)),
            "BaseUnit": self.backend.data.material_by_number[material].base_unit,
        }

    # -- service document ---------------------------------------------------------------------------

    def _service_document(self, req: ODataRequest) -> ODataResponse:
        names = [es.name for es in req.service.entity_sets]
        wants_json = "json" in req.headers.get("accept", "") or req.query.get("$format") == "json"
        if wants_json:
            return _json({"d": {"EntitySets": names}})
        collections = "".join(
            f'<app:collection href="{n}"><atom:title type="text">{n}</atom:title></app:collection>' for n in names
        )
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<app:service xml:base="{req.service_url}/" xmlns:app="http://www.w3.org/2007/app" '
            'xmlns:atom="http://www.w3.org/2005/Atom">'
            f'<app:workspace><atom:title type="text">Data</atom:title>{collections}</app:workspace></app:service>'
        )
        return ODataResponse(200, xml.encode(), {"Content-Type": "application/xml", "dataserviceversion": "2.0"})

    # -- $batch -------------------------------------------------------------------------------------

    def batch(self, req: ODataRequest) -> ODataResponse:
        content_type = req.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/mixed"):
            raise SapError(400, "/IWBEP/CM_MGW_RT/005", "The $batch request must have Content-Type multipart/mixed")
        try:
            items = parse_batch(req.body, content_type)
        except (BatchFormatError, UnicodeDecodeError) as exc:
            raise SapError(400, "/IWBEP/CM_MGW_RT/005", f"Invalid batch request: {exc}") from None
        results: list[BatchResponse | list[BatchResponse]] = []
        for item in items:
            if isinstance(item, ChangeSet):
                results.append(self._changeset(req, item))
            else:
                results.append(self._part(req, item.method, item.url, item.headers, item.body, item.content_id))
        tx = self.errors.transaction_id().lower()
        boundary = f"batch_{tx[:8]}-{tx[8:12]}-{tx[12:16]}-{tx[16:20]}-{tx[20:32]}"
        changesets = [f"changeset_{self.errors.transaction_id().lower()}" for r in results if isinstance(r, list)]
        body = write_batch(results, boundary, changesets)
        return ODataResponse(
            202, body, {"Content-Type": f"multipart/mixed; boundary={boundary}", "dataserviceversion": "2.0"}
        )

    def _part(
        self, req: ODataRequest, method: str, url: str, headers: dict[str, str], body: bytes, content_id: str | None
    ) -> BatchResponse:
        path, _, query = url.partition("?")
        if "://" in path:
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        root = f"{SERVICE_ROOT}/{req.service.path}/"
        if path.startswith(root):
            path = path[len(root) :]
        inner = ODataRequest(
            method=method,
            service=req.service,
            path=path.lstrip("/"),
            query=dict(parse_qsl(query, keep_blank_values=True)),
            headers=headers,
            body=body,
            host_url=req.host_url,
        )
        response = self.handle(inner)
        return BatchResponse(response.status, response.headers, response.body, content_id)

    def _changeset(self, req: ODataRequest, changeset: ChangeSet) -> BatchResponse | list[BatchResponse]:
        responses: list[BatchResponse] = []
        created: dict[str, str] = {}  # Content-ID → path of the entity it created
        try:
            with self.store.journal.transaction():
                for part in changeset.requests:
                    url = part.url
                    if url.startswith("$") and url[1:].split("/")[0] in created:
                        ref, _, rest = url[1:].partition("/")
                        url = created[ref] + ("/" + rest if rest else "")
                    response = self._part(req, part.method, url, part.headers, part.body, part.content_id)
                    if response.status >= 400:
                        raise _ChangesetFailed(response)
                    location = response.headers.get("Location")
                    if part.content_id and location:
                        created[part.content_id] = location.rsplit("/", 1)[-1]
                    responses.append(response)
        except _ChangesetFailed as failed:
            failed.response.content_id = None
            return failed.response
        return responses


class _Failed(Exception):
    """A request answered with an error: whatever it changed is undone."""

    def __init__(self, response: ODataResponse) -> None:
        super().__init__(response.status)
        self.response = response


class _ChangesetFailed(Exception):
    def __init__(self, response: BatchResponse) -> None:
        super().__init__(response.status)
        self.response = response
