//! Stores a vault's records can live in besides the encrypted file in a folder
//! (`vault::store::FileStore`): a PostgreSQL database that every desk and gateway
//! of an organisation shares. Each is a `vault::Backend`, so the guarded path, the
//! keep-alive, `desk` and the gateway run on it unchanged.

pub mod pointer;
pub mod postgres;
