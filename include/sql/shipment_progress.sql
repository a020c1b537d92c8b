-- shipment_progress: where the 3PL deliveries stand, with their parcels, for the demo and ops summaries.
-- → stage, items (deliveries by status; parcels delivered, on their way, or waiting for a carrier API)
SELECT 'delivery ' || status AS stage, COUNT(*) AS items
FROM deliveries
GROUP BY status
UNION ALL
SELECT CASE
         WHEN delivered_at IS NOT NULL THEN 'parcel delivered'
         WHEN carrier_code = 'SF' THEN 'parcel on its way (SF tracked)'
         ELSE 'parcel on its way (no carrier API: ' || carrier_code || ')'
       END AS stage,
       COUNT(*) AS items
FROM parcels
GROUP BY 1
ORDER BY 1
