-- CreateTable
CREATE TABLE "published_templates" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "org_id" UUID NOT NULL,
    "source_server_id" UUID,
    "commit_sha" TEXT NOT NULL,
    "tree_sha" TEXT NOT NULL,
    "revision" INTEGER NOT NULL DEFAULT 1,
    "visibility" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "files" JSONB NOT NULL,
    "published_by_id" UUID,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "taken_down_at" TIMESTAMP(3),
    "taken_down_by_id" UUID,
    "takedown_reason" TEXT,

    CONSTRAINT "published_templates_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "template_forks" (
    "server_id" UUID NOT NULL,
    "template_id" UUID NOT NULL,
    "commit_sha" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "template_forks_pkey" PRIMARY KEY ("server_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "published_templates_name_key" ON "published_templates"("name");

-- CreateIndex
CREATE INDEX "published_templates_org_id_idx" ON "published_templates"("org_id");

-- CreateIndex
CREATE INDEX "published_templates_source_server_id_idx" ON "published_templates"("source_server_id");

-- CreateIndex
CREATE INDEX "template_forks_template_id_idx" ON "template_forks"("template_id");

-- AddForeignKey
ALTER TABLE "published_templates" ADD CONSTRAINT "published_templates_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "published_templates" ADD CONSTRAINT "published_templates_source_server_id_fkey" FOREIGN KEY ("source_server_id") REFERENCES "servers"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "template_forks" ADD CONSTRAINT "template_forks_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "template_forks" ADD CONSTRAINT "template_forks_template_id_fkey" FOREIGN KEY ("template_id") REFERENCES "published_templates"("id") ON DELETE CASCADE ON UPDATE CASCADE;
