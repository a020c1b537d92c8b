"""The registry of CRM adapters: the one list of the CRMs the hub can pull from.

Adding a CRM is one file: ``connectors/crm/<name>.py`` defining ``ADAPTER = CrmAdapter(...)``
(see :mod:`connectors.crm.base` and the Zoho and Fxiaoke adapters beside it). Every module of this
package that defines ``ADAPTER`` is registered on first use; an adapter kept elsewhere (a plugin
package, a test's fake CRM) is added with :func:`register`. Then name it in the settings'
``crm.enabled`` and give it its Airflow Connection (``conn_id``): config/airflow_connections.json,
docker-compose.yaml and .env.example (a test checks that they name every registered CRM).

What takes the list from here: the settings check (:func:`enabled`), the flows (which CRMs to pull
and confirm to), the quality gates (through ``crm.enabled``, validated here), the declarations test.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading

from connectors.crm.base import (
    CrmAdapter,
    CrmClient,
    Defaults,
    MasterFields,
    ReminderLike,
    Rendering,
    Resources,
    ShipmentLike,
)

__all__ = [
    "ShipmentLike",
    "CrmAdapter",
    "CrmClient",
    "Defaults",
    "MasterFields",
    "ReminderLike",
    "Rendering",
    "Resources",
    "adapters",
    "enabled",
    "get",
    "names",
    "register",
    "unregister",
]

_lock = threading.Lock()
_adapters: dict[str, CrmAdapter] = {}
_discovered = False


def _discover() -> None:
    """Register the adapters of this package's modules, once."""
    global _discovered
    if _discovered:
        return
    with _lock:
        if _discovered:
            return
        for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"):
            adapter = getattr(importlib.import_module(f"{__name__}.{module}"), "ADAPTER", None)
            if isinstance(adapter, CrmAdapter):
                _add(adapter, replace=False)
        _discovered = True


def _add(adapter: CrmAdapter, *, replace: bool) -> None:
    held = _adapters.get(adapter.name)
    if held is not None and held is not adapter and not replace:
        raise ValueError(f"a CRM adapter named {adapter.name!r} is registered already")
    _adapters[adapter.name] = adapter


def register(adapter: CrmAdapter, *, replace: bool = False) -> CrmAdapter:
    """Add an adapter kept outside this package; a second adapter of the same name is refused
    unless ``replace``. Returns the adapter, so a module can write ``ADAPTER = register(CrmAdapter(...))``."""
    if not isinstance(adapter, CrmAdapter):
        raise TypeError(f"not a CrmAdapter: {adapter!r}")
    _discover()
    with _lock:
        _add(adapter, replace=replace)
    return adapter


def unregister(name: str) -> None:
    """Take an adapter out of the registry (tests that registered a fake clean up with it)."""
    _discover()
    with _lock:
        _adapters.pop(name, None)


def names() -> tuple[str, ...]:
    """The registered CRMs, by name."""
    _discover()
    return tuple(sorted(_adapters))


def adapters() -> tuple[CrmAdapter, ...]:
    _discover()
    return tuple(_adapters[n] for n in names())


def get(name: str) -> CrmAdapter:
    """The adapter of the CRM ``name``; ValueError naming the registered ones when there is none."""
    _discover()
    try:
        return _adapters[name]
    except KeyError:
        raise ValueError(f"unknown CRM {name!r}; registered: {', '.join(names())}") from None


def enabled(settings: object | None = None) -> list[CrmAdapter]:
    """The adapters of the CRMs the settings enable (``crm.enabled``), in their order.

    A name no adapter is registered for is a settings error naming the key and where its value came
    from (``hub.settings.SettingsError``), as any other invalid setting.
    """
    from hub.settings import SettingsError, get_settings, origin_of

    settings = settings or get_settings()
    wanted = list(settings.crm.enabled)  # type: ignore[attr-defined]
    unknown = [n for n in wanted if n not in names()]
    if unknown:
        raise SettingsError(
            "invalid hub settings:\n  crm.enabled: no CRM adapter registered for "
            f"{', '.join(map(repr, unknown))}; registered: {', '.join(names())} "
            f"(got {wanted!r} from {origin_of(settings, 'crm.enabled')})"
        )
    return [get(n) for n in wanted]
