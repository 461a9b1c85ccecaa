-- Editors' breaking items (SPEC 8.2, 8.2a): filled in by the editors issue.
SELECT 1;
