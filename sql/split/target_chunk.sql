-- Write one target window of product_buy, with the product's category, price and name, to parquet.
-- $since TIMESTAMP  first instant of the window (inclusive)
-- $until TIMESTAMP  end of the window
-- $include_until BOOLEAN  true: the window ends at $until inclusive (validation); false: exclusive (train)
-- $path VARCHAR  parquet file to write
-- @ts_text true  true: product_buy.timestamp is published as text; false: a native timestamp
-- returns: nothing; writes (client_id, timestamp, sku, category, price, name) ordered by
-- client_id, timestamp, sku; name keeps its published encoding.
COPY (
    SELECT b.client_id, b.timestamp, b.sku,
           CAST(p.category AS BIGINT) AS category,
           CAST(p.price AS BIGINT) AS price,
           p.name
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
            CAST(sku AS BIGINT) AS sku
        FROM raw_product_buy
    ) AS b
    JOIN raw_product_properties AS p ON CAST(p.sku AS BIGINT) = b.sku
    WHERE b.timestamp >= $since
      AND (b.timestamp < $until OR ($include_until AND b.timestamp = $until))
    ORDER BY b.client_id, b.timestamp, b.sku
) TO $path (FORMAT parquet, PARQUET_VERSION v2)
