-- credit_exposure: the gross value of each customer's open orders in the credit limit's currency.
-- Open = the states that count against credit (hub/lifecycle.py COUNTS_AGAINST_CREDIT). The orders of
-- the batch under review are left out: a re-pulled order must not count against itself.
-- :customers      list of customer numbers
-- :states         list of order states
-- :excluded_keys  list of record keys, 'source:crm_order_id' (hub/keys.py)
-- → customer_number, exposure (MONEY)
SELECT o.customer_number, SUM(o.gross_amount) AS exposure
FROM orders o
JOIN customers c ON c.customer_number = o.customer_number
WHERE o.customer_number IN :customers
  AND o.status IN :states
  AND o.currency = c.currency
  AND (o.source || ':' || o.crm_order_id) NOT IN :excluded_keys
GROUP BY o.customer_number
