-- Tracking decides every step after submission, the organisation's amendments, withdrawals and
-- decisions on extensions included (asked for through submission, as request events). Each
-- request is decided once, and the decision kept; answers name the version they answer.
ALTER TABLE cases ADD COLUMN answered_version integer;

CREATE TABLE case_requests (
    request_id uuid PRIMARY KEY,
    critique_id uuid NOT NULL,
    case_id uuid REFERENCES cases (id),
    kind text NOT NULL CHECK (kind IN ('amendment', 'withdrawal', 'extension_decision')),
    outcome text NOT NULL CHECK (outcome IN ('accepted', 'refused')),
    reason text,
    decided_at timestamptz NOT NULL
);

CREATE INDEX case_requests_by_case ON case_requests (case_id);
