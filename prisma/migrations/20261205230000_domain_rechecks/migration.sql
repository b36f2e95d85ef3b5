-- AlterTable
ALTER TABLE "server_domains" ADD COLUMN "failed_checks" INTEGER NOT NULL DEFAULT 0;

-- CreateIndex
CREATE INDEX "server_domains_checked_at_idx" ON "server_domains"("checked_at");
