-- orders_by_state: how many orders are in each lifecycle state.
-- → status, orders
SELECT status, COUNT(*) AS orders
FROM orders
GROUP BY status
ORDER BY status
