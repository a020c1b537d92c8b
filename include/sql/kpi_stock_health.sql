-- kpi_stock_health: per plant, the materials SAP reported stock for in the latest snapshot taken by
-- the end of the report day (stock_snapshots: the materials a posting run planned), how many had no
-- unrestricted stock or nothing available, how many have open backorders, and how many of those
-- are short by more than is available; with the active materials of the master for scale.
-- :backorder_states  list of order states whose unconfirmed quantities are still owed
-- :day_end           instant (UTC)
-- → plant, materials, out_of_stock, nothing_available, backordered_materials, short_beyond_available,
--   short_qty (QUANTITY), taken_at, active_materials
WITH latest AS (
  SELECT s.plant, s.material, MAX(s.taken_at) AS taken_at
  FROM stock_snapshots s
  WHERE s.taken_at < :day_end
  GROUP BY s.plant, s.material
),
stock AS (
  SELECT s.plant, s.material, s.unrestricted, s.available, s.taken_at
  FROM stock_snapshots s
  JOIN latest l ON l.plant = s.plant AND l.material = s.material AND l.taken_at = s.taken_at
),
owed AS (
  SELECT a.plant, a.material, SUM(a.ordered_qty - a.confirmed_qty) AS short_qty
  FROM order_allocations a
  JOIN orders o ON o.source = a.source AND o.crm_order_id = a.crm_order_id
  WHERE o.status IN :backorder_states AND a.confirmed_qty < a.ordered_qty
  GROUP BY a.plant, a.material
)
SELECT st.plant,
       COUNT(DISTINCT st.material) AS materials,
       SUM(CASE WHEN st.unrestricted <= 0 THEN 1 ELSE 0 END) AS out_of_stock,
       SUM(CASE WHEN st.available <= 0 THEN 1 ELSE 0 END) AS nothing_available,
       SUM(CASE WHEN ow.short_qty > 0 THEN 1 ELSE 0 END) AS backordered_materials,
       SUM(CASE WHEN ow.short_qty > st.available THEN 1 ELSE 0 END) AS short_beyond_available,
       SUM(COALESCE(ow.short_qty, 0)) AS short_qty,
       MAX(st.taken_at) AS taken_at,
       (SELECT COUNT(*) FROM materials m WHERE m.active) AS active_materials
FROM stock st
LEFT JOIN owed ow ON ow.plant = st.plant AND ow.material = st.material
GROUP BY st.plant
ORDER BY st.plant
