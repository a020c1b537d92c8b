-- reorder_history: what each customer bought, part by part, in [:history_from, :history_to), with the
-- CRM account the order came from (reminders go to that CRM) and the customer's language.
-- Orders withdrawn before SAP (cancelled) are not purchases.
-- :history_from, :history_to  instants (UTC)
-- :excluded_states            list of order states that are not purchases
-- → source, crm_account_id, customer, customer_name, language, material, material_name, unit, order_time, quantity
SELECT o.source, o.crm_account_id, o.customer_number AS customer, o.customer_name,
       COALESCE(c.language, 'en') AS language,
       l.material, m.description AS material_name, m.base_unit AS unit,
       o.order_time, l.quantity
FROM order_lines l
JOIN orders o ON o.source = l.source AND o.crm_order_id = l.crm_order_id
LEFT JOIN customers c ON c.customer_number = o.customer_number
LEFT JOIN materials m ON m.material = l.material
WHERE o.order_time >= :history_from AND o.order_time < :history_to
  AND o.status NOT IN :excluded_states
  AND o.customer_number IS NOT NULL AND o.crm_account_id IS NOT NULL
ORDER BY o.source, o.customer_number, l.material, o.order_time
