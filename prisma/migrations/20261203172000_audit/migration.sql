-- The audit log: the caller's address on every event, and the rows made append-only.

-- AlterTable
ALTER TABLE "audit_events" ADD COLUMN "ip" TEXT;

-- CreateIndex
CREATE INDEX "audit_events_org_id_action_created_at_idx" ON "audit_events"("org_id", "action", "created_at");

-- Append-only. The database refuses DELETE and TRUNCATE of audit_events, and every UPDATE except one kind:
-- an anonymization, which may only
--   * set actor_id, actor_key_id, ip, org_id and target_id to NULL (or leave them as they are), and
--   * remove keys from data (the new data must be contained in the old one: NEW.data <@ OLD.data);
-- id, action, target_type, request_id and created_at never change, and nothing is ever added.
-- anonymizeAudit() in platform/src/audit.ts is that update (an account's or org's deletion calls it); deleting an
-- org sets org_id to NULL through the foreign key (ON DELETE SET NULL), which is the same kind of update.
CREATE FUNCTION "audit_events_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.id = OLD.id
       AND NEW.action = OLD.action
       AND NEW.target_type = OLD.target_type
       AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id
       AND NEW.created_at = OLD.created_at
       AND (NEW.actor_id IS NULL OR NEW.actor_id = OLD.actor_id)
       AND (NEW.actor_key_id IS NULL OR NEW.actor_key_id = OLD.actor_key_id)
       AND (NEW.ip IS NULL OR NEW.ip = OLD.ip)
       AND (NEW.org_id IS NULL OR NEW.org_id = OLD.org_id)
       AND (NEW.target_id IS NULL OR NEW.target_id = OLD.target_id)
       AND NEW.data <@ OLD.data
    THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: an UPDATE may only anonymize (set actor, address, org or target to NULL, remove keys from data)'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RAISE EXCEPTION 'audit_events is append-only: % is refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER "audit_events_append_only" BEFORE UPDATE OR DELETE ON "audit_events"
  FOR EACH ROW EXECUTE FUNCTION "audit_events_append_only"();

CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "audit_events"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_events_append_only"();
