-- tokendesk shared vault, schema version 2: who is here, and what was done.

-- Every desk, gateway and command using the vault says so every few seconds;
-- the windows show the others seen in the last minute. Rows a day old go.
CREATE TABLE tokendesk_presence (
    vault    uuid NOT NULL REFERENCES tokendesk_vault (id) ON DELETE CASCADE,
    machine  text NOT NULL,
    -- 'desk' (the window), 'gateway' (tokendesk serve) or 'cli'.
    face     text NOT NULL,
    pid      integer NOT NULL,
    seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vault, machine, face, pid)
);

-- One audit log across machines: each machine's local audit file is the spool,
-- shipped here line by line. No token, secret or key is ever in an entry.
CREATE TABLE tokendesk_audit (
    vault    uuid NOT NULL REFERENCES tokendesk_vault (id) ON DELETE CASCADE,
    -- The machine and folder whose spool the line came from, and its place in
    -- it: shipping the same line twice stores it once.
    spool    text NOT NULL,
    line     text NOT NULL,
    machine  text NOT NULL,
    at       timestamptz NOT NULL,
    entry    jsonb NOT NULL,
    PRIMARY KEY (vault, spool, line)
);
CREATE INDEX tokendesk_audit_at ON tokendesk_audit (vault, at);
