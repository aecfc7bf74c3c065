-- tokendesk shared vault, schema version 1.
-- Every row of tokendesk_records is sealed with the vault's data key (XChaCha20-
-- Poly1305, bound to the vault, the row's kind and id and its revision); the data
-- key is stored only wrapped (tokendesk_keys). A pg_dump shows no token, secret or key.

CREATE TABLE tokendesk_vault (
    id          uuid PRIMARY KEY,
    -- Bumped by every change; readers ask only for rows changed since theirs.
    generation  bigint NOT NULL DEFAULT 0,
    -- Argon2id settings and salt of the passphrase that wraps the data key (JSON).
    kdf         jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tokendesk_keys (
    vault    uuid NOT NULL REFERENCES tokendesk_vault (id) ON DELETE CASCADE,
    -- 'passphrase', or 'machine:<keyring key id>' for one machine's keyring.
    holder   text NOT NULL,
    wrapped  bytea NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vault, holder)
);

CREATE TABLE tokendesk_records (
    vault       uuid NOT NULL REFERENCES tokendesk_vault (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    id          text NOT NULL,
    revision    bigint NOT NULL,
    -- The vault generation that last wrote (or removed) this row.
    changed_in  bigint NOT NULL,
    -- NULL: removed in changed_in (kept so that readers see the removal).
    sealed      bytea,
    PRIMARY KEY (vault, kind, id)
);
CREATE INDEX tokendesk_records_changed ON tokendesk_records (vault, changed_in);

-- One redemption per token across every machine: a lease, renewed while its
-- holder lives, gone when it dies (at most 30 s later).
CREATE TABLE tokendesk_locks (
    vault       uuid NOT NULL REFERENCES tokendesk_vault (id) ON DELETE CASCADE,
    token       text NOT NULL,
    holder      text NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (vault, token)
);
