-- Stripe billing: an org's customer and its current subscription, as the subscription itself last said (its status,
-- its creation time, the end of its period), so that an older subscription of the same customer never displaces a
-- newer one whatever order the webhooks arrive in.
ALTER TABLE "orgs" ADD COLUMN "stripe_customer_id" TEXT;
ALTER TABLE "orgs" ADD COLUMN "stripe_subscription_id" TEXT;
ALTER TABLE "orgs" ADD COLUMN "subscription_status" TEXT;
ALTER TABLE "orgs" ADD COLUMN "subscription_created_at" TIMESTAMP(3);
ALTER TABLE "orgs" ADD COLUMN "subscription_period_end" TIMESTAMP(3);
-- When the subscription written was retrieved: an older reading never overwrites a newer one.
ALTER TABLE "orgs" ADD COLUMN "subscription_synced_at" TIMESTAMP(3);

CREATE UNIQUE INDEX "orgs_stripe_customer_id_key" ON "orgs"("stripe_customer_id");

-- Stripe webhook events acted on, by event id: a redelivered or replayed event is acknowledged and not acted on
-- again, by whichever platform process sees it.
CREATE TABLE "stripe_events" (
    "id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "org_id" UUID,
    "outcome" TEXT NOT NULL,
    "received_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stripe_events_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "stripe_events_received_at_idx" ON "stripe_events"("received_at");
