CREATE TABLE organisations (
    id text PRIMARY KEY,
    name text NOT NULL,
    level text NOT NULL CHECK (level IN ('central', 'provincial', 'commune')),
    parent_id text REFERENCES organisations (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of each token is kept; the token itself is shown once, when issued.
CREATE TABLE organisation_tokens (
    token_hash bytea PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisations (id),
    label text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);

CREATE TABLE critiques (
    id uuid PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisations (id),
    agency_id text NOT NULL,
    kind text NOT NULL,
    title text NOT NULL,
    status text NOT NULL,
    submitted_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX critiques_by_organisation ON critiques (organisation_id, submitted_at DESC);

CREATE TABLE critique_points (
    critique_id uuid NOT NULL REFERENCES critiques (id),
    number integer NOT NULL,
    text text NOT NULL,
    citation text,
    PRIMARY KEY (critique_id, number)
);
