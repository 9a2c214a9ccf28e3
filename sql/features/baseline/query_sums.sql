-- Per relevant client with searches: how many searches and the sum of each of the 16 query integers (the state a refresh adds to; mean = sum / count is exactly query_mean's avg).
-- $after TIMESTAMP  with @fresh: only searches strictly after this time
-- @dims 16  length of the query vector
-- @fresh false  keep only the searches after $after
-- returns: one row per relevant client with at least one such search (pos, n BIGINT, s1 .. s<dims> BIGINT), ordered by pos.
SELECT
    r.pos,
    count(*) AS n
    {% for i in range(1, dims + 1) %}
    , CAST(sum(e.query[{{ i }}]) AS BIGINT) AS s{{ i }}
    {% endfor %}
FROM search_query AS e
JOIN relevant_clients AS r ON r.client_id = e.client_id
{% if fresh %}
WHERE e.timestamp > $after
{% endif %}
GROUP BY r.pos
ORDER BY r.pos
