-- Placeholder for migration 0005, which another branch adds. Migrations
-- must be numbered without gaps, so this branch keeps the number free with
-- an empty migration; it is deleted when the other branch's 0005 is merged.
SELECT 1;
