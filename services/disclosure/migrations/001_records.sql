-- The public read model. Events of one critique arrive on two topics whose relative order is not
-- guaranteed, so every column a later event fills is nullable and every table is upserted.
CREATE TABLE records (
    critique_id uuid PRIMARY KEY,
    organisation_id text,
    organisation_name text,
    organisation_level text,
    agency_id text,
    kind text,
    title text,
    submitted_at timestamptz,
    case_id uuid,
    due_date date,
    due_rule jsonb,
    answered_at timestamptz,
    answered_late boolean,
    published_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE record_points (
    critique_id uuid NOT NULL REFERENCES records (critique_id),
    number integer NOT NULL,
    text text NOT NULL,
    citation text,
    PRIMARY KEY (critique_id, number)
);

CREATE TABLE record_answers (
    critique_id uuid NOT NULL REFERENCES records (critique_id),
    point_number integer NOT NULL,
    disposition text NOT NULL,
    explanation text NOT NULL,
    PRIMARY KEY (critique_id, point_number)
);

CREATE TABLE record_timeline (
    event_id uuid PRIMARY KEY,
    critique_id uuid NOT NULL REFERENCES records (critique_id),
    at timestamptz NOT NULL,
    step text NOT NULL
);

CREATE INDEX record_timeline_by_record ON record_timeline (critique_id, at);
