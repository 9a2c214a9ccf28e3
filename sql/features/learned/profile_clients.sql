-- Points the view learned_clients(pos, client_id), which the learned recipe's per-client queries read, at the relevant clients.
-- returns: nothing; creates the temp view learned_clients. Training points it at its sample instead
--   (ubm.profiles.recipes.learned registers the sampled ids under the same name).
CREATE OR REPLACE TEMP VIEW learned_clients AS
SELECT pos, client_id FROM relevant_clients
