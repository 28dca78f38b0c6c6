-- Reserved (sqlite): version 10 belongs to a change being made on another
-- branch; the marketing tables are 0011. This file is replaced by that
-- change when both are merged. It changes nothing.
SELECT 1;
