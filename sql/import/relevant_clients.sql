-- The relevant clients (docs/import.md §6): all clients, the n most active, a seeded sample of n, or the listed ones.
-- $n BIGINT  how many clients (most_active, sample)
-- $seed VARCHAR  the sample's seed, as text
-- @rule_most_active false   the n clients with the most kept events (ties to the smaller id)
-- @rule_sample false        n clients ordered by md5(seed || ':' || original id)
-- @rule_file false          the clients of the list file (staged as stage_clients)
-- @tables ["product_buy"]   staging tables of the imported event types
-- returns: client_id BIGINT, in ascending id order
{% if rule_most_active or rule_sample %}
SELECT client_id FROM (
    SELECT c.id AS client_id
    FROM map_client_id AS c
{% if rule_most_active %}
    JOIN (
{% for t in tables %}
        {% if not loop.first %}UNION ALL{% endif %}
        SELECT client_key, count(*) AS n FROM {{ t }} WHERE dropped IS NULL GROUP BY 1
{% endfor %}
    ) AS e ON e.client_key = c.original
    GROUP BY c.id
    ORDER BY sum(e.n) DESC, c.id
{% else %}
    ORDER BY md5($seed || ':' || c.original)
{% endif %}
    LIMIT $n
)
ORDER BY client_id
{% elif rule_file %}
SELECT c.id AS client_id
FROM map_client_id AS c SEMI JOIN stage_clients AS l ON l.client_key = c.original
ORDER BY c.id
{% else %}
SELECT id AS client_id FROM map_client_id ORDER BY id
{% endif %}
