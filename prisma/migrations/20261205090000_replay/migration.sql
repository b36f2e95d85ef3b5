-- CreateTable
CREATE TABLE "replay_settings" (
    "server_id" UUID NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT false,
    "sample_rate" DOUBLE PRECISION NOT NULL DEFAULT 0.1,
    "max_recordings" INTEGER NOT NULL DEFAULT 100,
    "retention_days" INTEGER NOT NULL DEFAULT 14,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "replay_settings_pkey" PRIMARY KEY ("server_id")
);

-- CreateTable
CREATE TABLE "replay_recordings" (
    "id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "revision" TEXT NOT NULL,
    "key_version" TEXT NOT NULL,
    "iv" BYTEA NOT NULL,
    "tag" BYTEA NOT NULL,
    "ciphertext" BYTEA NOT NULL,
    "recorded_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "replay_recordings_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "replay_recordings_server_id_recorded_at_idx" ON "replay_recordings"("server_id", "recorded_at");

-- CreateIndex
CREATE INDEX "replay_recordings_expires_at_idx" ON "replay_recordings"("expires_at");

-- AddForeignKey
ALTER TABLE "replay_settings" ADD CONSTRAINT "replay_settings_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "replay_recordings" ADD CONSTRAINT "replay_recordings_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
