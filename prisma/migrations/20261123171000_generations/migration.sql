-- CreateTable
CREATE TABLE "generations" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "server_name" TEXT,
    "prompt" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "spec" JSONB,
    "change_number" INTEGER,
    "error" JSONB,
    "events" JSONB NOT NULL DEFAULT '[]',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "generations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "generations_org_id_created_at_idx" ON "generations"("org_id", "created_at");
