-- kpi_ledger_backlog: per ledger target, the messages sent in each part of the report's span ('day',
-- 'week': the 7 days before, 'month': the 21 before those) and the backlog of messages created by
-- the end of the report day and not sent (pending, in flight, failed), with the oldest one's creation.
-- :day_start, :day_end, :week_start, :month_start  instants (UTC)
-- → target, sent_day, sent_week, sent_month, pending, in_flight, failed, oldest_open
SELECT l.target,
       SUM(CASE WHEN l.sent_at >= :day_start AND l.sent_at < :day_end THEN 1 ELSE 0 END) AS sent_day,
       SUM(CASE WHEN l.sent_at >= :week_start AND l.sent_at < :day_start THEN 1 ELSE 0 END) AS sent_week,
       SUM(CASE WHEN l.sent_at >= :month_start AND l.sent_at < :week_start THEN 1 ELSE 0 END) AS sent_month,
       SUM(CASE WHEN l.status = 'pending' THEN 1 ELSE 0 END) AS pending,
       SUM(CASE WHEN l.status = 'in_flight' THEN 1 ELSE 0 END) AS in_flight,
       SUM(CASE WHEN l.status = 'failed' THEN 1 ELSE 0 END) AS failed,
       MIN(CASE WHEN l.status <> 'sent' THEN l.created_at END) AS oldest_open
FROM ledger l
WHERE l.created_at < :day_end
GROUP BY l.target
ORDER BY l.target
