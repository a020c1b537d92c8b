-- kpi_quarantine: the quarantine by stage, source and reason (error class and field): records still
-- open, and records held in each part of the report's span ('day', the 7 days before: 'week', the 21
-- before those: 'month'), whatever became of them since.
-- :day_start, :day_end, :week_start, :month_start  instants (UTC)
-- → stage, source, error_class, field, open_records, new_day, new_week, new_month
SELECT q.stage, q.source, q.error_class, COALESCE(q.field, '') AS field,
       SUM(CASE WHEN q.status = 'open' THEN 1 ELSE 0 END) AS open_records,
       SUM(CASE WHEN q.created_at >= :day_start THEN 1 ELSE 0 END) AS new_day,
       SUM(CASE WHEN q.created_at >= :week_start AND q.created_at < :day_start THEN 1 ELSE 0 END) AS new_week,
       SUM(CASE WHEN q.created_at >= :month_start AND q.created_at < :week_start THEN 1 ELSE 0 END) AS new_month
FROM quarantine q
WHERE q.created_at < :day_end
GROUP BY q.stage, q.source, q.error_class, COALESCE(q.field, '')
ORDER BY 5 DESC, 1, 2, 3, 4
