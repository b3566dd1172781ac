-- A reseller-and-delegated-admin relationship whose admin roles the customer removed is a
-- reseller's: the type said otherwise beside "no DAP" until removing the roles changed it too.
UPDATE customer_relationships SET kind = 'reseller' WHERE kind = 'reseller_delegated_admin' AND dap = FALSE;
