-- count_reconciliation_lines: per plant, storage location, material, batch and stock type counted in the
-- day's window, the physical quantity beside SAP's book and what open documents explain.
-- Physical: the latest count of the item (inventory.report CHECK or a count sheet) in the window, else
-- the warehouse's stock read by inventory.query; a count without an absolute quantity is book + its
-- reported difference. ADJUST lines (adjusted in the warehouse already) come as their own basis.
-- Timing, against a book read at :book_taken_at and a physical quantity observed at counted_at, for
-- 3PL deliveries: a delivery shipped by counted_at that SAP had not goods-issued by :book_taken_at
-- (the physical stock is lower), or goods-issued by :book_taken_at but shipped after counted_at
-- (higher); warehouse receipts since :receipts_from up to counted_at (higher: SAP has not booked them).
-- :business_day, :previous_day  dates
-- :query_document  the day's inventory.query document (query:<day>), read whenever the run ran
-- :counts_from, :counts_to, :book_taken_at, :receipts_from  instants (UTC)
-- → plant, storage_location, material, batch, stock_type, basis, book_qty, physical_qty, timing_shipped,
--   timing_received, unit, source, count_document, counted_at, abc_class, unit_cost, currency, pack_size,
--   previous_status
WITH observed AS (
  SELECT w.*,
         ROW_NUMBER() OVER (
           PARTITION BY w.plant, w.storage_location, w.material, w.batch, w.stock_type,
                        CASE WHEN w.adjust_type = 'ADJUST' THEN 'wms_adjust' ELSE 'count' END
           ORDER BY CASE WHEN w.source = 'inventory_query' THEN 1 ELSE 0 END, w.counted_at DESC, w.id DESC
         ) AS pick
  FROM warehouse_counts w
  WHERE (w.source <> 'inventory_query' AND w.counted_at >= :counts_from AND w.counted_at < :counts_to)
     OR (w.source = 'inventory_query' AND w.document = :query_document)
),
latest AS (
  SELECT o.id, o.plant, o.storage_location, o.material, o.batch, o.stock_type, o.source, o.document,
         o.physical, o.difference, o.unit, o.counted_at,
         CASE WHEN o.adjust_type = 'ADJUST' THEN 'wms_adjust' ELSE 'count' END AS basis
  FROM observed o
  WHERE o.pick = 1
),
shipments AS (
  SELECT d.plant, dl.material, dl.shipped_qty AS qty, d.final_confirm_at AS shipped_at, d.goods_issued_at AS issued_at
  FROM deliveries d
  JOIN delivery_lines dl ON dl.delivery = d.delivery
  WHERE d.final_confirm_at IS NOT NULL AND dl.shipped_qty > 0
),
timing AS (
  SELECT l.id,
         SUM(CASE WHEN s.shipped_at <= l.counted_at
                   AND (s.issued_at IS NULL OR s.issued_at > :book_taken_at) THEN s.qty ELSE 0 END) AS shipped,
         SUM(CASE WHEN s.shipped_at > l.counted_at
                   AND s.issued_at IS NOT NULL AND s.issued_at <= :book_taken_at THEN s.qty ELSE 0 END) AS issued_early
  FROM latest l
  JOIN shipments s ON s.plant = l.plant AND s.material = l.material
  WHERE l.stock_type = '01' AND l.basis = 'count'
  GROUP BY l.id
),
receipts AS (
  SELECT l.id, SUM(r.quantity) AS received
  FROM latest l
  JOIN warehouse_receipts r ON r.plant = l.plant AND r.material = l.material AND r.stock_type = l.stock_type
  WHERE l.basis = 'count' AND r.quantity > 0 AND r.changed_at >= :receipts_from AND r.changed_at <= l.counted_at
  GROUP BY l.id
)
SELECT l.plant, l.storage_location, l.material, l.batch, l.stock_type, l.basis,
       COALESCE(b.quantity, 0) AS book_qty,
       CASE WHEN l.basis = 'wms_adjust' THEN COALESCE(l.difference, 0)
            ELSE COALESCE(l.physical, COALESCE(b.quantity, 0) + l.difference) END AS physical_qty,
       COALESCE(t.shipped, 0) AS timing_shipped,
       COALESCE(t.issued_early, 0) + COALESCE(rc.received, 0) AS timing_received,
       COALESCE(l.unit, b.unit, m.base_unit) AS unit,
       l.source, l.document AS count_document, l.counted_at,
       mp.abc_class, mp.unit_cost, mp.currency, m.pack_size,
       prev.status AS previous_status
FROM latest l
LEFT JOIN book_stock b
  ON b.business_day = :business_day AND b.plant = l.plant AND b.storage_location = l.storage_location
 AND b.material = l.material AND b.batch = l.batch AND b.stock_type = l.stock_type
LEFT JOIN timing t ON t.id = l.id
LEFT JOIN receipts rc ON rc.id = l.id
LEFT JOIN materials m ON m.material = l.material
LEFT JOIN material_plants mp ON mp.material = l.material AND mp.plant = l.plant
LEFT JOIN count_results prev
  ON prev.business_day = :previous_day AND prev.plant = l.plant AND prev.storage_location = l.storage_location
 AND prev.material = l.material AND prev.batch = l.batch AND prev.stock_type = l.stock_type AND prev.basis = l.basis
ORDER BY l.plant, l.material, l.batch, l.stock_type, l.basis
