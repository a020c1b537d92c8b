-- crm_intake: per CRM, the orders landed, accepted into the hub and held open in the quarantine at
-- the intake stages (later steps quarantine other things under the order's source too).
-- :sources  list of CRM names
-- → source, pulled, accepted, quarantined
SELECT s.source,
       (SELECT COUNT(*) FROM crm_inbox i WHERE i.source = s.source) AS pulled,
       (SELECT COUNT(*) FROM orders o WHERE o.source = s.source) AS accepted,
       (SELECT COUNT(*) FROM quarantine q WHERE q.source = s.source AND q.status = 'open'
          AND q.stage IN ('raw_crm_orders', 'crm_mapping', 'order_review', 'accepted_orders')) AS quarantined
FROM (SELECT DISTINCT source FROM crm_inbox UNION SELECT DISTINCT source FROM orders) s
WHERE s.source IN :sources
ORDER BY s.source
