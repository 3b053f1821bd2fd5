-- The case's history, which is also the agencies' change feed (WatchCases resumes from its id);
-- extension requests; and the deadline schedule (reminders, overdue, escalation).
ALTER TABLE cases
    ADD COLUMN organisation_parent_id text,
    ADD COLUMN overdue_at timestamptz,
    ADD COLUMN escalated_at timestamptz;

CREATE TABLE case_history (
    id bigserial PRIMARY KEY,
    case_id uuid NOT NULL REFERENCES cases (id),
    agency_id text NOT NULL,
    at timestamptz NOT NULL,
    change text NOT NULL,
    detail text NOT NULL DEFAULT ''
);

CREATE INDEX case_history_by_case ON case_history (case_id, id);
CREATE INDEX case_history_by_agency ON case_history (agency_id, id);

CREATE FUNCTION case_history_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('case_history', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER case_history_notify AFTER INSERT ON case_history
    FOR EACH STATEMENT EXECUTE FUNCTION case_history_notify();

CREATE TABLE extensions (
    id uuid PRIMARY KEY,
    case_id uuid NOT NULL REFERENCES cases (id),
    request_id text NOT NULL,
    reason text NOT NULL,
    requested_due_date date NOT NULL,
    requested_at timestamptz NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'granted', 'refused')),
    decided_at timestamptz,
    decision_note text NOT NULL DEFAULT '',
    UNIQUE (case_id, request_id)
);

-- One row per deadline step still to happen or done. A step fires in the transaction that
-- records its event, so a restart neither loses nor repeats it; SKIP LOCKED lets several
-- instances share the work.
CREATE TABLE deadline_steps (
    case_id uuid NOT NULL REFERENCES cases (id),
    step text NOT NULL,
    due_date date NOT NULL,
    fire_at timestamptz NOT NULL,
    fired_at timestamptz,
    PRIMARY KEY (case_id, step, due_date)
);

CREATE INDEX deadline_steps_pending ON deadline_steps (fire_at) WHERE fired_at IS NULL;
