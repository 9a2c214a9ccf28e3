-- Pseudo-future purchases of the learned recipe's training clients: what they bought at or after the cut.
-- $cut TIMESTAMP  start of the pseudo-future (the input window's last days)
-- $lo BIGINT  first learned_clients position of this chunk
-- $hi BIGINT  one past the last position of this chunk
-- requires: features/learned/profile_clients
-- returns: distinct (pos, sku, category, price) bought by clients with lo <= pos < hi at or after the cut
--   (category and price NULL for a sku without properties), ordered by pos, sku.
SELECT DISTINCT c.pos, b.sku, p.category, p.price
FROM product_buy b
JOIN learned_clients c USING (client_id)
LEFT JOIN product_properties p ON p.sku = b.sku
WHERE b.timestamp >= $cut AND c.pos >= $lo AND c.pos < $hi
ORDER BY c.pos, b.sku
