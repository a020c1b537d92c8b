"""Hub settings: one TOML file, overridable per key from the environment, validated at start.

The file is ``config/hub.toml`` (or ``$HUB_SETTINGS_FILE``). An environment variable
``HUB__<SECTION>__<KEY>`` (or ``HUB__<SECTION>__<SUB>__<KEY>``) overrides one key, so a
deployment changes a tolerance without editing the file. Validation errors name the key and
where its value came from, because "invalid settings" alone sends operators hunting.
"""

from __future__ import annotations

import os
import tomllib
from datetime import datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = PROJECT_ROOT / "config" / "hub.toml"
ENV_PREFIX = "HUB__"

# A CRM's name as the registry of CRM adapters (connectors/crm/) knows it; that the name is registered
# is checked where the registry is in reach: connectors.crm.enabled (the flows, `hub settings check`).
CrmName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,15}$")]
Percent = Annotated[Decimal, Field(ge=0, le=100)]
Fraction = Annotated[Decimal, Field(ge=0, le=1)]


class SettingsError(ValueError):
    """Raised when the settings file or an override is invalid; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSection(_Section):
    language: Literal["zh", "en"] = "zh"
    output_dir: Path = Path("output")
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class CrmSection(_Section):
    enabled: list[CrmName]  # the CRMs to pull from and confirm to, by adapter name (config/hub.toml)
    overlap_seconds: int = Field(default=120, ge=0, le=3600)
    # Where the first pull of a CRM starts (later pulls start at the high-water mark). None: the
    # first scheduled run's data interval start.
    initial_pull_from: datetime | None = None

    @field_validator("initial_pull_from", mode="before")
    @classmethod
    def _aware_instant(cls, value: object) -> object:
        if value is None or value == "":
            return None
        parsed = value
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                parsed = None
        if not isinstance(parsed, datetime) or parsed.tzinfo is None:
            raise ValueError("must be an ISO-8601 instant with an offset, e.g. 2026-10-01T00:00:00Z")
        return parsed


class MasterDataSection(_Section):
    extract_dir: Path = Path("input/masterdata")


class PlantsSection(_Section):
    codes: list[Annotated[str, Field(pattern=r"^[0-9A-Z]{4}$")]] = Field(min_length=1)
    default: str

    @field_validator("default")
    @classmethod
    def _default_is_listed(cls, value: str, info) -> str:  # noqa: ANN001 - pydantic's ValidationInfo
        codes = info.data.get("codes") or []
        if codes and value not in codes:
            raise ValueError(f"plant {value!r} is not one of plants.codes {codes}")
        return value


class TolerancesSection(_Section):
    price_pct: Percent = Decimal("2.0")
    count_qty: Annotated[Decimal, Field(ge=0)] = Decimal("0")
    count_value: Annotated[Decimal, Field(ge=0)] = Decimal("500.00")


class TaxSection(_Section):
    rounding_scope: Literal["per_line", "per_document"] = "per_line"
    rounding_mode: Literal["ROUND_HALF_UP", "ROUND_HALF_EVEN"] = "ROUND_HALF_UP"
    rates: dict[Annotated[str, Field(pattern=r"^[A-Z]{2}$")], Fraction] = Field(default_factory=dict)

    @property
    def decimal_rounding(self) -> str:
        return {"ROUND_HALF_UP": ROUND_HALF_UP, "ROUND_HALF_EVEN": ROUND_HALF_EVEN}[self.rounding_mode]


AlertChannel = Literal["email", "wecom", "dingtalk", "webhook"]
AlertSeverity = Literal["info", "warning", "critical"]
AlertType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


def _default_alert_channels() -> dict[str, list[str]]:
    return {"info": ["email"], "warning": ["email", "wecom"], "critical": ["email", "wecom", "dingtalk"]}


class AlertsSection(_Section):
    email_to: list[str] = Field(default_factory=list)  # operations mailboxes for alerts (smtp_default)
    quarantine_rate_pct: Percent = Decimal("5.0")
    ledger_failed: int = Field(default=1, ge=1)
    backorder_age_days: int = Field(default=7, ge=1)
    # An order line is late once its confirmed date lies this many days behind the business day.
    order_delay_grace_days: int = Field(default=0, ge=0, le=60)
    # Suppression: the same alert (type + key) is raised once per window; while it stays open a
    # reminder goes out after reminder_hours; a "resolved" message when it clears.
    window_minutes: int = Field(default=60, ge=1, le=10_080)
    reminder_hours: int = Field(default=24, ge=1, le=720)
    # Where alerts go, by severity; routes override it per alert type (e.g. routes.task_retry).
    channels: dict[AlertSeverity, list[AlertChannel]] = Field(default_factory=_default_alert_channels)
    routes: dict[AlertType, dict[AlertSeverity, list[AlertChannel]]] = Field(default_factory=dict)
    # Who is @-mentioned on critical alerts: WeCom userids, DingTalk mobiles.
    wecom_mentions: list[str] = Field(default_factory=list)
    dingtalk_at_mobiles: list[str] = Field(default_factory=list)

    def channels_for(self, alert_type: str, severity: str) -> list[str]:
        """The channels of one alert: its type's route for the severity, else the severity's channels."""
        route = self.routes.get(alert_type, {})
        if severity in route:
            return list(route[severity])  # type: ignore[index]
        return list(self.channels.get(severity, []))  # type: ignore[call-overload]


class GatesSection(_Section):
    max_quarantine_pct: Percent = Decimal("50.0")
    min_rows_for_rate: int = Field(default=50, ge=0)


class LogisticsSection(_Section):
    # Plants whose warehouse a 3PL runs over Qimen: plant → Qimen warehouseCode. SAP's goods issue for
    # their deliveries waits for the warehouse's confirmation; other plants issue in SAP themselves.
    warehouses: dict[
        Annotated[str, Field(pattern=r"^[0-9A-Z]{4}$")], Annotated[str, Field(min_length=1, max_length=50)]
    ] = Field(default_factory=dict)
    owner_code: str = Field(default="PARTSHUB", min_length=1, max_length=50)  # Qimen ownerCode (货主)
    # How stale a pushed message's timestamp may be (GMT+8, one-sided, as Qimen's checkTimestamp).
    timestamp_window_minutes: int = Field(default=10, ge=1, le=1440)
    # SAP deliveries carry a date-only change date: each run re-reads this many days before today.
    reread_days: int = Field(default=1, ge=0, le=31)
    # Customers (SAP numbers) who take an X12 856 ship notice; their ASN files go to asn_dir.
    edi_customers: list[str] = Field(default_factory=list)
    asn_dir: Path = Path("output/asn")
    # The hub's EDI identity (ISA06) and the GS1 Company Prefix its pack SSCCs are numbered under.
    edi_sender_id: str = Field(default="PARTSHUB", pattern=r"^[A-Za-z0-9 ]{1,15}$")
    gs1_company_prefix: str = Field(default="6901234", pattern=r"^[0-9]{4,12}$")
    # Reason for rejection SAP sets on the open items of an order cancelled in the CRM.
    rejection_reason: str = Field(default="10", min_length=1, max_length=2)


class InventorySection(_Section):
    # Count sheets (CSV) that warehouses without a WMS drop for the hub (plant 2010 in the sandbox).
    count_dir: Path = Path("input/counts")
    # The storage location counts without one belong to (Qimen warehouses have a single one in SAP).
    storage_location: str = Field(default="0001", pattern=r"^[0-9A-Z]{4}$")
    # Per plant and day, the absolute value of all adjustments above which nothing of the plant is
    # postable (SAP's per-document tolerance): every line of the plant goes to the recount list.
    document_value: Annotated[Decimal, Field(ge=0)] = Decimal("20000.00")
    # Warehouse receipts (stockchange.report) this many days back may still be unbooked in SAP.
    receipt_days: int = Field(default=3, ge=0, le=31)
    # How adjustments are approved: in the Airflow UI (Required Actions) or with `hub inventory approve`.
    approval: Literal["airflow_ui", "cli"] = "airflow_ui"
    # An approval request nobody answers is rejected after this long.
    approval_timeout_hours: int = Field(default=24, ge=1, le=720)
    # SAP reasons for physical-inventory differences (ReasonForPhysInvtryDifference, 4 characters).
    reason_loss: str = Field(default="0001", pattern=r"^[0-9A-Z]{1,4}$")
    reason_gain: str = Field(default="0002", pattern=r"^[0-9A-Z]{1,4}$")
    reason_wms_adjust: str = Field(default="0003", pattern=r"^[0-9A-Z]{1,4}$")
    # Stock policies: demand history window, ordering cost per purchase order and yearly holding
    # cost as a share of the unit cost (EOQ), both in the plant's currency.
    history_days: int = Field(default=90, ge=7, le=730)
    order_cost: Annotated[Decimal, Field(gt=0)] = Decimal("50.00")
    holding_rate: Annotated[Decimal, Field(gt=0, le=5)] = Decimal("0.25")


class SettlementSection(_Section):
    # Settlement files are written here (per company code) before delivery; the finance_drop Connection
    # (SFTP) delivers them, or without it they are copied to <output>/settlement/outbox.
    folder: Path = Path("output/settlement")
    # SAP billing is read by change time from the last read, reaching back this far (clock skew).
    overlap_seconds: int = Field(default=600, ge=0, le=86_400)
    # The first read starts this many days before the first settled day.
    initial_read_days: int = Field(default=45, ge=1, le=730)
    # Three-way match: quantities and amounts may differ this much (price also by tolerances.price_pct).
    qty_tolerance: Annotated[Decimal, Field(ge=0)] = Decimal("0")
    amount_tolerance: Annotated[Decimal, Field(ge=0)] = Decimal("0.00")
    # The country whose effective-dated VAT rates apply (transforms/settlement_money.py).
    tax_country: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    # Finance expects the day's file this many hours after the day closes (02:00 Asia/Shanghai).
    deadline_hours: int = Field(default=6, ge=1, le=48)


class PlanningSection(_Section):
    # Demand is bucketed by calendar month (the ERP's consumption history is monthly) or by ISO week
    # (the hub's own orders only); forecasts reach this many buckets ahead.
    bucket: Literal["month", "week"] = "month"
    horizon: int = Field(default=6, ge=1, le=24)
    # At most this many past buckets are forecast from; model choice is judged on the last `origins`
    # of them, one bucket ahead each (rolling origin).
    history_periods: int = Field(default=36, ge=8, le=156)
    origins: int = Field(default=6, ge=2, le=24)
    # Replenishment budget per plant per planning week, in the plant's currency: proposals beyond it are
    # cut by priority (lowest cover first) and alerted. A plant not listed has no budget cap.
    budget: dict[Annotated[str, Field(pattern=r"^[0-9A-Z]{4}$")], Annotated[Decimal, Field(ge=0)]] = Field(
        default_factory=dict
    )
    # How proposals are approved: in the Airflow UI (Required Actions) or with `hub planning approve`.
    approval: Literal["airflow_ui", "cli"] = "airflow_ui"
    approval_timeout_hours: int = Field(default=72, ge=1, le=720)
    # SAP purchase requisitions: document type and purchasing group of the hub's requisitions.
    requisition_type: str = Field(default="NB", pattern=r"^[0-9A-Z]{1,4}$")
    purchasing_group: str = Field(default="001", pattern=r"^[0-9A-Z]{3}$")
    # Reorder reminders: a customer x part bought at least `reminder_min_purchases` times in the last
    # `reminder_history_days`, at intervals whose coefficient of variation is at most
    # `reminder_max_cv`, is reminded when its next purchase falls due within `reminder_lead_days`.
    reminder_min_purchases: int = Field(default=3, ge=2, le=50)
    reminder_max_cv: Annotated[Decimal, Field(gt=0, le=2)] = Decimal("0.35")
    reminder_history_days: int = Field(default=365, ge=14, le=1095)
    reminder_lead_days: int = Field(default=7, ge=0, le=90)


class Settings(_Section):
    hub: HubSection = Field(default_factory=HubSection)
    crm: CrmSection
    masterdata: MasterDataSection = Field(default_factory=MasterDataSection)
    plants: PlantsSection
    tolerances: TolerancesSection = Field(default_factory=TolerancesSection)
    tax: TaxSection = Field(default_factory=TaxSection)
    service_levels: dict[str, Annotated[Decimal, Field(gt=0, lt=1)]] = Field(default_factory=dict)
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    gates: GatesSection = Field(default_factory=GatesSection)
    logistics: LogisticsSection = Field(default_factory=LogisticsSection)
    inventory: InventorySection = Field(default_factory=InventorySection)
    settlement: SettlementSection = Field(default_factory=SettlementSection)
    planning: PlanningSection = Field(default_factory=PlanningSection)
    # key path → the environment variable that set it (the rest came from the file)
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)
    _file: str = PrivateAttr(default="")

    @property
    def output_dir(self) -> Path:
        """The output folder, relative paths taken from the project root."""
        return _from_root(self.hub.output_dir)

    @property
    def masterdata_dir(self) -> Path:
        return _from_root(self.masterdata.extract_dir)

    @property
    def asn_dir(self) -> Path:
        return _from_root(self.logistics.asn_dir)

    @property
    def count_dir(self) -> Path:
        return _from_root(self.inventory.count_dir)

    @property
    def settlement_dir(self) -> Path:
        return _from_root(self.settlement.folder)

    @property
    def planning_dir(self) -> Path:
        return self.output_dir / "planning"


def _from_root(path: Path) -> Path:
    return path if path.is_absolute() else PROJECT_ROOT / path


def _match_key(node: dict, part: str) -> str:
    """The existing key ``part`` names, case-insensitively; new keys follow the section's case
    (``tax.rates`` holds country codes in upper case, everything else is lower case)."""
    for key in node:
        if key.lower() == part.lower():
            return key
    return part.upper() if any(k.isupper() for k in node) else part.lower()


def _apply_env_overrides(data: dict, environ: dict[str, str]) -> dict[str, str]:
    """Write ``HUB__A__B=value`` into ``data['a']['b']``; return key path → env var name."""
    origins: dict[str, str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "HUB_SETTINGS_FILE":
            continue
        parts = [part for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not parts:
            continue
        node, path = data, []
        for i, part in enumerate(parts):
            key = _match_key(node, part)
            path.append(key)
            if i == len(parts) - 1:
                break
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise SettingsError(f"{name}: {'.'.join(path)} is not a section")
        current = node.get(path[-1])
        node[path[-1]] = [v.strip() for v in raw.split(",") if v.strip()] if isinstance(current, list) else raw
        origins[".".join(path)] = name
    return origins


def load_settings(path: Path | str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read, override and validate the settings; raise SettingsError naming the bad key."""
    environ = dict(os.environ if environ is None else environ)
    file = Path(path or environ.get("HUB_SETTINGS_FILE") or DEFAULT_FILE)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"settings file not found: {file}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{file}: not valid TOML: {exc}") from exc
    origins = _apply_env_overrides(data, environ)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            source = next((f"env {v}" for k, v in origins.items() if key.startswith(k)), str(file))
            problems.append(f"{key}: {err['msg']} (got {err.get('input')!r} from {source})")
        raise SettingsError("invalid hub settings:\n  " + "\n  ".join(problems)) from None
    settings._origins, settings._file = origins, str(file)
    return settings


def origin_of(settings: Settings, key: str) -> str:
    """Where the value of ``key`` (``crm.enabled``) came from: ``env HUB__…`` or the settings file."""
    env = next((v for k, v in settings._origins.items() if key.startswith(k)), None)
    return f"env {env}" if env else (settings._file or "the defaults")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, validated once."""
    return load_settings()
