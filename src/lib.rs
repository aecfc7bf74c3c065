//! tokendesk: keeps OAuth 2.0 refresh tokens for Microsoft 365 (and any OpenID
//! provider) alive, in an encrypted vault, with the Intrexx-style dialog on top.

pub mod audit;
pub mod cli;
pub mod clock;
pub mod desk;
pub mod desktop;
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod hardening;
pub mod identity;
pub mod keepalive;
pub mod lifecycle;
pub mod logging;
pub mod mail;
pub mod notify;
pub mod redemption;
pub mod runtime;
pub mod schedule;
pub mod secret;
pub mod store;
pub mod text;
#[cfg(feature = "gui")]
pub mod ui;
pub mod vault;

pub use secret::Secret;
