-- A case's steps still to fire, found by the case: cancelling them (an answer, a withdrawal, a
-- moved due date) read every pending step of every case through deadline_steps_pending, combined
-- with the primary key, whenever the planner's statistics were behind the table (a young or
-- fast-growing database): thousands of index entries per journey, more as cases accumulate.
CREATE INDEX deadline_steps_pending_by_case ON deadline_steps (case_id) WHERE fired_at IS NULL;
