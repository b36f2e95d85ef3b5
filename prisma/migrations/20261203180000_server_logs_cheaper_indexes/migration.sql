-- Every gateway call writes a server_logs row, so each index is paid on the call path's budget.
-- org_id was never read (an org's records go with its servers); the retention sweep's time index becomes a BRIN
-- index, which fits an append-only table whose rows arrive in time order and costs almost nothing per insert.
DROP INDEX IF EXISTS "server_logs_org_id_idx";

DROP INDEX IF EXISTS "server_logs_time_idx";

CREATE INDEX "server_logs_time_idx" ON "server_logs" USING BRIN ("time");
