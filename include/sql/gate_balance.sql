-- gate_balance: rows each data-quality gate evaluated, passed and quarantined, over all runs.
-- → gate, evaluated, passed, quarantined
SELECT gate, SUM(evaluated) AS evaluated, SUM(passed) AS passed, SUM(quarantined) AS quarantined
FROM gate_results
GROUP BY gate
ORDER BY gate
