-- CreateTable
CREATE TABLE "reconciler_states" (
    "target" TEXT NOT NULL,
    "server_id" UUID NOT NULL,
    "failed_attempt" TEXT,
    "failed_attempts" INTEGER NOT NULL DEFAULT 0,
    "retry_at" TIMESTAMP(3),
    "crash_revision" TEXT,
    "crash_times" JSONB NOT NULL DEFAULT '[]',
    "pinned_revision" TEXT,
    "pin_bad_revision" TEXT,
    "restart_at" TIMESTAMP(3),
    "sleeping_revision" TEXT,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "reconciler_states_pkey" PRIMARY KEY ("target")
);

-- CreateIndex
CREATE INDEX "reconciler_states_server_id_idx" ON "reconciler_states"("server_id");

-- AddForeignKey
ALTER TABLE "reconciler_states" ADD CONSTRAINT "reconciler_states_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- CreateTable
CREATE TABLE "preview_targets" (
    "target" TEXT NOT NULL,
    "server_id" UUID NOT NULL,
    "change_number" INTEGER NOT NULL,
    "ref" TEXT NOT NULL,
    "tree" TEXT NOT NULL,
    "conditions" JSONB NOT NULL DEFAULT '[]',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "preview_targets_pkey" PRIMARY KEY ("target")
);

-- CreateIndex
CREATE INDEX "preview_targets_server_id_idx" ON "preview_targets"("server_id");

-- AddForeignKey
ALTER TABLE "preview_targets" ADD CONSTRAINT "preview_targets_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
