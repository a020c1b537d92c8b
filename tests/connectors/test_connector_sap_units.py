"""SAP OData V2 connector, pure logic and wire rules: literals, values, payloads, error bodies, $batch,
paging, CSRF and the write-retry rule. Recorded payloads are in tests/fixtures/sap; HTTP is answered by
an in-process transport adapter, so no server is needed."""

from __future__ import annotations

import email.message
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from fakes import FakeConnection
from hypothesis import given
from hypothesis import strategies as st
from requests.adapters import BaseAdapter

from connectors.http import AuthError, BusinessError, PermanentError, RetryPolicy, TransientError
from connectors.sap_odata import (
    ETAG,
    BatchRequest,
    ChangesetResult,
    ErrorDetail,
    ODataClient,
    SapAuthError,
    SapBusinessError,
    SapError,
    SapRequestError,
    SapTransientError,
    any_of,
    any_of_chunks,
    changeset_results,
    clean_entity,
    datetime_literal,
    decode_batch,
    encode_batch,
    encode_query,
    entity_path,
    literal,
    maybe_applied,
    parse_odata_date,
    parse_sap_message,
    quote_string,
    sap_error_from,
    to_odata_date,
    to_odata_datetimeoffset,
    to_wire,
)
from connectors.sap_s4 import (
    OrderLine,
    SalesOrderDoc,
    SapClient,
    SapConfig,
    billing_document_from,
    delivery_from,
    sales_order_from,
    sales_order_payload,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sap"
BASE = "https://my-s4.example.com:443"
SO = f"{BASE}/sap/opu/odata/sap/API_SALES_ORDER_SRV"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# ------------------------------------------------------------------------------------------------
# An in-process SAP: a transport adapter answering from a script
# ------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int = 200
    body: bytes | str | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: Exception | None = None  # raised instead of answering (dropped connection, timeout)


@dataclass
class Seen:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.url).path)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query)


class FakeSap(BaseAdapter):
    """Answers each request with ``route(seen)``: an Answer, or a list consumed one per call."""

    def __init__(self, route: Callable[[Seen], Answer]) -> None:
        super().__init__()
        self.route = route
        self.seen: list[Seen] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        body = request.body or b""
        seen = Seen(
            request.method or "",
            request.url or "",
            dict(request.headers),
            body.encode() if isinstance(body, str) else body,
        )
        self.seen.append(seen)
        answer = self.route(seen)
        if answer.error is not None:
            raise answer.error
        response = requests.Response()
        response.status_code = answer.status
        payload = answer.body
        if isinstance(payload, dict):
            payload = json.dumps(payload)
            answer.headers.setdefault("Content-Type", "application/json")
        response._content = payload.encode() if isinstance(payload, str) else payload
        response.headers.update(answer.headers)
        # What requests reads Set-Cookie from, so the session's cookie jar works as with a socket.
        message = email.message.Message()
        for name, value in answer.headers.items():
            message[name] = value
        response.raw = SimpleNamespace(_original_response=SimpleNamespace(msg=message))
        response.url = seen.url
        response.request = request
        return response

    def close(self) -> None:
        pass

    def calls(self, method: str | None = None) -> list[Seen]:
        return [s for s in self.seen if method is None or s.method == method]


def scripted(*answers: Answer) -> Callable[[Seen], Answer]:
    queue = list(answers)
    return lambda seen: queue.pop(0) if len(queue) > 1 else queue[0]


def csrf_then(route: Callable[[Seen], Answer], issued: str = "tok-1") -> Callable[[Seen], Answer]:
    """Answers CSRF fetches with a token and a session cookie; everything else from ``route``."""

    def answer(seen: Seen) -> Answer:
        if seen.headers.get("x-csrf-token", "").lower() == "fetch":
            return Answer(200, b"", {"x-csrf-token": issued, "Set-Cookie": "SAP_SESSIONID_S4H_100=abc; path=/"})
        return route(seen)

    return answer


FAST = RetryPolicy(max_attempts=4, base=0.0, cap=0.0)


def make_odata(adapter: FakeSap, **kwargs: Any) -> ODataClient:
    session = requests.Session()
    session.mount("https://", adapter)
    return ODataClient(
        BASE, user="HUB", password="secret", client="100", language="EN", session=session, retry=FAST, **kwargs
    )


def make_sap(adapter: FakeSap, **overrides: Any) -> SapClient:
    session = requests.Session()
    session.mount("https://", adapter)
    config = SapConfig(**({"base_url": BASE, "user": "HUB", "password": "secret", "retry": FAST} | overrides))
    return SapClient(config, session=session, sleep=lambda s: None)


# ------------------------------------------------------------------------------------------------
# URL literals, filters, query strings
# ------------------------------------------------------------------------------------------------


def test_literals_follow_the_odata_v2_url_syntax() -> None:
    assert literal("TG11") == "'TG11'"
    assert literal("O'Brien") == "'O''Brien'"
    assert literal(Decimal("10")) == "10M"
    assert literal(Decimal("12.500")) == "12.500M"
    assert literal(Decimal("1E+2")) == "100M"
    assert literal(7) == "7"
    assert literal(True) == "true"
    assert literal(None) == "null"
    assert literal(date(2017, 12, 31)) == "datetime'2017-12-31T00:00:00'"
    assert (
        literal(datetime(2024, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))) == "datetimeoffset'2024-01-01T00:00:00Z'"
    )
    assert datetime_literal(datetime(2024, 5, 1, 12, 30, tzinfo=UTC)) == "datetime'2024-05-01T12:30:00'"
    with pytest.raises(TypeError):
        literal(1.5)
    with pytest.raises(ValueError):
        literal(datetime(2024, 1, 1))  # naive


@given(st.text())
def test_quoted_strings_read_back_exactly(value: str) -> None:
    quoted = quote_string(value)
    assert quoted.startswith("'") and quoted.endswith("'")
    inner = quoted[1:-1]
    assert "'" not in inner.replace("''", "")  # every embedded quote is doubled
    assert inner.replace("''", "'") == value


def test_filters_and_query_strings() -> None:
    assert any_of("Material", ["A", "B", "A"]) == "(Material eq 'A' or Material eq 'B')"
    assert any_of("Material", ["A"]) == "Material eq 'A'"
    query = encode_query({"$filter": "PurchaseOrderByCustomer eq 'SO 1&2+3'", "$top": 5, "$skip": None})
    assert query == "$filter=PurchaseOrderByCustomer%20eq%20'SO%201%262%2B3'&$top=5"
    assert entity_path("A_SalesOrder", "1000001") == "A_SalesOrder('1000001')"
    assert entity_path("A_X", {"K1": "a b", "K2": "c"}) == "A_X(K1='a%20b',K2='c')"
    with pytest.raises(ValueError):
        any_of("Material eq 'x' or 1", ["A"])  # a property name is checked, never pasted


def test_or_filters_are_chunked_by_encoded_length_and_cover_every_value_once() -> None:
    values = [f"SO-{n:05d}" for n in range(400)] + ["SO-00001"]
    chunks = list(any_of_chunks("PurchaseOrderByCustomer", values, max_length=500, base="SalesOrganization eq '1000'"))
    assert len(chunks) > 1
    seen = []
    for chunk in chunks:
        assert len(encode_query({"f": chunk})) - 2 <= 500
        assert chunk.startswith("SalesOrganization eq '1000' and ")
        seen += re.findall(r"PurchaseOrderByCustomer eq '([^']*)'", chunk)
    assert seen == list(dict.fromkeys(values))


# ------------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------------


def test_odata_dates_read_as_dates_or_aware_datetimes() -> None:
    assert parse_odata_date("/Date(1130112000000)/") == date(2005, 10, 24)
    assert parse_odata_date("/Date(1130168212000+0000)/") == datetime(2005, 10, 24, 15, 36, 52, tzinfo=UTC)
    shifted = parse_odata_date("/Date(1130168212000+0120)/")  # the offset counts minutes
    assert isinstance(shifted, datetime) and shifted.utcoffset() == timedelta(minutes=120)
    assert shifted == datetime(2005, 10, 24, 15, 36, 52, tzinfo=UTC)  # the same instant
    assert parse_odata_date("/Date(-86400000)/") == date(1969, 12, 31)
    assert parse_odata_date("/Date(1130168212345)/") == datetime(2005, 10, 24, 15, 36, 52, 345000, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_odata_date("2005-10-24")


@given(st.dates(min_value=date(1800, 1, 1), max_value=date(9999, 12, 31)))
def test_dates_round_trip(value: date) -> None:
    assert parse_odata_date(to_odata_date(value)) == value


@given(
    st.datetimes(min_value=datetime(1800, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
    )
)
def test_datetimeoffsets_round_trip_to_the_millisecond(value: datetime) -> None:
    assert parse_odata_date(to_odata_datetimeoffset(value)) == value


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimals_round_trip_exactly_as_strings(value: Decimal) -> None:
    wire = to_wire({"q": value})["q"]
    assert isinstance(wire, str) and "E" not in wire.upper()
    assert Decimal(wire) == value


def test_clean_entity_strips_metadata_and_deferred_links_and_types_values() -> None:
    raw = json.loads(fixture_bytes("sales_orders_page1.json"), parse_float=Decimal)["d"]["results"][0]
    entity = clean_entity(raw, decimals=("TotalNetAmount",))
    assert "__metadata" not in entity and "to_Item" not in entity and "to_Partner" not in entity
    assert entity[ETAG] == "W/\"datetimeoffset'2026-03-10T08%3A15%3A42.1234567Z'\""
    assert entity["TotalNetAmount"] == Decimal("2656.24")
    assert entity["CreationDate"] == date(2026, 3, 10)
    assert entity["LastChangeDateTime"] == datetime(2026, 3, 10, 8, 15, 42, 123000, tzinfo=UTC)
    assert entity["ExternalDocLastChangeDateTime"] is None


# ------------------------------------------------------------------------------------------------
# Error bodies
# ------------------------------------------------------------------------------------------------


def test_error_body_becomes_a_business_error_with_details_and_field() -> None:
    error = sap_error_from(400, fixture_bytes("error_body_blocked_customer.json"), "application/json")
    assert isinstance(error, SapBusinessError) and isinstance(error, BusinessError) and isinstance(error, SapError)
    assert error.code == "V1/399" and error.status == 400
    assert error.message == "Sold-to party 1000042 is blocked for sales orders"
    assert len(error.errordetails) == 2 and error.errordetails[0].severity == "error"
    assert error.field == "SoldToParty"
    assert error.transaction_id == "8C1A2B3D4E5F60718293A4B5C6D7E8F9"
    assert not error.maybe_applied


def test_error_field_comes_from_target_and_skips_transient_markers() -> None:
    error = sap_error_from(400, fixture_bytes("error_body_unknown_material.json"), "application/json")
    assert error.code == "V1/382" and error.field == "to_Item(1)/Material"
    assert ErrorDetail("X", "m", target="/#TRANSIENT#").field is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, SapAuthError), (403, SapAuthError), (404, SapRequestError), (412, SapRequestError), (428, SapRequestError)]
    + [(409, SapBusinessError), (500, SapTransientError), (503, SapTransientError)],
)
def test_error_class_follows_the_status(status: int, kind: type[SapError]) -> None:
    assert type(sap_error_from(status, b'{"error":{"code":"C","message":{"lang":"en","value":"v"}}}')) is kind


def test_xml_text_and_api_management_error_bodies() -> None:
    xml = (
        b'<?xml version="1.0" encoding="utf-8"?><error xmlns="http://schemas.microsoft.com/ado/2007/08/dataservices/'
        b'metadata"><code>SY/530</code><message xml:lang="en">Resource not found for the segment \'A_X\'.</message>'
        b"</error>"
    )
    error = sap_error_from(404, xml, "application/xml")
    assert error.code == "SY/530" and "segment 'A_X'" in error.message
    text = sap_error_from(403, b"CSRF token validation failed", "text/plain")
    assert isinstance(text, AuthError) and text.message == "CSRF token validation failed"
    fault = sap_error_from(429, b'{"fault":{"faultstring":"Rate limit quota violation","detail":{"errorcode":"RL"}}}')
    assert isinstance(fault, TransientError) and fault.code == "RL"


def test_sap_message_header() -> None:
    header = json.dumps(
        {"code": "V4/123", "message": "Credit limit nearly reached", "severity": "warning", "target": "", "details": []}
    )
    assert parse_sap_message(header) == [ErrorDetail("V4/123", "Credit limit nearly reached", "warning")]
    assert parse_sap_message(None) == []


# ------------------------------------------------------------------------------------------------
# $batch
# ------------------------------------------------------------------------------------------------


def test_batch_request_is_crlf_multipart_with_one_changeset_per_order() -> None:
    parts = [
        [BatchRequest("POST", "A_SalesOrder", body={"PurchaseOrderByCustomer": "SO-1", "Qty": Decimal("2.5")})],
        BatchRequest("GET", "A_SalesOrder('1')"),
    ]
    body, content_type = encode_batch(parts, boundary="batch_x")
    assert content_type == "multipart/mixed; boundary=batch_x"
    text = body.decode()
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    assert text.startswith("--batch_x\r\nContent-Type: multipart/mixed; boundary=changeset_")
    assert text.endswith("--batch_x--\r\n")
    assert "POST A_SalesOrder HTTP/1.1\r\nAccept: application/json\r\nContent-Type: application/json\r\n" in text
    assert '{"PurchaseOrderByCustomer": "SO-1", "Qty": "2.5"}' in text  # decimals as strings
    # The bodiless GET still ends its headers with a blank line.
    assert "GET A_SalesOrder('1') HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n--batch_x--" in text
    with pytest.raises(ValueError):
        encode_batch([BatchRequest("POST", "A_SalesOrder", body={})])  # a write outside a changeset


def test_recorded_batch_response_with_one_failed_changeset() -> None:
    body = fixture_bytes("batch_202_one_failed_changeset.txt")
    answers = decode_batch(body, "multipart/mixed; boundary=ejjeeffe1")
    assert [type(a) for a in answers] == [list, type(answers[1]), list]
    parts = [[BatchRequest("POST", "A_SalesOrder", body={})] for _ in range(3)]
    results = changeset_results(parts, answers)
    assert all(isinstance(r, ChangesetResult) for r in results)
    first, failed, third = results
    assert isinstance(first, ChangesetResult) and first.ok and first.responses[0].status == 201
    assert first.responses[0].json()["d"]["SalesOrder"] == "1000004"
    assert first.responses[0].headers["ETag"].startswith('W/"datetimeoffset')
    assert isinstance(failed, ChangesetResult) and not failed.ok
    assert isinstance(failed.error, SapBusinessError) and failed.error.code == "V1/399"
    assert failed.error.field == "SoldToParty"
    assert isinstance(third, ChangesetResult) and third.ok and third.responses[0].json()["d"]["SalesOrder"] == "1000005"


def test_batch_parser_accepts_bare_lf_and_quoted_boundaries_and_reports_missing_answers() -> None:
    lf = fixture_bytes("batch_202_one_failed_changeset.txt").replace(b"\r\n", b"\n")
    answers = decode_batch(lf, 'multipart/mixed; boundary="ejjeeffe1"')
    assert len(answers) == 3
    parts = [[BatchRequest("POST", "A_SalesOrder", body={})] for _ in range(4)]
    results = changeset_results(parts, answers)
    missing = results[3]
    assert isinstance(missing, ChangesetResult) and isinstance(missing.error, SapTransientError)
    assert missing.error.maybe_applied
    with pytest.raises(ValueError):
        decode_batch(
            b"--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", "multipart/mixed; boundary=b"
        )


@given(st.lists(st.sampled_from(["ok", "fail"]), min_size=1, max_size=8))
def test_encode_then_answer_then_decode_keeps_changesets_apart(outcomes: list[str]) -> None:
    """A server answering our own encoding: each changeset's outcome lands on its own payload."""
    parts = [[BatchRequest("POST", "A_SalesOrder", body={"n": i})] for i in range(len(outcomes))]
    encode_batch(parts)
    chunks = []
    for i, outcome in enumerate(outcomes):
        chunks.append("--resp")
        if outcome == "ok":
            chunks.append(
                f"Content-Type: multipart/mixed; boundary=cs{i}\r\n\r\n--cs{i}\r\n"
                "Content-Type: application/http\r\n\r\n"
                f'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\r\n{{"d":{{"n":{i}}}}}\r\n--cs{i}--'
            )
        else:
            chunks.append(
                "Content-Type: application/http\r\n\r\n"
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n"
                f'{{"error":{{"code":"E/{i}","message":{{"lang":"en","value":"no {i}"}}}}}}'
            )
    body = ("\r\n".join(chunks) + "\r\n--resp--\r\n").encode()
    results = changeset_results(parts, decode_batch(body, "multipart/mixed; boundary=resp"))
    for i, (outcome, result) in enumerate(zip(outcomes, results, strict=True)):
        assert isinstance(result, ChangesetResult)
        if outcome == "ok":
            assert result.ok and result.responses[0].json() == {"d": {"n": i}}
        else:
            assert result.error is not None and result.error.code == f"E/{i}"


# ------------------------------------------------------------------------------------------------
# Paging
# ------------------------------------------------------------------------------------------------


def test_paging_follows_next_on_the_same_origin_and_converts_values() -> None:
    adapter = FakeSap(
        scripted(
            Answer(200, fixture_bytes("sales_orders_page1.json"), {"Content-Type": "application/json"}),
            Answer(200, fixture_bytes("sales_orders_page2.json"), {"Content-Type": "application/json"}),
        )
    )
    with make_odata(adapter) as odata:
        rows = list(
            odata.iter_entities(
                "API_SALES_ORDER_SRV", "A_SalesOrder", orderby="SalesOrder", page_size=2, decimals=("TotalNetAmount",)
            )
        )
    assert [r["SalesOrder"] for r in rows] == ["1000001", "1000002", "1000003"]
    assert rows[1]["PurchaseOrderByCustomer"] == "O'Brien 7" and rows[2]["TotalNetAmount"] == Decimal("12.34")
    first, second = adapter.seen
    assert first.query["$orderby"] == ["SalesOrder"] and first.query["$top"] == ["2"]
    assert first.query["$inlinecount"] == ["allpages"] and first.query["sap-client"] == ["100"]
    assert first.query["sap-language"] == ["EN"] and first.headers["Accept"] == "application/json"
    assert "$skiptoken=2" in second.url and second.query["sap-client"] == ["100"]


def test_paging_refuses_a_next_link_to_another_host() -> None:
    page = json.loads(fixture_bytes("sales_orders_page1.json"))
    page["d"]["__next"] = "https://evil.example.net/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder?$skiptoken=2"
    adapter = FakeSap(scripted(Answer(200, page)))
    with make_odata(adapter) as odata, pytest.raises(PermanentError, match="another origin"):
        list(odata.iter_entities("API_SALES_ORDER_SRV", "A_SalesOrder", orderby="SalesOrder"))


def test_skip_paging_runs_to_the_count_with_a_stable_order() -> None:
    rows = [{"SalesOrder": str(1000 + n)} for n in range(7)]

    def route(seen: Seen) -> Answer:
        top, skip = int(seen.query["$top"][0]), int(seen.query["$skip"][0])
        d: dict[str, Any] = {"results": rows[skip : skip + top]}
        if "$inlinecount" in seen.query:
            d["__count"] = str(len(rows))
        return Answer(200, {"d": d})

    adapter = FakeSap(route)
    with make_odata(adapter) as odata:
        got = list(odata.iter_entities("S", "A_SalesOrder", orderby=["SalesOrder"], page_size=3))
        with pytest.raises(ValueError, match="orderby"):
            list(odata.iter_entities("S", "A_SalesOrder", orderby=""))
    assert [r["SalesOrder"] for r in got] == [r["SalesOrder"] for r in rows]
    assert [s.query["$skip"] for s in adapter.seen] == [["0"], ["3"], ["6"]]  # stops at the count: no empty page


def test_skip_paging_continues_when_the_server_caps_the_page_below_top() -> None:
    rows = [{"K": str(n)} for n in range(5)]

    def route(seen: Seen) -> Answer:
        skip = int(seen.query["$skip"][0])
        return Answer(200, {"d": {"__count": "5", "results": rows[skip : skip + 2]}})  # server max page 2

    with make_odata(FakeSap(route)) as odata:
        assert [r["K"] for r in odata.iter_entities("S", "E", orderby="K", page_size=100)] == ["0", "1", "2", "3", "4"]


# ------------------------------------------------------------------------------------------------
# CSRF, retries, writes
# ------------------------------------------------------------------------------------------------


def created(number: str, po: str = "SO-1") -> Answer:
    return Answer(
        201,
        {
            "d": {
                "__metadata": {"etag": 'W/"x"'},
                "SalesOrder": number,
                "PurchaseOrderByCustomer": po,
                "to_Item": {"results": []},
            }
        },
    )


def test_csrf_is_fetched_lazily_with_head_on_the_service_root_and_sent_with_the_cookie() -> None:
    adapter = FakeSap(csrf_then(scripted(Answer(200, {"d": {"results": []}}), created("1000001"))))
    with make_odata(adapter) as odata:
        list(odata.iter_entities("API_SALES_ORDER_SRV", "A_SalesOrder", orderby="SalesOrder"))
        assert odata.csrf_fetches == 0  # reads need no token
        odata.create("API_SALES_ORDER_SRV", "A_SalesOrder", {"SalesOrderType": "OR"})
        odata.create("API_SALES_ORDER_SRV", "A_SalesOrder", {"SalesOrderType": "OR"})
        assert odata.csrf_fetches == 1  # one token for the session
    fetch = adapter.calls("HEAD")[0]
    assert fetch.path == "/sap/opu/odata/sap/API_SALES_ORDER_SRV/" and fetch.query["sap-client"] == ["100"]
    post = adapter.calls("POST")[0]
    assert post.headers["x-csrf-token"] == "tok-1" and "SAP_SESSIONID_S4H_100=abc" in post.headers["Cookie"]
    assert post.headers["Authorization"].startswith("Basic ")


def test_csrf_falls_back_to_get_when_head_is_refused() -> None:
    def route(seen: Seen) -> Answer:
        if seen.method == "HEAD":
            return Answer(405)
        if seen.method == "GET":
            return Answer(200, {"d": {"EntitySets": []}}, {"x-csrf-token": "tok-get"})
        return created("1")

    adapter = FakeSap(route)
    with make_odata(adapter) as odata:
        odata.create("API_SALES_ORDER_SRV", "A_SalesOrder", {})
    assert [s.method for s in adapter.seen] == ["HEAD", "GET", "POST"]
    assert adapter.calls("POST")[0].headers["x-csrf-token"] == "tok-get"


def test_an_expired_csrf_token_is_refetched_once_and_the_write_resent() -> None:
    tokens = iter(["tok-1", "tok-2"])
    posts: list[str] = []

    def route(seen: Seen) -> Answer:
        if seen.method == "HEAD":
            return Answer(200, b"", {"x-csrf-token": next(tokens)})
        posts.append(seen.headers["x-csrf-token"])
        if seen.headers["x-csrf-token"] == "tok-1" and len(posts) > 1:  # the session expired after the first
            return Answer(
                403, b"CSRF token validation failed", {"x-csrf-token": "Required", "Content-Type": "text/plain"}
            )
        return created(str(len(posts)))

    adapter = FakeSap(route)
    with make_odata(adapter) as odata:
        odata.create("S", "A_SalesOrder", {})
        odata.create("S", "A_SalesOrder", {})
        assert odata.csrf_fetches == 2
    assert posts == ["tok-1", "tok-1", "tok-2"]


def test_a_fresh_csrf_token_refused_again_is_an_auth_error() -> None:
    adapter = FakeSap(
        csrf_then(lambda seen: Answer(403, b"CSRF token validation failed", {"x-csrf-token": "Required"}))
    )
    with make_odata(adapter) as odata, pytest.raises(SapAuthError, match="CSRF"):
        odata.create("S", "A_SalesOrder", {})
    assert len(adapter.calls("POST")) == 2 and len(adapter.calls("HEAD")) == 2


def test_reads_retry_5xx_and_429() -> None:
    adapter = FakeSap(
        scripted(
            Answer(503, b"busy"),
            Answer(429, b"{}", {"Retry-After": "0"}),
            Answer(500, b"dump"),
            Answer(200, {"d": {"results": [{"K": "1"}]}}),
        )
    )
    with make_odata(adapter) as odata:
        assert [r["K"] for r in odata.iter_entities("S", "E", orderby="K")] == ["1"]
    assert len(adapter.seen) == 4


@pytest.mark.parametrize(
    "failure",
    [
        Answer(500, fixture_bytes("error_body_unknown_material.json")),
        Answer(503, b"Service Unavailable"),
        Answer(error=requests.ReadTimeout("read timed out")),
        Answer(error=requests.ConnectionError("Connection aborted: RemoteDisconnected")),
    ],
    ids=["500", "503", "read-timeout", "dropped"],
)
def test_a_create_is_never_resent_after_it_may_have_been_applied(failure: Answer) -> None:
    adapter = FakeSap(csrf_then(scripted(failure, created("1000009"))))
    with make_odata(adapter) as odata, pytest.raises(TransientError) as caught:
        odata.create("S", "A_SalesOrder", {})
    assert len(adapter.calls("POST")) == 1
    assert maybe_applied(caught.value)


def test_a_create_refused_with_429_or_never_connected_is_sent_again() -> None:
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    refused = requests.ConnectionError(MaxRetryError(None, "/", NewConnectionError(None, "refused")))  # type: ignore[arg-type]
    adapter = FakeSap(
        csrf_then(scripted(Answer(429, b"{}", {"Retry-After": "0"}), Answer(error=refused), created("1000010")))
    )
    with make_odata(adapter) as odata:
        assert odata.create("S", "A_SalesOrder", {})["SalesOrder"] == "1000010"
    assert len(adapter.calls("POST")) == 3


def test_429_storm_on_a_create_ends_as_not_applied() -> None:
    adapter = FakeSap(csrf_then(lambda seen: Answer(429, b"{}")))
    with make_odata(adapter) as odata, pytest.raises(TransientError) as caught:
        odata.create("S", "A_SalesOrder", {})
    assert len(adapter.calls("POST")) == FAST.max_attempts
    assert not maybe_applied(caught.value)


def test_business_refusal_of_a_create_raises_with_the_field() -> None:
    adapter = FakeSap(csrf_then(lambda seen: Answer(400, fixture_bytes("error_body_unknown_material.json"))))
    with make_sap(adapter) as sap, pytest.raises(SapBusinessError) as caught:
        sap.create_sales_order({"PurchaseOrderByCustomer": "SO-7"})
    assert caught.value.field == "to_Item(1)/Material" and caught.value.record_key == "SO-7"
    assert len(adapter.calls("POST")) == 1


def test_patch_sends_if_match_and_returns_the_new_etag() -> None:
    adapter = FakeSap(csrf_then(lambda seen: Answer(204, b"", {"ETag": 'W/"new"'})))
    with make_sap(adapter) as sap:
        assert sap.patch_sales_order("1000001", {"RequestedDeliveryDate": date(2026, 4, 1)}, 'W/"old"') == 'W/"new"'
    patch = adapter.calls("PATCH")[0]
    assert patch.headers["If-Match"] == 'W/"old"' and patch.path.endswith("/A_SalesOrder('1000001')")
    assert json.loads(patch.body) == {"RequestedDeliveryDate": "/Date(1775001600000)/"}


def test_stale_etag_is_a_412_request_error() -> None:
    body = b'{"error":{"code":"/IWBEP/CM_MGW_RT/022","message":{"lang":"en","value":"Precondition failed"}}}'
    adapter = FakeSap(csrf_then(lambda seen: Answer(412, body)))
    with make_sap(adapter) as sap, pytest.raises(SapRequestError) as caught:
        sap.patch_sales_order("1000001", {"PurchaseOrderByCustomer": "X"}, 'W/"old"')
    assert caught.value.status == 412 and len(adapter.calls("PATCH")) == 1


def test_bearer_token_and_credentials_errors() -> None:
    adapter = FakeSap(lambda seen: Answer(401, b"", {"WWW-Authenticate": 'Basic realm="SAP NetWeaver"'}))
    with make_sap(adapter, user=None, password=None, bearer_token="tkn") as sap, pytest.raises(AuthError):
        sap.unrestricted_stock("1010", ["M1"])
    assert adapter.seen[0].headers["Authorization"] == "Bearer tkn"


# ------------------------------------------------------------------------------------------------
# The service client
# ------------------------------------------------------------------------------------------------


def batch_answer(outcomes: list[tuple[str, str]]) -> Answer:
    chunks = []
    for i, (outcome, po) in enumerate(outcomes):
        chunks.append("--resp")
        if outcome == "ok":
            entity = json.dumps(
                {"d": {"SalesOrder": str(2000 + i), "PurchaseOrderByCustomer": po, "to_Item": {"results": []}}}
            )
            chunks.append(
                f"Content-Type: multipart/mixed; boundary=cs{i}\r\n\r\n--cs{i}\r\n"
                "Content-Type: application/http\r\n\r\n"
                f"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\r\n{entity}\r\n--cs{i}--"
            )
        else:
            chunks.append(
                "Content-Type: application/http\r\n\r\n"
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n"
                + fixture_bytes("error_body_blocked_customer.json").decode()
            )
    body = "\r\n".join(chunks) + "\r\n--resp--\r\n"
    return Answer(202, body, {"Content-Type": "multipart/mixed; boundary=resp"})


def test_create_sales_orders_batches_by_size_and_keeps_input_order() -> None:
    batches: list[int] = []

    def route(seen: Seen) -> Answer:
        if seen.method == "GET":  # schedule lines of the created orders
            return Answer(200, {"d": {"results": []}})
        text = seen.body.decode()
        pos = [
            part.split('"PurchaseOrderByCustomer": "')[1].split('"')[0] for part in text.split("POST A_SalesOrder")[1:]
        ]
        batches.append(len(pos))
        return batch_answer([("fail" if po == "SO-3" else "ok", po) for po in pos])

    adapter = FakeSap(csrf_then(route))
    payloads = [{"PurchaseOrderByCustomer": f"SO-{n}"} for n in range(5)]
    with make_sap(adapter, batch_size=2) as sap:
        results = sap.create_sales_orders(payloads)
    assert batches == [2, 2, 1]
    assert [r.purchase_order if isinstance(r, SalesOrderDoc) else r.record_key for r in results] == [
        f"SO-{n}" for n in range(5)
    ]
    assert isinstance(results[3], SapBusinessError) and results[3].field == "SoldToParty"
    assert all(isinstance(r, SalesOrderDoc) for i, r in enumerate(results) if i != 3)
    assert adapter.calls("POST")[0].path.endswith("/API_SALES_ORDER_SRV/$batch")


def test_a_batch_lost_in_transit_marks_its_orders_maybe_applied_and_holds_the_rest() -> None:
    adapter = FakeSap(csrf_then(lambda seen: Answer(error=requests.ReadTimeout("read timed out"))))
    with make_sap(adapter, batch_size=2) as sap:
        results = sap.create_sales_orders([{"PurchaseOrderByCustomer": f"SO-{n}"} for n in range(3)])
    assert len(adapter.calls("POST")) == 1
    assert all(isinstance(r, SapTransientError) for r in results)
    assert [r.maybe_applied for r in results if isinstance(r, SapError)] == [True, True, False]
    assert [r.record_key for r in results if isinstance(r, SapError)] == ["SO-0", "SO-1", "SO-2"]


def test_sales_order_document_sums_confirmations_from_schedule_lines() -> None:
    header = {
        "SalesOrder": "1000004",
        "PurchaseOrderByCustomer": "SO-00101",
        "TotalNetAmount": "370.20",
        "to_Item": [
            {"SalesOrderItem": "20", "Material": "M2", "RequestedQuantity": "5", "ConfdDelivQtyInOrderQtyUnit": "9"},
            {"SalesOrderItem": "10", "Material": "M1", "RequestedQuantity": "30.000", "RequestedQuantityUnit": "PC"},
        ],
    }
    lines = {
        ("1000004", "10"): [
            {
                "ScheduleLine": "1",
                "ConfdOrderQtyByMatlAvailCheck": "20.000",
                "ConfirmedDeliveryDate": date(2026, 3, 14),
            },
            {"ScheduleLine": "2", "ConfdOrderQtyByMatlAvailCheck": "4.000", "ConfirmedDeliveryDate": date(2026, 3, 20)},
            {"ScheduleLine": "3", "ConfdOrderQtyByMatlAvailCheck": "0.000", "ConfirmedDeliveryDate": date(2026, 3, 30)},
        ]
    }
    doc = sales_order_from(header, lines)
    assert [i.item for i in doc.items] == ["10", "20"]
    first, second = doc.items
    assert first.confirmed_quantity == Decimal("24") and first.confirmed_date == date(2026, 3, 20)
    assert first.open_quantity == Decimal("6")
    assert second.confirmed_quantity == Decimal("9") and second.confirmed_date is None  # no schedule lines read
    assert doc.net_amount == Decimal("370.20") and not doc.fully_confirmed


def test_delivery_and_billing_items_match_order_items_whatever_the_zero_padding() -> None:
    delivery = delivery_from(
        clean_entity(
            {
                "__metadata": {"etag": "W/\"'0002'\""},
                "DeliveryDocument": "80000001",
                "OverallGoodsMovementStatus": "C",
                "ActualGoodsMovementDate": "/Date(1773360000000)/",
                "LastChangeDate": "/Date(1773360000000)/",
                "to_DeliveryDocumentItem": {
                    "results": [
                        {
                            "DeliveryDocumentItem": "000010",
                            "Material": "M1",
                            "ActualDeliveryQuantity": "5.000",
                            "DeliveryQuantityUnit": "PC",
                            "ReferenceSDDocument": "1000001",
                            "ReferenceSDDocumentItem": "000010",
                        }
                    ]
                },
            }
        )
    )
    assert delivery.version == "W/\"'0002'\"" and delivery.goods_issue_date == date(2026, 3, 13)
    (item,) = delivery.items
    assert (item.item, item.sales_order, item.sales_order_item, item.quantity) == ("10", "1000001", "10", Decimal(5))
    bill = billing_document_from(
        clean_entity(
            {
                "BillingDocument": "90000001",
                "TotalNetAmount": "401.50",
                "TaxAmount": "52.20",
                "TotalGrossAmount": "453.70",
                "LastChangeDateTime": "/Date(1773446400000+0000)/",
                "BillingDocumentIsCancelled": False,
                "to_Item": {"results": [{"BillingDocumentItem": "10", "ReferenceSDDocumentItem": "000010"}]},
            }
        )
    )
    assert bill.gross_amount == Decimal("453.70") and bill.last_changed_at == datetime(2026, 3, 14, tzinfo=UTC)
    assert bill.items[0].delivery_item == "10"


def test_availability_accepts_wrapped_and_unwrapped_answers() -> None:
    record = {"AvailableQuantityInBaseUnit": "42.000", "BaseUnit": "PC", "PeriodStartUTCDateTime": "/Date(0)/"}
    for body in ({"d": {"DetermineAvailabilityOf": record}}, {"d": record}):
        adapter = FakeSap(lambda seen, body=body: Answer(200, body))
        with make_sap(adapter) as sap:
            assert sap.availability("PX-1", "1010", Decimal("10")) == Decimal("42.000")
        query = adapter.seen[0].url.split("?", 1)[1]
        assert "Material='PX-1'" in query and "SupplyingPlant='1010'" in query
        assert "ATPCheckingRule='A'" in query and "RequestedQuantityInBaseUnit=10M" in query
    adapter = FakeSap(lambda seen: Answer(200, {"d": {"DetermineAvailabilityOf": record}}))
    with make_sap(adapter) as sap:
        sap.availability("PX-1", "1010")
    assert "RequestedQuantityInBaseUnit=0M" in adapter.seen[0].url  # every parameter is mandatory


def test_unrestricted_stock_counts_only_type_01() -> None:
    rows = [
        {
            "Material": "M1",
            "Plant": "1010",
            "InventoryStockType": "01",
            "MatlWrhsStkQtyInMatlBaseUnit": "5.00000000000000",
        },
        {"Material": "M1", "Plant": "1010", "InventoryStockType": "01", "MatlWrhsStkQtyInMatlBaseUnit": "2.5"},
        {"Material": "M1", "Plant": "1010", "InventoryStockType": "07", "MatlWrhsStkQtyInMatlBaseUnit": "100"},
    ]
    adapter = FakeSap(lambda seen: Answer(200, {"d": {"__count": "3", "results": rows}}))
    with make_sap(adapter) as sap:
        assert sap.unrestricted_stock("1010", ["M1", "M2"]) == {"M1": Decimal("7.5"), "M2": Decimal(0)}
    flt = adapter.seen[0].query["$filter"][0]
    assert flt == "Plant eq '1010' and (Material eq 'M1' or Material eq 'M2')"
    assert adapter.seen[0].query["$orderby"][0].startswith("Material,Plant,StorageLocation,Batch")


# ------------------------------------------------------------------------------------------------
# Payload builder and configuration
# ------------------------------------------------------------------------------------------------


def payload(**overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "sold_to": "1000017",
        "purchase_order": "SO-00012",
        "sales_organization": "1000",
        "distribution_channel": "10",
        "division": "00",
        "currency": "CNY",
        "purchase_order_date": date(2026, 3, 9),
        "requested_delivery_date": date(2026, 3, 13),
        "lines": [
            OrderLine("BRK-PAD-0042", Decimal("30"), "PC", "1010", net_unit_price=Decimal("12.34")),
            OrderLine("FLT-OIL-0007", Decimal("2.5"), "L", "1010", text="Ölfilter " * 10),
        ],
    }
    return sales_order_payload(**(settings | overrides))


def test_payload_is_a_deep_insert_with_items_and_agreed_prices() -> None:
    body = payload()
    assert body["SalesOrderType"] == "OR" and body["PurchaseOrderByCustomer"] == "SO-00012"
    assert body["CustomerPurchaseOrderDate"] == "/Date(1773014400000)/"
    assert body["RequestedDeliveryDate"] == "/Date(1773360000000)/"
    first, second = body["to_Item"]["results"]
    assert first["SalesOrderItem"] == "10" and second["SalesOrderItem"] == "20"
    assert first["RequestedQuantity"] == "30" and second["RequestedQuantity"] == "2.5"
    assert first["ProductionPlant"] == "1010" and first["RequestedQuantityUnit"] == "PC"
    assert first["to_PricingElement"]["results"] == [
        {"ConditionType": "PPR0", "ConditionRateValue": "12.34", "ConditionCurrency": "CNY", "ConditionQuantity": "1"}
    ]
    assert "to_PricingElement" not in second and len(second["SalesOrderItemText"]) == 40
    json.dumps(body)  # plain JSON: no Decimal, no date left


def test_payload_rounds_a_derived_unit_price_to_the_condition_scale() -> None:
    body = payload(lines=[OrderLine("M1", Decimal(3), "PC", "1010", net_unit_price=Decimal(10) / Decimal(3))])
    condition = body["to_Item"]["results"][0]["to_PricingElement"]["results"][0]
    assert condition["ConditionRateValue"] == "3.333333333"  # Decimal(24,9)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"purchase_order": "X" * 36}, "PurchaseOrderByCustomer 'XXXX"),
        ({"sold_to": "12345678901"}, "SoldToParty"),
        ({"lines": [OrderLine("M" * 41, Decimal(1), "PC", "1010")]}, r"to_Item\[0\]\.Material"),
        ({"lines": [OrderLine("M1", Decimal("1.0001"), "PC", "1010")]}, "more than 3 decimals"),
        ({"lines": [OrderLine("M1", Decimal("0"), "PC", "1010")]}, "must be positive"),
        ({"lines": [OrderLine("M1", Decimal(1), "PC", "10100")]}, "ProductionPlant"),
        ({"lines": []}, "at least one line"),
        ({"currency": None}, "needs the order currency"),
        ({"purchase_order": " "}, "PurchaseOrderByCustomer is required"),
    ],
)
def test_payload_refuses_what_sap_would_truncate_or_reject(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        payload(**overrides)


def test_config_from_an_airflow_http_connection() -> None:
    conn = FakeConnection(
        "127.0.0.1",
        "HUB_COMM_USER",
        "pw",
        {"sap_client": "100", "service_root": "/sap/opu/odata/sap", "verify": "false"},
        8443,
        "http",
    )
    config = SapConfig.from_connection(conn)
    assert config.base_url == "http://127.0.0.1:8443" and config.client == "100" and config.verify is False
    assert "pw" not in repr(config)
    with pytest.raises(ValueError):
        SapConfig(base_url="https://x", user="u")  # no password, no token
    client = SapClient.from_connection(conn)
    assert (
        client.odata.url("API_X", "A_Y")
        == "http://127.0.0.1:8443/sap/opu/odata/sap/API_X/A_Y?sap-client=100&sap-language=EN"
    )
    client.close()
