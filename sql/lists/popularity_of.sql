-- Purchase counts in the train target window for each value of a given label list, in list order.
-- @task "propensity_category"  the propensity task whose list (view label_list_<task>) is given
-- @column "category"  train_target column the list holds
-- returns: one row per list entry (pos, value, popularity), pos order; 0 for values never bought.
SELECT l.pos, l.value, coalesce(c.purchases, 0) AS popularity
FROM label_list_{{ task }} AS l
LEFT JOIN (
    SELECT {{ column }} AS value, count(*) AS purchases
    FROM train_target
    GROUP BY {{ column }}
) AS c ON c.value = l.value
ORDER BY l.pos
