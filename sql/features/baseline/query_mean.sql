-- Per relevant client with searches: the mean of each of the 16 query integers over the client's search_query events.
-- @dims 16  length of the query vector
-- returns: one row per relevant client with at least one search (pos, q1 .. q<dims> as DOUBLE); clients without searches are absent.
SELECT
    r.pos
    {% for i in range(1, dims + 1) %}
    , avg(e.query[{{ i }}]) AS q{{ i }}
    {% endfor %}
FROM search_query AS e
JOIN relevant_clients AS r ON r.client_id = e.client_id
GROUP BY r.pos
