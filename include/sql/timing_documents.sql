-- timing_documents: the open documents behind timing differences of a plant and material, for the
-- explanation of a reconciliation line: 3PL deliveries shipped by the warehouse but not goods-issued in
-- SAP when the book was read, and warehouse receipts SAP may not have booked yet.
-- :book_taken_at, :receipts_from  instants (UTC)
-- → plant, material, kind (delivery | receipt), document, quantity
SELECT d.plant, dl.material, 'delivery' AS kind, d.delivery AS document, dl.shipped_qty AS quantity
FROM deliveries d
JOIN delivery_lines dl ON dl.delivery = d.delivery
WHERE d.final_confirm_at IS NOT NULL AND dl.shipped_qty > 0
  AND (d.goods_issued_at IS NULL OR d.goods_issued_at > :book_taken_at)
UNION ALL
SELECT r.plant, r.material, 'receipt' AS kind, r.order_code AS document, r.quantity
FROM warehouse_receipts r
WHERE r.quantity > 0 AND r.changed_at >= :receipts_from
ORDER BY 1, 2, 3, 4
