"""A compact entity data model and the EDMX (OData V2 ``$metadata``) written from it.

Each service in :mod:`sandbox.sap.services` lists only the entity types, properties, navigation
properties and function imports the hub uses, in a one-line-per-property notation, e.g.
``"SalesOrder S10 K U"``:

type   ``S10`` String MaxLength 10 · ``S`` String · ``D16.3`` Decimal(16,3) · ``DT`` date
       (DateTime, Precision 0, display-format Date) · ``DT0``/``DT7`` DateTime with that precision ·
       ``DTO7`` DateTimeOffset(7) · ``T0`` Time(0) · ``B`` Boolean · ``I32`` Int32
flags  ``K`` key (Nullable=false) · ``NN`` Nullable=false · ``RO`` creatable and updatable false ·
       ``NC`` creatable false · ``NU`` updatable false · ``NF`` filterable false · ``NS`` sortable false ·
       ``ETAG`` ConcurrencyMode=Fixed · ``U`` UpperCase · ``N`` NonNegative · ``u:<Prop>`` sap:unit ·
       ``cur`` / ``uom`` semantics currency-code / unit-of-measure

The metadata is the project's own, generated from these lists; the properties match SAP's published
metadata field for field (tests/sandbox/test_sap_units.py compares them when the reference is at hand).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from xml.sax.saxutils import quoteattr

EDMX_NS = "http://schemas.microsoft.com/ado/2007/06/edmx"
M_NS = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
SAP_NS = "http://www.sap.com/Protocols/SAPData"
EDM_NS = "http://schemas.microsoft.com/ado/2008/09/edm"


@dataclass(frozen=True)
class Prop:
    name: str
    type: str
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True
    creatable: bool = True
    updatable: bool = True
    filterable: bool = True
    sortable: bool = True
    etag: bool = False
    display_format: str | None = None
    unit: str | None = None
    semantics: str | None = None
    key: bool = False


_TYPES = {
    "S": ("Edm.String", None),
    "DT": ("Edm.DateTime", 0),
    "DT0": ("Edm.DateTime", 0),
    "DT7": ("Edm.DateTime", 7),
    "DTO7": ("Edm.DateTimeOffset", 7),
    "T0": ("Edm.Time", 0),
    "B": ("Edm.Boolean", None),
    "I32": ("Edm.Int32", None),
}


def prop(spec: str) -> Prop:
    """One property from the notation in the module docstring."""
    name, type_code, *flags = spec.split()
    kwargs: dict[str, object] = {}
    if type_code.startswith("D") and type_code[1:2].isdigit():
        precision, scale = type_code[1:].split(".")
        kwargs.update(type="Edm.Decimal", precision=int(precision), scale=int(scale))
    elif type_code.startswith("S") and type_code[1:].isdigit():
        kwargs.update(type="Edm.String", max_length=int(type_code[1:]))
    else:
        edm_type, precision = _TYPES[type_code]
        kwargs.update(type=edm_type, precision=precision)
        if type_code == "DT":
            kwargs["display_format"] = "Date"
    for flag in flags:
        if flag == "K":
            kwargs.update(key=True, nullable=False)
        elif flag == "NN":
            kwargs["nullable"] = False
        elif flag == "RO":
            kwargs.update(creatable=False, updatable=False)
        elif flag == "NC":
            kwargs["creatable"] = False
        elif flag == "NU":
            kwargs["updatable"] = False
        elif flag == "NF":
            kwargs["filterable"] = False
        elif flag == "NS":
            kwargs["sortable"] = False
        elif flag == "ETAG":
            kwargs["etag"] = True
        elif flag == "U":
            kwargs["display_format"] = "UpperCase"
        elif flag == "N":
            kwargs["display_format"] = "NonNegative"
        elif flag.startswith("u:"):
            kwargs["unit"] = flag[2:]
        elif flag == "cur":
            kwargs["semantics"] = "currency-code"
        elif flag == "uom":
            kwargs["semantics"] = "unit-of-measure"
        else:
            raise ValueError(f"unknown flag {flag!r} in {spec!r}")
    return Prop(name=name, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Nav:
    """A navigation property to ``target`` (an entity set name); ``link`` pairs parent and child
    properties that must be equal, which is how the store finds the children."""

    name: str
    target: str
    many: bool
    link: tuple[tuple[str, str], ...]


@dataclass
class EntityType:
    name: str
    props: list[Prop]
    navs: list[Nav] = field(default_factory=list)

    @cached_property
    def by_name(self) -> dict[str, Prop]:
        return {p.name: p for p in self.props}

    @cached_property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.props if p.key)

    @cached_property
    def nav_by_name(self) -> dict[str, Nav]:
        return {n.name: n for n in self.navs}

    @cached_property
    def etag_prop(self) -> Prop | None:
        return next((p for p in self.props if p.etag), None)


@dataclass
class EntitySet:
    name: str
    type: EntityType
    creatable: bool = True
    updatable: bool = True
    deletable: bool = True
    content_version: str = "1"


@dataclass
class ComplexType:
    name: str
    props: list[Prop]


@dataclass
class FunctionImport:
    name: str
    return_type: str  # a complex type name, or "Collection(<complex type name>)"
    http_method: str
    params: list[Prop]
    action_for: str | None = None  # entity type name
    # The entity set of an entity (or entity collection) result: OData V2 requires it in $metadata,
    # and clients (pyodata) find the result's type through it. None for complex results.
    entity_set: str | None = None

    @property
    def returns_collection(self) -> bool:
        return self.return_type.startswith("Collection(")

    @property
    def result_type(self) -> str:
        return self.return_type.removeprefix("Collection(").removesuffix(")")


@dataclass
class Service:
    name: str  # technical name, also the schema namespace, e.g. API_OUTBOUND_DELIVERY_SRV
    path: str  # as in the URL, e.g. API_OUTBOUND_DELIVERY_SRV;v=0002
    component_id: str  # application component named in error bodies
    entity_sets: list[EntitySet]
    complex_types: list[ComplexType] = field(default_factory=list)
    functions: list[FunctionImport] = field(default_factory=list)
    version: str = "0001"

    @cached_property
    def set_by_name(self) -> dict[str, EntitySet]:
        return {s.name: s for s in self.entity_sets}

    @cached_property
    def function_by_name(self) -> dict[str, FunctionImport]:
        return {f.name: f for f in self.functions}

    @cached_property
    def complex_by_name(self) -> dict[str, ComplexType]:
        return {c.name: c for c in self.complex_types}

    def set_of_type(self, type_name: str) -> EntitySet:
        return next(s for s in self.entity_sets if s.type.name == type_name)

    def qualified(self, type_name: str) -> str:
        return f"{self.name}.{type_name}"

    @cached_property
    def metadata_xml(self) -> bytes:
        return write_edmx(self).encode("utf-8")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _prop_xml(p: Prop, *, in_entity: bool = True) -> str:
    attrs = [f'Name="{p.name}"', f'Type="{p.type}"']
    if not p.nullable:
        attrs.append('Nullable="false"')
    if p.max_length is not None:
        attrs.append(f'MaxLength="{p.max_length}"')
    if p.precision is not None:
        attrs.append(f'Precision="{p.precision}"')
    if p.scale is not None:
        attrs.append(f'Scale="{p.scale}"')
    if p.etag:
        attrs.append('ConcurrencyMode="Fixed"')
    if p.display_format:
        attrs.append(f'sap:display-format="{p.display_format}"')
    if p.unit:
        attrs.append(f'sap:unit="{p.unit}"')
    if in_entity:
        if not p.creatable:
            attrs.append('sap:creatable="false"')
        if not p.updatable:
            attrs.append('sap:updatable="false"')
        if not p.sortable:
            attrs.append('sap:sortable="false"')
        if not p.filterable:
            attrs.append('sap:filterable="false"')
    if p.semantics:
        attrs.append(f'sap:semantics="{p.semantics}"')
    return f"<Property {' '.join(attrs)}/>"


def _assoc_name(entity_type: EntityType, nav: Nav) -> str:
    return f"assoc_{entity_type.name}_{nav.name}"


def write_edmx(service: Service) -> str:
    ns = service.name
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<edmx:Edmx Version="1.0" xmlns:edmx="{EDMX_NS}" xmlns:m="{M_NS}" xmlns:sap="{SAP_NS}">',
        '<edmx:DataServices m:DataServiceVersion="2.0">',
        f'<Schema Namespace="{ns}" xml:lang="en" sap:schema-version="1" xmlns="{EDM_NS}">',
    ]
    associations: list[str] = []
    association_sets: list[str] = []
    for es in service.entity_sets:
        et = es.type
        out.append(f'<EntityType Name="{et.name}" sap:content-version="{es.content_version}">')
        out.append("<Key>" + "".join(f'<PropertyRef Name="{k}"/>' for k in et.keys) + "</Key>")
        out.extend(_prop_xml(p) for p in et.props)
        for nav in et.navs:
            assoc = _assoc_name(et, nav)
            out.append(
                f'<NavigationProperty Name="{nav.name}" Relationship="{ns}.{assoc}" '
                f'FromRole="FromRole_{assoc}" ToRole="ToRole_{assoc}"/>'
            )
            target = service.set_by_name[nav.target]
            associations.append(
                f'<Association Name="{assoc}" sap:content-version="1">'
                f'<End Type="{ns}.{et.name}" Multiplicity="1" Role="FromRole_{assoc}"/>'
                f'<End Type="{ns}.{target.type.name}" Multiplicity="{"*" if nav.many else "0..1"}" '
                f'Role="ToRole_{assoc}"/>' + _constraint(assoc, nav) + "</Association>"
            )
            association_sets.append(
                f'<AssociationSet Name="{assoc}" Association="{ns}.{assoc}" sap:creatable="false" '
                f'sap:updatable="false" sap:deletable="false" sap:content-version="1">'
                f'<End EntitySet="{es.name}" Role="FromRole_{assoc}"/>'
                f'<End EntitySet="{target.name}" Role="ToRole_{assoc}"/></AssociationSet>'
            )
        out.append("</EntityType>")
    for ct in service.complex_types:
        out.append(f'<ComplexType Name="{ct.name}">')
        out.extend(_prop_xml(p, in_entity=False) for p in ct.props)
        out.append("</ComplexType>")
    out.extend(associations)
    out.append(
        f'<EntityContainer Name="{ns}_Entities" m:IsDefaultEntityContainer="true" '
        'sap:supported-formats="atom json xlsx">'
    )
    for es in service.entity_sets:
        flags = "".join(
            f' sap:{name}="false"'
            for name, allowed in (("creatable", es.creatable), ("updatable", es.updatable), ("deletable", es.deletable))
            if not allowed
        )
        out.append(
            f'<EntitySet Name="{es.name}" EntityType="{ns}.{es.type.name}"{flags} '
            f'sap:content-version="{es.content_version}"/>'
        )
    out.extend(association_sets)
    for fn in service.functions:
        return_type = f"Collection({ns}.{fn.result_type})" if fn.returns_collection else f"{ns}.{fn.result_type}"
        action = f' sap:action-for="{ns}.{fn.action_for}"' if fn.action_for else ""
        target = f' EntitySet="{fn.entity_set}"' if fn.entity_set else ""
        out.append(
            f'<FunctionImport Name="{fn.name}" ReturnType="{return_type}"{target} '
            f'm:HttpMethod="{fn.http_method}"{action}>'
        )
        for p in fn.params:
            attrs = [f'Name="{p.name}"', f'Type="{p.type}"', 'Mode="In"']
            if p.max_length is not None:
                attrs.append(f'MaxLength="{p.max_length}"')
            if p.precision is not None:
                attrs.append(f'Precision="{p.precision}"')
            if p.scale is not None:
                attrs.append(f'Scale="{p.scale}"')
            out.append(f"<Parameter {' '.join(attrs)}/>")
        out.append("</FunctionImport>")
    out.append("</EntityContainer>")
    root = f"/sap/opu/odata/sap/{service.path}/$metadata"
    out.append(f'<atom:link rel="self" href={quoteattr(root)} xmlns:atom="http://www.w3.org/2005/Atom"/>')
    out.append(f'<atom:link rel="latest-version" href={quoteattr(root)} xmlns:atom="http://www.w3.org/2005/Atom"/>')
    out.append("</Schema></edmx:DataServices></edmx:Edmx>")
    return "".join(out)


def _constraint(assoc: str, nav: Nav) -> str:
    if not nav.many:
        return ""
    principal = "".join(f'<PropertyRef Name="{parent}"/>' for parent, _ in nav.link)
    dependent = "".join(f'<PropertyRef Name="{child}"/>' for _, child in nav.link)
    return (
        f'<ReferentialConstraint><Principal Role="FromRole_{assoc}">{principal}</Principal>'
        f'<Dependent Role="ToRole_{assoc}">{dependent}</Dependent></ReferentialConstraint>'
    )
