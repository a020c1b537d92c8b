"""The emulated systems served by the sandbox. Adding one = its module + one entry here."""

from __future__ import annotations

from sandbox.alert_webhook import AlertWebhook
from sandbox.dingtalk import DingTalk
from sandbox.fxiaoke import Fxiaoke
from sandbox.qimen_wms import QimenWms
from sandbox.sap import SapS4
from sandbox.sf_express import SfExpress
from sandbox.system import EmulatedSystem
from sandbox.wecom import WeCom
from sandbox.zoho_crm import ZohoCrm

SYSTEMS: list[type[EmulatedSystem]] = [ZohoCrm, Fxiaoke, SapS4, QimenWms, SfExpress, WeCom, DingTalk, AlertWebhook]
