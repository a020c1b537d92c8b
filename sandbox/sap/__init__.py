"""SAP S/4HANA OData V2 emulator; :class:`sandbox.sap.emulator.SapS4` is the system."""

from sandbox.sap.emulator import SapS4

__all__ = ["SapS4"]
