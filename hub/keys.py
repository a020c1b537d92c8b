"""The key an order carries through gates, the quarantine and the ledger's bookkeeping."""


def record_key(source: str, crm_order_id: str) -> str:
    """One CRM order, one key: ``<source>:<crm order id>``."""
    return f"{source}:{crm_order_id}"


def crm_order_id_of(key: str) -> str:
    """The CRM order id inside a :func:`record_key`."""
    return key.split(":", 1)[1]
