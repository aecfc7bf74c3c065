//! tokendesk: keeps OAuth 2.0 refresh tokens for Microsoft 365 (and any OpenID
//! provider) alive, in an encrypted vault, with the Intrexx-style dialog on top.

pub mod clock;
pub mod identity;
pub mod secret;

pub use secret::Secret;
