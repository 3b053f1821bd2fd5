CREATE TABLE agencies (
    id text PRIMARY KEY,
    name text NOT NULL,
    level text NOT NULL CHECK (level IN ('central', 'provincial', 'commune')),
    parent_id text REFERENCES agencies (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of each token is kept; the token itself is shown once, when issued.
CREATE TABLE agency_tokens (
    token_hash bytea PRIMARY KEY,
    agency_id text NOT NULL REFERENCES agencies (id),
    label text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);

CREATE TABLE cases (
    id uuid PRIMARY KEY,
    critique_id uuid NOT NULL UNIQUE,
    agency_id text NOT NULL,
    organisation_id text NOT NULL,
    organisation_name text NOT NULL,
    organisation_level text NOT NULL,
    kind text NOT NULL,
    title text NOT NULL,
    opened_at timestamptz NOT NULL,
    due_date date NOT NULL,
    due_rule jsonb NOT NULL,
    status text NOT NULL,
    -- The W3C trace context of the submission's journey, so later steps join the same trace.
    traceparent text,
    tracestate text,
    answer_request_id text,
    answered_at timestamptz,
    answered_late boolean
);

CREATE INDEX cases_by_agency ON cases (agency_id, opened_at DESC, id DESC);

CREATE TABLE case_points (
    case_id uuid NOT NULL REFERENCES cases (id),
    number integer NOT NULL,
    text text NOT NULL,
    citation text,
    disposition text,
    explanation text,
    PRIMARY KEY (case_id, number)
);
