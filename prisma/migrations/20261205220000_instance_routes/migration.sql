-- CreateTable
CREATE TABLE "instance_routes" (
    "target" TEXT NOT NULL,
    "server_id" UUID NOT NULL,
    "instance_id" TEXT NOT NULL,
    "revision" TEXT NOT NULL,
    "tree_sha" TEXT NOT NULL,
    "socket_path" TEXT NOT NULL,
    "fingerprint" TEXT,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "instance_routes_pkey" PRIMARY KEY ("target")
);

-- CreateIndex
CREATE INDEX "instance_routes_server_id_idx" ON "instance_routes"("server_id");

-- AddForeignKey
ALTER TABLE "instance_routes" ADD CONSTRAINT "instance_routes_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
