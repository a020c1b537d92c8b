"""The hub database's queries that the flows share, by table: what a flow reads and writes, named.
Set-based report queries live in ``include/sql/`` (``hub.sql``)."""
