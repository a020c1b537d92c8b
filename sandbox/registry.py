"""The emulated systems served by the sandbox. Adding one = its module + one entry here."""

from __future__ import annotations

from sandbox.fxiaoke import Fxiaoke
from sandbox.sap import SapS4
from sandbox.system import EmulatedSystem
from sandbox.zoho_crm import ZohoCrm

SYSTEMS: list[type[EmulatedSystem]] = [ZohoCrm, Fxiaoke, SapS4]
