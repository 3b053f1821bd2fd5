-- WatchCases resumes after the last history id a watcher saw, so ids must become visible in
-- order: a transaction that drew id 10 and committed after the one that drew id 11 was never
-- delivered to a watcher that had already seen 11. Every transaction that writes history now
-- takes one transaction-scoped lock before drawing its first id and keeps it until it commits or
-- rolls back: history ids are drawn in commit order. Only the end of such transactions is
-- serialised (from their first history row to their commit).
CREATE FUNCTION case_history_in_commit_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7166182349350252919);  -- "case_history" feed order
    RETURN NULL;
END;
$$;

CREATE TRIGGER case_history_in_commit_order BEFORE INSERT ON case_history
    FOR EACH STATEMENT EXECUTE FUNCTION case_history_in_commit_order();
