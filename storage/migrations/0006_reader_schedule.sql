-- Digests, quiet hours, readers' time zones (SPEC 4.11, 4.12): filled in by that issue.
SELECT 1;
