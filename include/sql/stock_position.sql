-- stock_position: per plant and material of the ERP's plant data, the parts of the inventory position
-- (on hand + on order - reserved - backordered) for the business day.
-- on_hand: SAP's unrestricted book stock of the day's snapshot, every storage location and batch.
-- reserved: what SAP confirmed to customers on orders still to ship, less what was goods-issued.
-- backordered: what customers ordered beyond SAP's confirmation on orders still waiting for it.
-- on_order: not here; the hub's open purchase requisitions (open_requisitions.sql) are added by the caller.
-- :business_day      date
-- :reserving_states  list of order states whose confirmed quantities SAP will still ship
-- :short_states      list of order states whose unconfirmed quantities are still owed
-- → plant, material, on_hand, reserved, backordered
WITH on_hand AS (
  SELECT b.plant, b.material, SUM(b.quantity) AS quantity
  FROM book_stock b
  WHERE b.business_day = :business_day AND b.stock_type = '01'
  GROUP BY b.plant, b.material
),
confirmed AS (
  SELECT a.plant, a.material, SUM(a.confirmed_qty) AS quantity
  FROM order_allocations a
  JOIN orders o ON o.source = a.source AND o.crm_order_id = a.crm_order_id
  WHERE o.status IN :reserving_states
  GROUP BY a.plant, a.material
),
issued AS (
  SELECT d.plant, dl.material, SUM(dl.shipped_qty) AS quantity
  FROM deliveries d
  JOIN delivery_lines dl ON dl.delivery = d.delivery
  JOIN orders o ON o.source = d.source AND o.crm_order_id = d.crm_order_id
  WHERE d.status = 'issued' AND o.status IN :reserving_states
  GROUP BY d.plant, dl.material
),
short AS (
  SELECT a.plant, a.material, SUM(a.ordered_qty - a.confirmed_qty) AS quantity
  FROM order_allocations a
  JOIN orders o ON o.source = a.source AND o.crm_order_id = a.crm_order_id
  WHERE o.status IN :short_states AND a.confirmed_qty < a.ordered_qty
  GROUP BY a.plant, a.material
)
SELECT mp.plant, mp.material,
       COALESCE(h.quantity, 0) AS on_hand,
       COALESCE(c.quantity, 0) - COALESCE(i.quantity, 0) AS reserved,
       COALESCE(s.quantity, 0) AS backordered
FROM material_plants mp
LEFT JOIN on_hand h ON h.plant = mp.plant AND h.material = mp.material
LEFT JOIN confirmed c ON c.plant = mp.plant AND c.material = mp.material
LEFT JOIN issued i ON i.plant = mp.plant AND i.material = mp.material
LEFT JOIN short s ON s.plant = mp.plant AND s.material = mp.material
ORDER BY mp.plant, mp.material
