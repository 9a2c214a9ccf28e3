-- Relevant clients with at least one product_buy in the input window, in relevant_clients order.
-- returns: one row per active client (client_id), ordered by position in relevant_clients.npy.
SELECT r.client_id
FROM relevant_clients AS r
SEMI JOIN product_buy USING (client_id)
ORDER BY r.pos
