//! The MediaGateway-style vault: data sources, user mappings and their refresh
//! tokens, encrypted at rest with the key in the OS keyring (or a passphrase),
//! written crash-safe and shared safely between the app and the CLI.

pub mod backend;
pub mod consumers;
pub mod crypto;
pub mod csv_import;
pub mod discovery_cache;
pub mod error;
mod handle;
pub mod keys;
pub mod model;
pub mod notifiers;
pub mod ops;
pub mod policy;
pub mod rescue;
pub mod reserve;
pub mod restore;
pub mod rules;
pub mod store;
pub mod target;
pub mod token_lock;
pub mod token_record;

pub use backend::{Backend, TokenGuard};
pub use error::VaultError;
pub use handle::Vault;
pub use keys::{KeySource, Keyring};
pub use model::{
    AppUser, DataSource, ExchangeServer, RefreshRule, RuleStart, Settings, TokenId, TokenRecord,
    UserMapping, VaultData,
};
pub use policy::{TokenState, TokenStatus};
