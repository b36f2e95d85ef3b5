-- Per-server logs: gateway calls, instance output, deploy events. Swept after the retention period.
CREATE TABLE "server_logs" (
    "id" BIGSERIAL NOT NULL,
    "server_id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "time" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "kind" TEXT NOT NULL,
    "level" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "preview" INTEGER,
    "revision" TEXT,
    "stream" TEXT,
    "tool" TEXT,
    "call" JSONB,

    CONSTRAINT "server_logs_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "server_logs_server_id_id_idx" ON "server_logs"("server_id", "id");

-- CreateIndex
CREATE INDEX "server_logs_time_idx" ON "server_logs"("time");

-- CreateIndex
CREATE INDEX "server_logs_org_id_idx" ON "server_logs"("org_id");

-- AddForeignKey
ALTER TABLE "server_logs" ADD CONSTRAINT "server_logs_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
