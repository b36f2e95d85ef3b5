-- The gateway's call records are written a batch per row (an array of positional records), so that a call costs
-- the database a fraction of a row instead of a row of its own. `json`, not `jsonb`: written once, read rarely.
ALTER TABLE "server_logs" ADD COLUMN "calls" JSON;

-- lz4 where the server has it (compressing a batch costs about half of pglz's CPU, for the same size); the embedded
-- database has only pglz, and keeps it.
DO $$
BEGIN
  ALTER TABLE "server_logs" ALTER COLUMN "calls" SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
  NULL;
END
$$;
