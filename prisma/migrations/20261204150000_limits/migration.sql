-- The 80 % and 100 % alerts of an org's monthly calls: one row per org, month and share, whichever platform process
-- got there first (it alone sends the email).
CREATE TABLE "usage_alerts" (
    "org_id" UUID NOT NULL,
    "month" DATE NOT NULL,
    "percent" INTEGER NOT NULL,
    "used" BIGINT NOT NULL,
    "quota" BIGINT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "usage_alerts_pkey" PRIMARY KEY ("org_id","month","percent")
);

ALTER TABLE "usage_alerts" ADD CONSTRAINT "usage_alerts_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Gateway rate limits shared by the platform processes on one Postgres: each process's count of a key (`address:<ip>`,
-- `token:<client>`) in a fixed window (`slot` = start / window length); the sliding window weighs two of them.
CREATE TABLE "rate_limit_counts" (
    "key" TEXT NOT NULL,
    "slot" BIGINT NOT NULL,
    "process_id" UUID NOT NULL,
    "count" INTEGER NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "rate_limit_counts_pkey" PRIMARY KEY ("key","slot","process_id")
);

CREATE INDEX "rate_limit_counts_updated_at_idx" ON "rate_limit_counts"("updated_at");
