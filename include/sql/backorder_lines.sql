-- backorder_lines: order lines SAP has not confirmed in full, and the quantity still short.
-- → lines, short_qty (QUANTITY)
SELECT COUNT(*) AS lines, SUM(ordered_qty - confirmed_qty) AS short_qty
FROM order_allocations
WHERE confirmed_qty < ordered_qty
