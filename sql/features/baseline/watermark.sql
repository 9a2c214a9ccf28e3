-- How far a build has read one event type, over all its events (relevant clients or not): the latest timestamp, and how many events lie at or before a given time.
-- $upto TIMESTAMP  count the events at or before this time (a build passes its own latest; a refresh, the kept watermark, to see that no old event changed)
-- @event "product_buy"  event view to read
-- returns: one row (latest TIMESTAMP, NULL when the type has no events; upto BIGINT; events BIGINT = all of them).
SELECT max(timestamp) AS latest,
       count(*) FILTER (WHERE timestamp <= $upto) AS upto,
       count(*) AS events
FROM {{ event }}
