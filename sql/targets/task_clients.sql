-- The evaluated clients as view task_clients(pos, client_id): here the relevant clients in file order.
-- returns: nothing; creates (or replaces) TEMP VIEW task_clients. `ubm targets` registers its own
-- client set under this name instead (relevant or --client-ids, churn: only active clients).
CREATE OR REPLACE TEMP VIEW task_clients AS
SELECT pos, client_id FROM relevant_clients
