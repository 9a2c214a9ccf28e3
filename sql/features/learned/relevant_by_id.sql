-- The relevant clients in client_id order, with their row in relevant_clients.npy.
-- returns: pos BIGINT (row of the entry), client_id BIGINT; one row per relevant client,
--   ordered by client_id (the learned recipe encodes in this order, so shuffling the file
--   only permutes the entry's rows). No parameters.
SELECT pos, client_id
FROM relevant_clients
ORDER BY client_id
