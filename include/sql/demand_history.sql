-- demand_history: what customers ordered per plant and material in [:history_from, :history_to), line by
-- line with the order time (stock policies bucket it by business day, days without orders count as 0).
-- Orders withdrawn before SAP (cancelled) are not demand.
-- :history_from, :history_to  instants (UTC)
-- :excluded_states            list of order states that are not demand
-- → plant, material, order_time, quantity
SELECT l.plant, l.material, o.order_time, l.quantity
FROM order_lines l
JOIN orders o ON o.source = l.source AND o.crm_order_id = l.crm_order_id
WHERE o.order_time >= :history_from AND o.order_time < :history_to
  AND o.status NOT IN :excluded_states
  AND l.plant IS NOT NULL
ORDER BY l.plant, l.material, o.order_time
