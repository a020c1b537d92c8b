-- crm_intake: per CRM, the orders landed, accepted into the hub and held open in the quarantine.
-- :sources  list of CRM names
-- → source, pulled, accepted, quarantined
SELECT s.source,
       (SELECT COUNT(*) FROM crm_inbox i WHERE i.source = s.source) AS pulled,
       (SELECT COUNT(*) FROM orders o WHERE o.source = s.source) AS accepted,
       (SELECT COUNT(*) FROM quarantine q WHERE q.source = s.source AND q.status = 'open') AS quarantined
FROM (SELECT DISTINCT source FROM crm_inbox UNION SELECT DISTINCT source FROM orders) s
WHERE s.source IN :sources
ORDER BY s.source
