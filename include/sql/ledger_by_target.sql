-- ledger_by_target: messages to outside systems per ledger target and status.
-- → target, status, messages
SELECT target, status, COUNT(*) AS messages
FROM ledger
GROUP BY target, status
ORDER BY target, status
