-- Plans and usage. An org's plan (NULL: the operator's default, BMMS_DEFAULT_PLAN) and, for Enterprise, limits of
-- its own (NULL: the plan's).
ALTER TABLE "orgs" ADD COLUMN "plan" TEXT;
ALTER TABLE "orgs" ADD COLUMN "plan_servers" INTEGER;
ALTER TABLE "orgs" ADD COLUMN "plan_calls" BIGINT;

-- Every MCP request through the gateway, counted per org, server, method, tool, status and calendar month (UTC).
-- Each platform process writes its own rows (process_id, a random id per start) with its running totals for the
-- month: a flush sets a row to the larger of its value and the process's count, so a flush repeated after a lost
-- answer never adds twice, and the processes' rows add up to the total. No foreign key to servers: a deleted
-- server's calls still count towards its org's month.
CREATE TABLE "usage_counts" (
    "process_id" UUID NOT NULL,
    "month" DATE NOT NULL,
    "org_id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "preview" BOOLEAN NOT NULL,
    "method" TEXT NOT NULL,
    "tool" TEXT NOT NULL,
    "status" INTEGER NOT NULL,
    "calls" INTEGER NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "usage_counts_pkey" PRIMARY KEY ("process_id","month","server_id","preview","method","tool","status")
);

CREATE INDEX "usage_counts_org_id_month_idx" ON "usage_counts"("org_id", "month");

ALTER TABLE "usage_counts" ADD CONSTRAINT "usage_counts_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
