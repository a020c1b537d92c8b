-- confirmations_by_status: the last confirmation each order's customer got, by its status.
-- → status, orders
SELECT status, COUNT(*) AS orders
FROM order_confirmations
GROUP BY status
ORDER BY status
