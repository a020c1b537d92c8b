-- kpi_order_events: per order, when it was placed in the CRM, taken by SAP, first confirmed to the
-- CRM, shipped and delivered, as of the end of the report day, for the orders placed, first confirmed
-- or delivered in the report's span (the day and the 28 days before it). Times are UTC.
-- confirmed_at: the first CRM confirmation (ledger 'crm.<source>.confirmation', key
--   '<order number>:<16-hex digest>', flows/sap_order_posting/due.py) sent once SAP held the order.
-- shipped_at: the warehouse's first final stockout confirmation of the order's deliveries.
-- delivered_at: the last delivery signed for; open_deliveries: deliveries not signed for by then.
-- :confirmation_targets  list of ledger targets of CRM confirmations
-- :month_start, :day_end  instants (UTC): the span
-- → source, crm_order_id, order_number, currency, gross_amount (MONEY), line_count, status, ordered_at,
--   posted_at, confirmed_at, shipped_at, delivered_at, open_deliveries, lines_confirmed_full,
--   ordered_qty (QUANTITY), confirmed_qty (QUANTITY)
WITH told AS (
  SELECT l.target, substr(l.idem_key, 1, length(l.idem_key) - 17) AS order_number, l.sent_at
  FROM ledger l
  WHERE l.target IN :confirmation_targets AND l.status = 'sent' AND l.sent_at < :day_end
),
first_told AS (
  SELECT o.source, o.crm_order_id, MIN(t.sent_at) AS confirmed_at
  FROM orders o
  JOIN sap_orders s ON s.source = o.source AND s.crm_order_id = o.crm_order_id
  JOIN told t ON t.target = 'crm.' || o.source || '.confirmation' AND t.order_number = o.order_number
  WHERE t.sent_at >= s.created_at
  GROUP BY o.source, o.crm_order_id
),
shipping AS (
  SELECT d.source, d.crm_order_id,
         MIN(CASE WHEN d.final_confirm_at < :day_end THEN d.final_confirm_at END) AS shipped_at,
         MAX(CASE WHEN d.delivered_at < :day_end THEN d.delivered_at END) AS delivered_at,
         SUM(CASE WHEN d.delivered_at < :day_end THEN 0 ELSE 1 END) AS open_deliveries
  FROM deliveries d
  WHERE d.status <> 'cancelled'
  GROUP BY d.source, d.crm_order_id
),
confirmed AS (
  SELECT a.source, a.crm_order_id,
         SUM(CASE WHEN a.confirmed_qty >= a.ordered_qty THEN 1 ELSE 0 END) AS lines_confirmed_full,
         SUM(a.ordered_qty) AS ordered_qty, SUM(a.confirmed_qty) AS confirmed_qty
  FROM order_allocations a
  GROUP BY a.source, a.crm_order_id
)
SELECT o.source, o.crm_order_id, o.order_number, o.currency, o.gross_amount, o.line_count, o.status,
       o.order_time AS ordered_at, s.created_at AS posted_at, ft.confirmed_at,
       sh.shipped_at, sh.delivered_at, COALESCE(sh.open_deliveries, 0) AS open_deliveries,
       COALESCE(c.lines_confirmed_full, 0) AS lines_confirmed_full, c.ordered_qty, c.confirmed_qty
FROM orders o
LEFT JOIN sap_orders s ON s.source = o.source AND s.crm_order_id = o.crm_order_id
LEFT JOIN first_told ft ON ft.source = o.source AND ft.crm_order_id = o.crm_order_id
LEFT JOIN shipping sh ON sh.source = o.source AND sh.crm_order_id = o.crm_order_id
LEFT JOIN confirmed c ON c.source = o.source AND c.crm_order_id = o.crm_order_id
WHERE o.order_time < :day_end
  AND (o.order_time >= :month_start OR ft.confirmed_at >= :month_start OR sh.delivered_at >= :month_start)
ORDER BY o.source, o.crm_order_id
