-- Churn/conversion labels: the evaluated clients with no product_buy in one target window.
-- @window "train_target"  target window view: train_target or validation_target
-- requires: targets/task_clients
-- returns: one row per evaluated client without a purchase (row), row = position in view task_clients.
SELECT c.pos AS row
FROM task_clients AS c
ANTI JOIN {{ window }} USING (client_id)
ORDER BY row
