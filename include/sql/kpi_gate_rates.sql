-- kpi_gate_rates: rows each data-quality gate evaluated, passed and quarantined, and its runs and
-- failed runs, per CRM (source) and part of the report's span: 'day' (the report day), 'week' (the 7
-- days before it), 'month' (the 21 days before those).
-- :day_start, :day_end, :week_start, :month_start  instants (UTC)
-- → bucket, gate, source, runs, failed_runs, evaluated, passed, quarantined
SELECT CASE WHEN g.created_at >= :day_start THEN 'day'
            WHEN g.created_at >= :week_start THEN 'week'
            ELSE 'month' END AS bucket,
       g.gate, COALESCE(g.source, '') AS source,
       COUNT(*) AS runs, SUM(CASE WHEN g.success THEN 0 ELSE 1 END) AS failed_runs,
       SUM(g.evaluated) AS evaluated, SUM(g.passed) AS passed, SUM(g.quarantined) AS quarantined
FROM gate_results g
WHERE g.created_at >= :month_start AND g.created_at < :day_end
GROUP BY 1, 2, 3
ORDER BY 2, 3, 1
