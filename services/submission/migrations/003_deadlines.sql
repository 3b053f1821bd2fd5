-- What tracking reports about deadlines: extension requests to decide, overdue, escalations.
ALTER TABLE critiques ADD COLUMN overdue_at timestamptz;

CREATE TABLE extensions (
    id uuid PRIMARY KEY,
    critique_id uuid NOT NULL REFERENCES critiques (id),
    reason text NOT NULL,
    current_due_date date NOT NULL,
    requested_due_date date NOT NULL,
    requested_at timestamptz NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'granted', 'refused')),
    decided_at timestamptz,
    note text NOT NULL DEFAULT ''
);

CREATE INDEX extensions_by_critique ON extensions (critique_id, requested_at);

-- Escalations addressed to a Front committee about its lower level's overdue critiques.
CREATE TABLE escalations (
    critique_id uuid NOT NULL,
    escalated_to text NOT NULL,
    organisation_id text NOT NULL,
    agency_id text NOT NULL,
    title text NOT NULL,
    due_date date NOT NULL,
    at timestamptz NOT NULL,
    PRIMARY KEY (critique_id, escalated_to)
);

CREATE INDEX escalations_by_recipient ON escalations (escalated_to, at DESC);
