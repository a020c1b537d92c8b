-- open_requisitions: what the hub has requested from purchasing (SAP purchase requisitions) and is not
-- yet due, per plant and material: the "on order" of the inventory position.
-- :planned_before  only requisitions of planning weeks before this day
-- :due_after       whose delivery date is after this day
-- → plant, material, quantity
SELECT p.plant, p.material, SUM(p.proposed_qty) AS quantity
FROM replenishment_proposals p
WHERE p.decision = 'requested'
  AND p.planning_week < :planned_before
  AND p.delivery_date > :due_after
GROUP BY p.plant, p.material
