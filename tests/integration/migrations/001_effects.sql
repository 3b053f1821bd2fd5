-- A deliberately non-idempotent effect: applying an event twice would count 2.
CREATE TABLE effects (
    critique_id uuid PRIMARY KEY,
    applied integer NOT NULL
);
