-- tokendesk shared vault, schema version 3: the data key can be replaced
-- (`tokendesk vault rotate-key`) while desks and gateways keep working.
-- Every row says which version of the data key sealed it; the vault says which
-- version new writes use. While a rotation runs, the new key is also wrapped
-- under the old one (holder 'previous'), so every running process can follow;
-- each old key stays wrapped under its successor (holder 'retired'), so what was
-- sealed with it (a machine's rescue file) still opens with the new key, while
-- the old key opens nothing new.

ALTER TABLE tokendesk_vault ADD COLUMN key_version integer NOT NULL DEFAULT 1;
ALTER TABLE tokendesk_records ADD COLUMN key_version integer NOT NULL DEFAULT 1;
CREATE INDEX tokendesk_records_key_version ON tokendesk_records (vault, key_version);

ALTER TABLE tokendesk_keys ADD COLUMN key_version integer NOT NULL DEFAULT 1;
-- Who a machine wrapping belongs to, for the admin ("jdoe on desk-7, /home/jdoe/...").
ALTER TABLE tokendesk_keys ADD COLUMN label text NOT NULL DEFAULT '';
ALTER TABLE tokendesk_keys DROP CONSTRAINT tokendesk_keys_pkey;
ALTER TABLE tokendesk_keys ADD PRIMARY KEY (vault, holder, key_version);
