-- Events per client row among a refresh's new events of one type: what each client's kept total grows by.
-- $after TIMESTAMP  the kept watermark: the events after it are new (the kept tail's are all at or before it)
-- @event "product_buy"  event type; reads temp table relevant_<event>
-- requires: features/baseline/relevant_events
-- returns: one row per pos with new events (pos, events BIGINT), clients without any absent; ordered by pos.
SELECT pos, count(*) AS events FROM relevant_{{ event }} WHERE timestamp > $after GROUP BY pos ORDER BY pos
