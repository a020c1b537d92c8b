"""The suites of the data-quality gates, one entry per gate (DESIGN §5).

A gate for a later step (SAP postings, shipment notices, stock counts, settlement lines) is one more
entry in :data:`SUITES`; the gate machinery needs no change. Rules are declared with the helpers of
:mod:`quality.spec` and turned into GX expectations only when a gate runs.

Frame suites (``raw_crm_orders``, ``accepted_orders``) run through :func:`quality.gate.run_gate`;
table suites (``*_table``) validate a hub table in the database through
:func:`quality.sql_gate.run_table_gate`, where nothing is quarantined and every rule blocks.
"""

from __future__ import annotations

from functools import partial

from hub.lifecycle import SHIPPABLE
from hub.schema import ORDER_STATES
from quality.checks import (
    control_total_mismatches,
    net_amount_mismatches,
    no_quantity,
    other_carrier_unnamed,
    over_confirmed,
    sap_net_deviations,
    tracking_missing,
    unit_not_base,
)
from quality.limits import (
    ACCEPTED_TEXT_FIELDS,
    AMOUNT_BELOW,
    FIELD_LIMITS,
    RAW_NUMBER_FIELDS,
    RAW_TEXT_FIELDS,
    Number,
    amount_violations,
    describe,
    plain,
    row_violations,
)
from quality.spec import (
    RowCheck,
    Rule,
    SuiteSpec,
    TableCheck,
    between,
    columns_present,
    equal_columns,
    in_set,
    matches,
    not_null,
    row_count_between,
    unique_together,
)
from transforms.crm_orders import RAW_REQUIRED
from transforms.outbound_orders import CARRIERS

# Currencies the hub can price, post and settle: each needs its minor unit known downstream, so a
# new one is added here on purpose, never accepted by default.
ACCEPTED_CURRENCIES: tuple[str, ...] = ("CNY", "EUR", "GBP", "HKD", "JPY", "SGD", "USD")


def enabled_crms() -> list[str]:
    """The ``source`` values a gate accepts by default: the CRMs the settings enable (``crm.enabled``,
    names of the CRM adapters registered in connectors/crm/); a caller may pass ``crm_sources``."""
    from hub.settings import get_settings

    return list(get_settings().crm.enabled)


_CRM_SOURCES = {"$PARAMETER": "crm_sources"}
_CRM_SOURCE_TEXT = "source must be a CRM enabled in the settings (crm.enabled)"


# What the frame builder of crm_order_sync promises on every raw line.
RAW_CRM_ORDER_COLUMNS = RAW_REQUIRED

ACCEPTED_ORDER_COLUMNS = (
    "record_key",
    "customer_number",
    "material",
    "quantity",
    "unit_price",
    "net_amount",
    "tax_amount",
    "currency",
    "plant",
    "order_net_amount",
)


def _lower_bound(column: str) -> Rule:
    """The GX ``between`` rule of a number's lower bound in :data:`quality.limits.FIELD_LIMITS`."""
    limit = FIELD_LIMITS[column]
    assert isinstance(limit, Number)
    return between(column, int(limit.low), strict_min=limit.low_strict)  # GX kwargs must be JSON


# Numbers whose lower bound is a GX rule: the required ones (a GX rule on an optional column that a
# frame lacks could not be evaluated and would block). Optional numbers get it from their row check.
_GX_LOWER = tuple(c for c in RAW_NUMBER_FIELDS if c in RAW_REQUIRED)


def _fits(*columns: str) -> tuple[RowCheck, ...]:
    """One check per field against the rest of its limits (length, characters, bounds, scale)."""
    return tuple(
        RowCheck(
            "expect_column_values_to_fit_limits",
            column,
            partial(row_violations, column, lower=column not in _GX_LOWER),
            says=describe(column, lower=column not in _GX_LOWER),
        )
        for column in columns
    )


_CURRENCY_TEXT = f"currency must be an accepted ISO-4217 code ({', '.join(ACCEPTED_CURRENCIES)})"

RAW_CRM_ORDERS = SuiteSpec(
    description=(
        "One row per CRM order line as pulled. quantity and unit_price are numbers (int, float or "
        "Decimal) with None/NaN where the CRM value was missing or unparseable: the frame builder "
        "converts, the not-null rules quarantine. A column still holding text is a builder bug and "
        "blocks the gate, because the range rules cannot be evaluated on it."
    ),
    rules=(
        columns_present(*RAW_CRM_ORDER_COLUMNS),
        *not_null(*RAW_CRM_ORDER_COLUMNS),
        in_set("source", _CRM_SOURCES, says=_CRM_SOURCE_TEXT),
        in_set("currency", ACCEPTED_CURRENCIES, says=_CURRENCY_TEXT),
        # Lower bounds from the limits table; the other limits are the row checks below.
        *(_lower_bound(c) for c in _GX_LOWER),
        unique_together(
            "source",
            "crm_order_id",
            "line_no",
            says="line_no must be unique within the order",
            fix="line_no",
        ),
        # A line priced from another currency's price book carries that currency's amount.
        equal_columns("line_currency", "currency", says="the line's price currency must be the order currency"),
    ),
    row_checks=(
        *_fits(*RAW_TEXT_FIELDS, *RAW_NUMBER_FIELDS),
        RowCheck(
            "expect_amounts_to_fit_money_columns",
            "quantity",
            amount_violations,
            says=f"quantity × unit_price and the order's gross amount must be < {plain(AMOUNT_BELOW)}",
        ),
    ),
    noun="order",
    label_column="order_number",
    line_column="line_no",
    parameters={"crm_sources": enabled_crms},
)

ACCEPTED_ORDERS = SuiteSpec(
    description=(
        "Canonical order lines after mapping and review; record_key is the order, order_net_amount "
        "the header net amount repeated on each of its lines. Amounts are Decimal (or numbers)."
    ),
    rules=(
        columns_present(*ACCEPTED_ORDER_COLUMNS),
        *not_null(*ACCEPTED_ORDER_COLUMNS),
        between("quantity", 0, strict_min=True),
        between("unit_price", 0),
        between("net_amount", 0),
        between("tax_amount", 0),
        in_set("currency", ACCEPTED_CURRENCIES, says=_CURRENCY_TEXT),
        matches("plant", r"^[0-9A-Z]{4}$", says="plant must be a 4-character plant code"),
    ),
    row_checks=(
        *_fits(*ACCEPTED_TEXT_FIELDS),
        RowCheck(
            "expect_net_amount_to_equal_quantity_times_unit_price_less_discount",
            "net_amount",
            net_amount_mismatches,
            says="net_amount must equal quantity × unit_price − discount within 0.01",
        ),
    ),
    table_checks=(
        TableCheck(
            "expect_order_net_amount_to_equal_sum_of_line_net_amounts",
            "order_net_amount",
            control_total_mismatches,
            says="the line net amounts of each order must add up to its header net amount",
        ),
    ),
    noun="order",
    label_column="order_number",
    line_column="line_no",
)

# Table suites: validated inside the database, so they must use only rules every backend compiles
# to SQL (no regex: SQLite has none). Not-null rules cover only columns the schema leaves nullable;
# the database already refuses NULL in the others. Value ranges and sets have no CHECK constraint.
ORDERS_TABLE = SuiteSpec(
    description="The hub's canonical order headers (table orders).",
    rules=(
        columns_present(
            "source",
            "crm_order_id",
            "order_number",
            "customer_number",
            "currency",
            "net_amount",
            "tax_amount",
            "gross_amount",
            "line_count",
            "status",
        ),
        row_count_between({"$PARAMETER": "min_rows"}, says="the table must hold at least $min_rows orders"),
        # Accepted means mapped: an order header without its ERP customer cannot be posted.
        *not_null("customer_number", blocking=True),
        in_set("source", _CRM_SOURCES, blocking=True, says=_CRM_SOURCE_TEXT),
        in_set("currency", ACCEPTED_CURRENCIES, blocking=True, says=_CURRENCY_TEXT),
        in_set("status", ORDER_STATES, blocking=True),
        between("net_amount", 0, blocking=True),
        between("tax_amount", 0, blocking=True),
        between("gross_amount", 0, blocking=True),
        between("line_count", 1, blocking=True),
    ),
    noun="order",
    parameters={"min_rows": 0, "crm_sources": enabled_crms},
)

ORDER_LINES_TABLE = SuiteSpec(
    description="The hub's canonical order lines (table order_lines).",
    rules=(
        columns_present(
            "source",
            "crm_order_id",
            "line_no",
            "material",
            "quantity",
            "unit_price",
            "discount",
            "net_amount",
            "tax_amount",
            "currency",
            "plant",
        ),
        row_count_between({"$PARAMETER": "min_rows"}, says="the table must hold at least $min_rows lines"),
        *not_null("plant", blocking=True),
        between("line_no", 1, blocking=True),
        between("quantity", 0, strict_min=True, blocking=True),
        between("unit_price", 0, blocking=True),
        between("discount", 0, blocking=True),
        between("net_amount", 0, blocking=True),
        between("tax_amount", 0, blocking=True),
        in_set("currency", ACCEPTED_CURRENCIES, blocking=True, says=_CURRENCY_TEXT),
    ),
    noun="order line",
    parameters={"min_rows": 0},
)

SAP_POSTING_COLUMNS = (
    "record_key",
    "order_number",
    "line_no",
    "sap_order",
    "material",
    "ordered_qty",
    "confirmed_qty",
    "currency",
    "sap_currency",
    "order_net_amount",
    "sap_net_amount",
)

SAP_POSTINGS = SuiteSpec(
    description=(
        "One row per line of each order posted to SAP in the run, with what SAP answered: its order "
        "number, confirmed quantity, currency and net amount (header values repeated on each line). "
        "A failing order is held for a human before the customer is told anything."
    ),
    rules=(
        columns_present(*SAP_POSTING_COLUMNS),
        *not_null("record_key", "order_number", "sap_order", "confirmed_qty", "sap_currency"),
        matches("sap_order", r"^[0-9]{1,10}$", says="sap_order must be SAP's document number (1-10 digits)"),
        between("confirmed_qty", 0),
        equal_columns("sap_currency", "currency", says="SAP must book the order in the order's currency"),
    ),
    row_checks=(
        RowCheck(
            "expect_confirmed_qty_to_not_exceed_ordered_qty",
            "confirmed_qty",
            over_confirmed,
            says="SAP cannot confirm more than was ordered",
        ),
        RowCheck(
            "expect_sap_net_amount_to_match_order_net_amount",
            "sap_net_amount",
            sap_net_deviations,
            says="SAP's net amount must be within 2 % of the order's net amount",
        ),
    ),
    noun="order",
    label_column="order_number",
    line_column="line_no",
)

SHIPMENT_NOTICE_COLUMNS = (
    "record_key",
    "delivery",
    "line_no",
    "sap_order",
    "order_state",
    "material",
    "plant",
    "warehouse",
    "delivery_qty",
    "confirmed_qty",
)

SHIPMENT_NOTICES = SuiteSpec(
    description=(
        "One row per item of each new SAP outbound delivery of a 3PL plant, with the hub's view of its "
        "sales order. A failing delivery is held back: the warehouse never gets it."
    ),
    rules=(
        columns_present(*SHIPMENT_NOTICE_COLUMNS),
        *not_null("record_key", "delivery", "material", "warehouse"),
        Rule(
            "expect_column_values_to_not_be_null",
            {"column": "order_state"},
            says="the delivery's sales order must be one the hub posted to SAP",
        ),
        in_set(
            "order_state",
            SHIPPABLE,
            says=f"the order must be in SAP and confirmed to the customer ({', '.join(SHIPPABLE)})",
        ),
        between("delivery_qty", 0, strict_min=True, says="a delivery item must carry a positive quantity"),
    ),
    row_checks=(
        RowCheck(
            "expect_delivery_qty_to_not_exceed_confirmed_qty",
            "delivery_qty",
            partial(over_confirmed, ordered="confirmed_qty", confirmed="delivery_qty", verb="delivers"),
            says="SAP cannot deliver more than it confirmed for the order line",
        ),
    ),
    noun="delivery",
    label_column="delivery",
    line_column="line_no",
)

SHIPMENT_CONFIRM_COLUMNS = (
    "record_key",
    "delivery",
    "line_no",
    "delivery_status",
    "planned_qty",
    "shipped_qty",
    "carrier_code",
    "carrier_name",
    "tracking_number",
    "needs_tracking",
)

SHIPMENT_CONFIRMS = SuiteSpec(
    description=(
        "One row per line of each stockout.confirm the warehouse pushed, with the delivery it names and "
        "what was shipped of it so far (this confirm included). A failing confirmation is quarantined "
        "with the field; SAP's goods issue waits for it."
    ),
    rules=(
        columns_present(*SHIPMENT_CONFIRM_COLUMNS),
        *not_null("record_key", "delivery", "line_no", "shipped_qty"),
        Rule(
            "expect_column_values_to_not_be_null",
            {"column": "delivery_status"},
            says="the confirmation must name a delivery the hub sent to the warehouse",
        ),
        in_set(
            "delivery_status",
            ("sent", "shipped"),
            says="only a delivery on its way through the warehouse can be confirmed (not cancelled or issued)",
        ),
        in_set(
            "carrier_code",
            tuple(CARRIERS),
            says="logisticsCode must be a Qimen carrier code (reference §3.10) or OTHER",
        ),
        between("shipped_qty", 0, says="actualQty cannot be negative"),
    ),
    row_checks=(
        RowCheck(
            "expect_shipped_qty_to_not_exceed_planned_qty",
            "shipped_qty",
            partial(over_confirmed, ordered="planned_qty", confirmed="shipped_qty", verb="shipped"),
            says="the warehouse cannot ship more than the delivery holds",
        ),
        RowCheck(
            "expect_other_carrier_to_be_named",
            "carrier_name",
            other_carrier_unnamed,
            says="logisticsCode OTHER needs logisticsName",
        ),
        RowCheck(
            "expect_tracking_number_where_the_transport_has_one",
            "tracking_number",
            tracking_missing,
            says="a parcel sent by a carrier needs its tracking number (expressCode); a customer pickup has none",
        ),
    ),
    noun="confirmation",
    label_column="delivery",
    line_column="line_no",
)

STOCK_TYPES = ("01", "02", "07")  # SAP InventoryStockType: unrestricted, quality inspection, blocked

BOOK_STOCK_TABLE = SuiteSpec(
    description="SAP's book stock per business day, plant, storage location, batch and stock type (table book_stock).",
    rules=(
        columns_present("business_day", "plant", "storage_location", "material", "batch", "stock_type", "quantity"),
        row_count_between({"$PARAMETER": "min_rows"}, says="SAP must report stock for at least $min_rows items"),
        *not_null("plant", "material", "stock_type", "quantity", blocking=True),
        in_set("stock_type", STOCK_TYPES, blocking=True, says="stock type must be 01, 02 or 07"),
        between("quantity", 0, blocking=True, says="SAP book stock cannot be negative"),
    ),
    noun="stock row",
    parameters={"min_rows": 0},
)

WAREHOUSE_COUNT_COLUMNS = (
    "record_key",
    "document",
    "plant",
    "material",
    "stock_type",
    "physical",
    "difference",
    "unit",
    "base_unit",
    "known_material",
)

WAREHOUSE_COUNTS = SuiteSpec(
    description=(
        "One row per item of each count the warehouse reported (inventory.report, a count sheet) or of its "
        "stock (inventory.query). A failing line is quarantined with the field; the rest of the count is used."
    ),
    rules=(
        columns_present(*WAREHOUSE_COUNT_COLUMNS),
        *not_null("record_key", "document", "plant", "material"),
        Rule(
            "expect_column_values_to_be_in_set",
            {"column": "known_material", "value_set": [True]},
            says="the material must be one the ERP knows (materials master); a count of an unknown item waits "
            "for master data",
            fix="material",
        ),
        in_set("stock_type", STOCK_TYPES, says="inventoryType must map to a SAP stock type (ZP, CC, JS, XS)"),
        between("physical", 0, says="a counted quantity cannot be negative"),
    ),
    row_checks=(
        RowCheck(
            "expect_unit_to_be_the_base_unit",
            "unit",
            unit_not_base,
            says="a count must be in the material's base unit",
        ),
        RowCheck(
            "expect_physical_or_difference",
            "physical",
            no_quantity,
            says="a count needs the counted quantity (totalQty) or the difference (quantity)",
        ),
    ),
    noun="count line",
    label_column="document",
    line_column="material",
)

COUNT_RESULTS_TABLE = SuiteSpec(
    description="Book against physical per business day and item (table count_results).",
    rules=(
        columns_present("business_day", "plant", "material", "stock_type", "status", "book_qty", "physical_qty"),
        row_count_between({"$PARAMETER": "min_rows"}),
        *not_null("status", "book_qty", "physical_qty", "difference_qty", "difference_value", blocking=True),
        in_set("status", ("matched", "explained", "recount", "adjust"), blocking=True),
        in_set("movement_type", ("701", "702", "703", "704", "707", "708"), blocking=True),
        in_set("stock_type", STOCK_TYPES, blocking=True),
        between("book_qty", 0, blocking=True),
    ),
    noun="count result",
    parameters={"min_rows": 0},
)

DEMAND_FORECASTS_TABLE = SuiteSpec(
    description="Each planning week's forecast per material and plant (table demand_forecasts).",
    rules=(
        columns_present("planning_week", "material", "plant", "demand_class", "model", "demand_per_day"),
        row_count_between({"$PARAMETER": "min_rows"}),
        *not_null("demand_class", "model", "history", "forecast", "demand_per_day", "error_sd_per_day", blocking=True),
        in_set("demand_class", ("smooth", "intermittent", "erratic", "lumpy", "too_short"), blocking=True),
        between("demand_per_day", 0, blocking=True, says="a forecast is never negative demand"),
        between("error_sd_per_day", 0, blocking=True),
    ),
    noun="demand forecast",
    parameters={"min_rows": 0},
)

REPLENISHMENT_PROPOSALS_TABLE = SuiteSpec(
    description="What to buy per planning week, plant and material (table replenishment_proposals).",
    rules=(
        columns_present("planning_week", "plant", "material", "order_qty", "proposed_qty", "value", "budget_status"),
        row_count_between({"$PARAMETER": "min_rows"}),
        *not_null("order_qty", "proposed_qty", "value", "unit_cost", "currency", "priority", blocking=True),
        between("order_qty", 0, strict_min=True, blocking=True, says="a proposal orders something"),
        between("proposed_qty", 0, blocking=True),
        between("value", 0, blocking=True),
        between("priority", 1, blocking=True),
        Rule(
            "expect_column_pair_values_a_to_be_greater_than_b",
            {"column_A": "order_qty", "column_B": "proposed_qty", "or_equal": True},
            blocking=True,
            says="the budget only ever cuts a proposal, never raises it",
        ),
        in_set("budget_status", ("within", "partly_cut", "cut", "no_budget"), blocking=True),
        in_set("decision", ("proposed", "approved", "rejected", "requested"), blocking=True),
    ),
    noun="replenishment proposal",
    parameters={"min_rows": 0},
)

SUITES: dict[str, SuiteSpec] = {
    "raw_crm_orders": RAW_CRM_ORDERS,
    "accepted_orders": ACCEPTED_ORDERS,
    "sap_postings": SAP_POSTINGS,
    "shipment_notices": SHIPMENT_NOTICES,
    "shipment_confirms": SHIPMENT_CONFIRMS,
    "orders_table": ORDERS_TABLE,
    "order_lines_table": ORDER_LINES_TABLE,
    "book_stock": BOOK_STOCK_TABLE,
    "warehouse_counts": WAREHOUSE_COUNTS,
    "count_results": COUNT_RESULTS_TABLE,
    "demand_forecasts": DEMAND_FORECASTS_TABLE,
    "replenishment_proposals": REPLENISHMENT_PROPOSALS_TABLE,
}


def get_suite(name: str) -> SuiteSpec:
    """The suite registered as ``name``; the error lists the known ones."""
    try:
        return SUITES[name]
    except KeyError:
        raise KeyError(f"no data-quality suite {name!r}; known: {', '.join(sorted(SUITES))}") from None
