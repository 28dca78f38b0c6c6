-- The files an attempt deleted from its task (a fixer's answer may remove
-- a file the task wrote, e.g. a stray file with another package clause):
-- a JSON array of paths, empty for an attempt that deleted nothing.
ALTER TABLE task_attempts ADD COLUMN deleted TEXT NOT NULL DEFAULT '[]';
