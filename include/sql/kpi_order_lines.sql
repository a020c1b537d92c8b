-- kpi_order_lines: per order line, what was ordered, what SAP confirmed for when, and what the 3PL
-- warehouse shipped and the customers signed for by the end of the report day, for the lines due in
-- the report's span (committed date = SAP's confirmed date, else the requested date, from :first_day
-- to :last_day) with the other lines of their orders, and the lines of orders SAP or the hub still
-- owe quantities on (:backorder_states).
-- Cancelled orders are left out. Shipped = the delivery's final stockout confirmation came in by
-- :day_end; delivered = every parcel of the delivery signed for by :day_end.
-- :backorder_states     list of order states
-- :first_day, :last_day dates: the span's first and last business day
-- :day_end              instant (UTC): the end of the report day
-- → source, crm_order_id, line_no, material, plant, currency, status, ordered_at, requested_date,
--   ordered_qty (QUANTITY), net_amount (MONEY), confirmed_qty (QUANTITY), confirmed_date,
--   shipped_qty (QUANTITY), delivered_qty (QUANTITY), delivered_at
WITH shipped AS (
  SELECT d.source, d.crm_order_id, dl.sap_order_item,
         SUM(CASE WHEN d.final_confirm_at < :day_end THEN dl.shipped_qty ELSE 0 END) AS shipped_qty,
         SUM(CASE WHEN d.delivered_at < :day_end THEN dl.shipped_qty ELSE 0 END) AS delivered_qty,
         MAX(CASE WHEN d.delivered_at < :day_end THEN d.delivered_at END) AS delivered_at
  FROM deliveries d
  JOIN delivery_lines dl ON dl.delivery = d.delivery
  WHERE d.status <> 'cancelled'
  GROUP BY d.source, d.crm_order_id, dl.sap_order_item
)
SELECT o.source, o.crm_order_id, ol.line_no, ol.material, COALESCE(a.plant, ol.plant) AS plant,
       o.currency, o.status, o.order_time AS ordered_at, o.requested_date,
       ol.quantity AS ordered_qty, ol.net_amount,
       COALESCE(a.confirmed_qty, 0) AS confirmed_qty, a.confirmed_date,
       COALESCE(x.shipped_qty, 0) AS shipped_qty, COALESCE(x.delivered_qty, 0) AS delivered_qty,
       x.delivered_at
FROM order_lines ol
JOIN orders o ON o.source = ol.source AND o.crm_order_id = ol.crm_order_id
LEFT JOIN order_allocations a
  ON a.source = ol.source AND a.crm_order_id = ol.crm_order_id AND a.line_no = ol.line_no
LEFT JOIN shipped x
  ON x.source = a.source AND x.crm_order_id = a.crm_order_id AND x.sap_order_item = a.sap_item
WHERE o.order_time < :day_end
  AND o.status <> 'cancelled'
  AND (o.status IN :backorder_states
       OR EXISTS (SELECT 1
                  FROM order_lines l2
                  LEFT JOIN order_allocations a2
                    ON a2.source = l2.source AND a2.crm_order_id = l2.crm_order_id AND a2.line_no = l2.line_no
                  WHERE l2.source = o.source AND l2.crm_order_id = o.crm_order_id
                    AND COALESCE(a2.confirmed_date, o.requested_date) BETWEEN :first_day AND :last_day))
ORDER BY o.source, o.crm_order_id, ol.line_no
