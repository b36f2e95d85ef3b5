-- An organization's connection to GitHub (or GitHub Enterprise Server): a fine-grained personal access token, or a
-- GitHub App installation (app id and private key: short-lived installation tokens). The credential and the webhook
-- secret are AES-256-GCM encrypted like server secrets; `login` is what "connected as …" shows.
CREATE TABLE "github_connections" (
    "org_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "api_url" TEXT NOT NULL,
    "login" TEXT NOT NULL,
    "app_id" TEXT,
    "installation_id" TEXT,
    "key_version" TEXT NOT NULL,
    "iv" BYTEA NOT NULL,
    "tag" BYTEA NOT NULL,
    "ciphertext" BYTEA NOT NULL,
    "webhook_key_version" TEXT NOT NULL,
    "webhook_iv" BYTEA NOT NULL,
    "webhook_tag" BYTEA NOT NULL,
    "webhook_ciphertext" BYTEA NOT NULL,
    "problem" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "github_connections_pkey" PRIMARY KEY ("org_id")
);

ALTER TABLE "github_connections" ADD CONSTRAINT "github_connections_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A server whose repository lives on GitHub: its owner and repository there, and the repository's web address.
ALTER TABLE "servers" ADD COLUMN "github_owner" TEXT;
ALTER TABLE "servers" ADD COLUMN "github_repo" TEXT;
ALTER TABLE "servers" ADD COLUMN "github_private" BOOLEAN;
ALTER TABLE "servers" ADD COLUMN "github_url" TEXT;

-- The pull request of a change on GitHub.
ALTER TABLE "change_requests" ADD COLUMN "github_pull" INTEGER;

-- Webhook deliveries acted on, by GitHub's delivery id: a replay (or a second replica receiving the same delivery)
-- is refused; old ids are swept.
CREATE TABLE "github_deliveries" (
    "id" TEXT NOT NULL,
    "org_id" UUID NOT NULL,
    "event" TEXT NOT NULL,
    "received_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "github_deliveries_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "github_deliveries_received_at_idx" ON "github_deliveries"("received_at");
