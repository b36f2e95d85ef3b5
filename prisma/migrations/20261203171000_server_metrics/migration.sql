-- Per-server, per-tool call metrics: one row per (server, resolution, bucket start, tool), written by every platform
-- process once a minute and merged on conflict (counts add, latency histograms add bucket by bucket).
CREATE TABLE "server_metrics" (
    "server_id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "resolution" TEXT NOT NULL,
    "start" TIMESTAMP(3) NOT NULL,
    "tool" TEXT NOT NULL,
    "calls" INTEGER NOT NULL DEFAULT 0,
    "errors" INTEGER NOT NULL DEFAULT 0,
    "latency_sum" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "histogram" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "server_metrics_pkey" PRIMARY KEY ("server_id","resolution","start","tool")
);

-- CreateIndex
CREATE INDEX "server_metrics_resolution_start_idx" ON "server_metrics"("resolution", "start");
CREATE INDEX "server_metrics_org_id_idx" ON "server_metrics"("org_id");

-- AddForeignKey
ALTER TABLE "server_metrics" ADD CONSTRAINT "server_metrics_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "server_metrics" ADD CONSTRAINT "server_metrics_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
