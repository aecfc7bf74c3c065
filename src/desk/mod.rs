//! Every action an admin can take and every question about state, written once for
//! all faces: the window, the CLI, and later the browser sign-in and the gateway.
//! Faces call this module and nothing below it; names are resolved at the CLI's
//! edge, everything here goes by the vault's ids where a result is stored.

pub mod account;
pub mod consumers;
pub mod data_sources;
pub mod error;
pub mod mappings;
pub mod model;
pub mod notify;
pub mod relay;
pub mod schedule;
pub mod settings;
pub mod shared_vault;
pub mod sign_in;
pub mod status;
pub mod tokens;
pub mod users;
pub mod vault_file;
pub mod watch;

pub use error::DeskError;

/// The rules a data source and a mapping must meet, each problem tied to its field.
pub mod rules {
    pub use crate::identity::config::{
        check_endpoint_url, validate_client_id, validate_scopes, validate_tenant,
    };
    pub use crate::vault::ops::validate_email;
    pub use crate::vault::rules::{Field, FieldProblem, check_data_source, check_mapping};
}
