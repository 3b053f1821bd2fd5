-- Agencies' client certificates (mutual TLS): a certificate acts for the one agency it is
-- registered to, until it expires or is revoked. Checked on every call, so a revocation takes
-- effect on the next call, on connections already open too.
CREATE TABLE agency_certificates (
    fingerprint bytea PRIMARY KEY,  -- SHA-256 of the certificate (DER)
    agency_id text NOT NULL REFERENCES agencies (id),
    subject text NOT NULL,
    serial_number text NOT NULL,
    not_after timestamptz NOT NULL,
    label text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE INDEX agency_certificates_by_agency ON agency_certificates (agency_id, created_at);
