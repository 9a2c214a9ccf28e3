-- Purchases in each target window of a split, and up to its end (the split refuses a window that is empty or nearly so).
-- $since TIMESTAMP  train_target_start
-- $middle TIMESTAMP  validation_target_start
-- $until TIMESTAMP  end, the last instant of the validation window (inclusive)
-- returns: one row (train, validation, upto, first_ts): purchases in each window, purchases up to end, the first purchase.
SELECT count(*) FILTER (WHERE timestamp >= $since AND timestamp < $middle) AS train,
       count(*) FILTER (WHERE timestamp >= $middle AND timestamp <= $until) AS validation,
       count(*) FILTER (WHERE timestamp <= $until) AS upto,
       min(timestamp) AS first_ts
FROM product_buy
