-- One event type's input chunk: the events before the train target window, typed, for the engine to write to parquet.
-- $train_target_start TIMESTAMP  first instant of the train target window (excluded from input)
-- @event "product_buy"  event type (view raw_<event> holds the file as published)
-- @value_column "sku"  the event's third column
-- @value_is_id true  true: the value column is an integer id (cast to BIGINT); false: a vector kept as published
-- @ts_text true  true: timestamp is published as text YYYY-MM-DD HH:MM:SS; false: a native timestamp
-- returns: (client_id BIGINT, timestamp TIMESTAMP, <value_column>) in the published file's row order. No ORDER BY:
-- DuckDB writes it on one thread with preserve_insertion_order = true, which keeps file order and gives the same
-- bytes on every run (and skips a sort of every kept row); Spark keeps the order of its file splits.
{% import "macros/parse.sql" as p %}
SELECT client_id, timestamp, {{ value_column }}
FROM (
    SELECT
        CAST(client_id AS BIGINT) AS client_id,
        {% if ts_text %}
        {{ p.timestamp_from_text("timestamp") }} AS timestamp,
        {% else %}
        CAST(timestamp AS TIMESTAMP) AS timestamp,
        {% endif %}
        {% if value_is_id %}
        CAST({{ value_column }} AS BIGINT) AS {{ value_column }}
        {% else %}
        {{ value_column }}
        {% endif %}
    FROM raw_{{ event }}
) AS typed
WHERE timestamp < $train_target_start
