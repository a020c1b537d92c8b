"""The hub's alerting: what is wrong, how bad, who hears of it, once.

Two kinds of alert:

* **Conditions** the checks watch (:func:`run_checks`): order delay, backorder aging, low / over stock,
  credit limit exceeded, gate failure, quarantine share, ledger failed / stuck, settlement deadline
  missed (a hook until finance exists), and whatever a flow registers (:func:`register_check`, e.g.
  the replenishment budget of issue 11). Each alert has a type, a key (what it is about: a plant, a
  gate and source, a ledger target, a customer), a severity, the numbers that triggered it and what to
  do. Suppression lives in ``alert_states``: the same type + key is **raised** once per
  ``alerts.window_minutes``; while it stays open a **reminder** follows every ``alerts.reminder_hours``;
  a rise in severity is **escalated** at once; when the check no longer finds it, **resolved** (only
  if people were told it was open). A check that fails resolves nothing.
* **Events** (:func:`raise_event`): a failed task try (the failure notifier, :func:`task_failure`), a
  refused cancellation; each told once (its message id).

Every message is a row of the ``alerts`` history with a stable ``message_id``, and goes to the
channels ``alerts.channels`` (per severity) or ``alerts.routes`` (per type) name: e-mail
(``smtp_default`` to ``alerts.email_to``), the WeCom group robot (``alert_wecom``), the DingTalk robot
(``alert_dingtalk``), a generic JSON webhook (``alert_webhook``). Delivery goes through the ledger
(targets ``mail.alert``, ``chat.wecom.alert``, ``chat.dingtalk.alert``, ``webhook.alert``; at least once,
key = the message id, so a resend carries the same id): a robot that refuses for now (rate limit) leaves
the message waiting for the next run, one that refuses for good (bad signature, invalid webhook) is
recorded as refused with its reason; a channel without its Connection is skipped.

``run_checks(engine, now)`` is what the demo and a DAG task call; ``now`` is the run's instant (the
checks compare dates with the business day of ``now`` in ``hub.timezone``; ledger leases with the wall
clock, which is what claims are written in).

The modules, in the order a condition travels: ``types`` (alerts, types, severities, channel targets),
``checks`` (which run, in what order; ``checks_orders``, ``checks_stock``, ``checks_pipeline`` hold
them), ``states`` (suppression and the history), ``messages`` (each channel's rendering),
``delivery`` (senders and the ledger), ``events`` (the entry points); ``values`` holds what they share.
Import from the package: its names below are the public API.
"""

from flows.alerting.checks import CHECKS, Check, register_check
from flows.alerting.checks_orders import (
    SHIPPED_OR_LATER,
    check_backorder_aging,
    check_credit_limit,
    check_order_delay,
)
from flows.alerting.checks_pipeline import check_gate_failure, check_ledger, check_quarantine_rate
from flows.alerting.checks_settlement import check_settlement_deadline
from flows.alerting.checks_stock import check_stock
from flows.alerting.delivery import (
    RESEND_HOURS,
    DingTalkSender,
    MailSender,
    Sender,
    WebhookSender,
    WeComSender,
    default_senders,
    deliver,
)
from flows.alerting.events import notify, operator_error, raise_event, run_checks, task_failure
from flows.alerting.messages import (
    EVENT_LABEL,
    PREFIX,
    alert_message,
    dingtalk_payload,
    subject_of,
    webhook_payload,
    wecom_payload,
)
from flows.alerting.states import message_id
from flows.alerting.types import ALERT_MAIL, ALERT_TARGETS, ALERT_TYPES, RANK, SEVERITIES, TARGETS, Alert, AlertType
from flows.alerting.values import DETAIL_LINES
from hub.ledger import Delivered  # what a sender returns; callers' fakes build it from here

__all__ = [
    "ALERT_MAIL",
    "ALERT_TARGETS",
    "ALERT_TYPES",
    "CHECKS",
    "DETAIL_LINES",
    "EVENT_LABEL",
    "PREFIX",
    "RANK",
    "RESEND_HOURS",
    "SEVERITIES",
    "SHIPPED_OR_LATER",
    "TARGETS",
    "Alert",
    "AlertType",
    "Check",
    "Delivered",
    "DingTalkSender",
    "MailSender",
    "Sender",
    "WeComSender",
    "WebhookSender",
    "alert_message",
    "check_backorder_aging",
    "check_credit_limit",
    "check_gate_failure",
    "check_ledger",
    "check_order_delay",
    "check_quarantine_rate",
    "check_settlement_deadline",
    "check_stock",
    "default_senders",
    "deliver",
    "dingtalk_payload",
    "message_id",
    "notify",
    "operator_error",
    "raise_event",
    "register_check",
    "run_checks",
    "subject_of",
    "task_failure",
    "webhook_payload",
    "wecom_payload",
]
