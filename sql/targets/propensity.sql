-- Propensity labels: (row, label) pairs where an evaluated client bought a listed value in one window.
-- @window "train_target"  target window view: train_target or validation_target
-- @task "propensity_category"  propensity task whose label list (view label_list_<task>) is used
-- @column "category"  target column the list holds: category, sku or price
-- requires: targets/task_clients
-- returns: one row per distinct pair (row, label); row = position in view task_clients,
-- label = position in the task's label list.
SELECT DISTINCT c.pos AS row, l.pos AS label
FROM {{ window }} AS t
JOIN task_clients AS c USING (client_id)
JOIN label_list_{{ task }} AS l ON l.value = t.{{ column }}
ORDER BY row, label
