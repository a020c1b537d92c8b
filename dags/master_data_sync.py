"""master_data_sync: import the ERP's master-data extract that the order review checks against."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Asset, CronDataIntervalTimetable, dag, get_current_context, task

from plugins.dag_defaults import default_args

MASTER_DATA = Asset("hub://masterdata", extra={"tables": "customers, materials, price_list"})

DOC = """
### Master data sync

Daily at 05:00 UTC, imports the ERP's master-data extract from the folder `masterdata.extract_dir`
(settings): `customers.csv` (credit limit, order block, language), `materials.csv` (minimum order
quantity, pack size, active) and `prices.csv` (list prices per currency and validity). Each file is a
full snapshot: materials missing from it become inactive, the price list is replaced as a whole.
A bad row is quarantined (stage `master_data`) naming the file, line and field; the rest imports.
The `crm_order_sync` review (customer known and not blocked, MOQ, pack size, price tolerance, credit
limit) reads these tables.
"""


@dag(
    dag_id="master_data_sync",
    schedule=CronDataIntervalTimetable("0 5 * * *", timezone="UTC"),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    default_args=default_args(),
    tags=["masterdata", "erp"],
    doc_md=DOC,
)
def master_data_sync():
    @task(outlets=[MASTER_DATA])
    def import_extract() -> dict:
        from flows.connections import hub_engine
        from flows.master_data_sync import import_extract as run_import
        from hub.settings import get_settings

        ctx = get_current_context()
        counts = run_import(hub_engine(), get_settings().masterdata_dir, ctx["run_id"])
        ctx["outlet_events"][MASTER_DATA].extra = counts
        return counts

    import_extract()


master_data_sync()
