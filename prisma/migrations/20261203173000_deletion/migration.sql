-- An organization being deleted: set first (with its members, keys and invitations gone), so a platform that dies
-- half way finishes the deletion at its next start.
ALTER TABLE "orgs" ADD COLUMN "deleting_at" TIMESTAMP(3);
