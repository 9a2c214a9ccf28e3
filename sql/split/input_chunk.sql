-- Write one event type's input chunk (events before the train target window) to a parquet file.
-- $train_target_start TIMESTAMP  first instant of the train target window (excluded from input)
-- $path VARCHAR  parquet file to write
-- @event "product_buy"  event type (view raw_<event> holds the file as published)
-- @value_column "sku"  the event's third column
-- @value_is_id true  true: the value column is an integer id (cast to BIGINT); false: a vector kept as published
-- @ts_text true  true: timestamp is published as text YYYY-MM-DD HH:MM:SS; false: a native timestamp
-- returns: nothing; writes (client_id BIGINT, timestamp TIMESTAMP, <value_column>) in the published file's
-- row order. No ORDER BY: the caller runs it on one thread with preserve_insertion_order = true, which
-- keeps file order and gives the same bytes on every run (and skips a sort of every kept row).
COPY (
    SELECT client_id, timestamp, {{ value_column }}
    FROM (
        SELECT
            CAST(client_id AS BIGINT) AS client_id,
            {% if ts_text %}
            -- CAST is about 30% cheaper than strptime; it runs only on 19-character text (the
            -- published shape; a 'T' separator also passes), the rest goes through strptime,
            -- which rejects it. A bad value fails either way and the error names it.
            CASE WHEN strlen(timestamp) = 19 THEN CAST(timestamp AS TIMESTAMP)
                 ELSE strptime(timestamp, '%Y-%m-%d %H:%M:%S') END AS timestamp,
            {% else %}
            CAST(timestamp AS TIMESTAMP) AS timestamp,
            {% endif %}
            {% if value_is_id %}
            CAST({{ value_column }} AS BIGINT) AS {{ value_column }}
            {% else %}
            {{ value_column }}
            {% endif %}
        FROM raw_{{ event }}
    )
    WHERE timestamp < $train_target_start
) TO $path (FORMAT parquet, PARQUET_VERSION v2)
