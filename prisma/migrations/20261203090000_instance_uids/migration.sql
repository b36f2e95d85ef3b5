-- CreateTable
CREATE TABLE "instance_uids" (
    "key" TEXT NOT NULL,
    "uid" INTEGER NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "instance_uids_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE UNIQUE INDEX "instance_uids_uid_key" ON "instance_uids"("uid");
