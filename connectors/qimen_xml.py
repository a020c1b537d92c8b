"""Qimen (奇门) XML documents: compact serialisation of request dicts, and safe parsing of both ends.

Wire rules (reference/logistics_report.md §1.1, §5):

* A request is ``<?xml version="1.0" encoding="utf-8"?><request>…</request>`` in camelCase, sent
  compact (no whitespace between elements): the sign covers the exact bytes, so the document is written
  once, here, and never re-serialised.
* The senders' SDK generations disagree on list tags (``orderLines/orderLine``, ``order_lines/order_line``
  and a bare, unwrapped ``order_line``), and an XML-to-dict view turns a one-child list into an object.
  :func:`parse_request` and :func:`parse_response` therefore give **canonical camelCase keys**, every
  leaf a ``str`` (an empty element is ``""``), and every list of the standard always a ``list``
  (``orderLines``, ``packages``, ``items``, ``batchs``, …), whatever the sender's spelling.
* Children of ``extendProps`` are the sender's own names and are kept as sent.

The parser is expat with every DTD refused (no DOCTYPE, no entity declarations, no external entities),
so neither entity expansion ("billion laughs") nor an external fetch can happen; nesting deeper than
:data:`MAX_DEPTH` is refused too (no document of the standard goes beyond six levels).

Leniency is deliberate where a well-formed document strays from the standard: an element that repeats
where the standard has one is kept as a list of its values, so nothing is lost and the gate downstream
decides; inside a list wrapper only the item elements count. The raw body stays in the receiver's inbox.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from xml.parsers import expat

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
REQUEST_ROOT = "request"
RESPONSE_ROOT = "response"
MAX_DEPTH = 32

# Wrapper (list) name → item element name, as the standard spells them in camelCase (§3, §5.6).
LIST_ITEMS: dict[str, str] = {
    "orderLines": "orderLine",
    "packages": "package",
    "items": "item",
    "batchs": "batch",
    "relatedOrders": "relatedOrder",
    "packageMaterialList": "packageMaterial",
    "snList": "sn",
    "criteriaList": "criteria",
    "subSourceOrders": "subSourceOrder",
    "processes": "process",
    "deliveryOrders": "deliveryOrder",
    "invoices": "invoice",
    "orders": "order",
}
# Item elements that may also arrive bare (without their wrapper) from older SDKs: collected into the
# wrapper's list. ``deliveryOrder`` and ``order`` are not among them: bare, they are single objects.
BARE_ITEMS: dict[str, str] = {
    item: wrapper for wrapper, item in LIST_ITEMS.items() if item not in ("deliveryOrder", "order", "invoice")
}
FREE_FORM = frozenset({"extendProps"})  # children keep the sender's names

_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
# Characters XML 1.0 cannot carry at all (C0 controls but tab/LF/CR, surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class QimenXmlError(ValueError):
    """A body that is not a Qimen document: not well-formed, a DTD, the wrong root, nested too deeply.

    ``code`` names the problem for the answer's ``<code>`` (``malformed-xml``, ``dtd-refused``,
    ``wrong-root``, ``too-deep``, ``not-utf-8``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------------------------------


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool):  # bool is an int: refuse rather than send "True"
        raise TypeError(f"{where}: a bool has no Qimen spelling; send a string")
    if isinstance(value, float):
        raise TypeError(f"{where}: refusing to send a float: use Decimal, int or str")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{where}: cannot send {value}")
        text = format(value, "f")
    elif isinstance(value, int | str):
        text = str(value)
    else:
        raise TypeError(f"{where}: cannot serialise {type(value).__name__}")
    if _NOT_XML.search(text):
        raise ValueError(f"{where}: holds a character XML 1.0 cannot carry")
    # \r would come back as \n from any XML parser: escape it so the value survives the trip.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _tag(name: Any) -> str:
    if not isinstance(name, str) or not _XML_NAME.match(name) or name.lower().startswith("xml"):
        raise ValueError(f"{name!r} is not a usable XML element name")
    return name


def _element(name: str, value: Any, out: list[str], path: str) -> None:
    if value is None:  # absent: the element is left out (an empty element would mean "")
        return
    tag = _tag(name)
    where = f"{path}/{tag}"
    if isinstance(value, Mapping):
        out.append(f"<{tag}>")
        for key, child in value.items():
            _element(key, child, out, where)
        out.append(f"</{tag}>")
    elif isinstance(value, list | tuple):
        item = LIST_ITEMS.get(tag)
        if item is None:
            raise ValueError(f"{where}: a list, but the standard names no item element for {tag!r}")
        out.append(f"<{tag}>")
        for child in value:
            _element(item, child, out, where)
        out.append(f"</{tag}>")
    else:
        out.append(f"<{tag}>{_text(value, where)}</{tag}>")


def serialize(document: Mapping[str, Any], root: str = REQUEST_ROOT) -> str:
    """The compact XML text of ``document`` under ``root``, with the declaration; send its UTF-8 bytes.

    Mappings become elements in their key order; a list becomes its wrapper holding one item element
    per entry (``orderLines`` → ``orderLine``…, :data:`LIST_ITEMS`); ``None`` leaves the element out;
    ``Decimal`` and ``int`` are written exactly; floats, bools and characters XML cannot carry are
    refused (``TypeError`` / ``ValueError``) rather than sent mangled.
    """
    if not isinstance(document, Mapping):
        raise TypeError("a Qimen document is a mapping")
    out: list[str] = [XML_DECLARATION, f"<{_tag(root)}>"]
    for key, value in document.items():
        _element(key, value, out, root)
    out.append(f"</{root}>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------


class _Node:
    __slots__ = ("children", "name", "text")

    def __init__(self, name: str) -> None:
        self.name = name
        self.children: list[_Node] = []
        self.text: list[str] = []


def _refuse_dtd(*_args: Any) -> None:
    raise QimenXmlError("dtd-refused", "DOCTYPE and entity declarations are refused")


def _tree(body: str | bytes) -> _Node:
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.UnparsedEntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Node] = []
    roots: list[_Node] = []

    def start(name: str, _attrs: Any) -> None:
        if len(stack) >= MAX_DEPTH:
            raise QimenXmlError("too-deep", f"elements nested deeper than {MAX_DEPTH} levels")
        node = _Node(name)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(_name: str) -> None:
        stack.pop()

    def data(text: str) -> None:
        if stack:
            stack[-1].text.append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise QimenXmlError("malformed-xml", f"not well-formed XML: {expat.errors.messages[exc.code]}") from None
    except RecursionError:
        raise QimenXmlError("too-deep", "elements nested too deeply") from None
    return roots[0]


def camel(name: str) -> str:
    """``order_line`` → ``orderLine``; camelCase names are returned unchanged."""
    if "_" not in name.strip("_"):
        return name
    head, *rest = [part for part in name.split("_") if part]
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _leaf(node: _Node) -> str:
    return "".join(node.text)


def _value(node: _Node, key: str) -> Any:
    if key in LIST_ITEMS:
        return _items(node, LIST_ITEMS[key])
    if not node.children:
        return _leaf(node)
    return _object(node, free_form=key in FREE_FORM)


def _items(wrapper: _Node, item: str) -> list[Any]:
    # Only the item elements count; a wrapper of the other spelling (order_lines/order_line) maps here.
    return [_value(child, item) for child in wrapper.children if camel(child.name) == item]


def _put(result: dict[str, Any], key: str, value: Any, repeated: set[str]) -> None:
    if key not in result:
        result[key] = value
    elif key in repeated:
        result[key].append(value)
    else:  # a second element where the standard has one: keep both
        result[key] = [result[key], value]
        repeated.add(key)


def _object(node: _Node, *, free_form: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {}
    repeated: set[str] = set()
    for child in node.children:
        key = child.name if free_form else camel(child.name)
        if free_form:
            _put(result, key, _leaf(child) if not child.children else _object(child, free_form=True), repeated)
        elif key in BARE_ITEMS:  # an unwrapped item (older SDKs): into its wrapper's list
            result.setdefault(BARE_ITEMS[key], []).append(_value(child, key))
        elif key in LIST_ITEMS:
            if key in result and isinstance(result[key], list):
                result[key].extend(_value(child, key))  # a wrapper split in two, or bare items before it
            else:
                result[key] = _value(child, key)
        else:
            _put(result, key, _value(child, key), repeated)
    return result


def _parse(body: str | bytes, root: str) -> dict[str, Any]:
    if isinstance(body, bytes | bytearray):
        body = bytes(body)
    node = _tree(body)
    if node.name != root:
        raise QimenXmlError("wrong-root", f"the root element is <{node.name[:50]}>, not <{root}>")
    return _object(node)


def parse_request(body: str | bytes) -> dict[str, Any]:
    """A ``<request>`` document as nested dicts: canonical camelCase keys, ``str`` leaves, lists as lists.

    Raises :class:`QimenXmlError` for a body that is not well-formed XML, carries a DTD, has another
    root or nests too deeply."""
    return _parse(body, REQUEST_ROOT)


def parse_response(body: str | bytes) -> dict[str, Any]:
    """A ``<response>`` document (``flag``, ``code``, ``message`` and the method's fields), as
    :func:`parse_request` gives a request."""
    return _parse(body, RESPONSE_ROOT)


def response_xml(flag: str, code: str, message: str, **fields: Any) -> str:
    """The compact ``<response>`` envelope (§2) with the declaration: what a receiver answers."""
    return serialize({"flag": flag, "code": code, "message": message, **fields}, root=RESPONSE_ROOT)
