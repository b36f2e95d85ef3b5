-- CreateTable
CREATE TABLE "server_domains" (
    "id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "hostname" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "verified_at" TIMESTAMP(3),
    "verified_hostname" TEXT,
    "checked_at" TIMESTAMP(3),
    "last_error" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "server_domains_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "server_domains_server_id_hostname_key" ON "server_domains"("server_id", "hostname");

-- CreateIndex
CREATE INDEX "server_domains_hostname_idx" ON "server_domains"("hostname");

-- CreateIndex
CREATE UNIQUE INDEX "server_domains_verified_hostname_key" ON "server_domains"("verified_hostname");

-- AddForeignKey
ALTER TABLE "server_domains" ADD CONSTRAINT "server_domains_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
