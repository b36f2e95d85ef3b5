-- AlterTable: a merge claims its change before it writes main (merge and close of one change at once: one wins).
ALTER TABLE "change_requests" ADD COLUMN "merging_at" TIMESTAMP(3);
