-- AlterTable
ALTER TABLE "check_suites" ADD COLUMN     "base_sha" TEXT;
