//! The plain data the faces draw and hand back to the desk: data sources, tokens,
//! their states, the provider settings, the clock and the redacting secret. Types
//! only; every action on them is a function of the desk.

pub use crate::clock::{Clock, SharedClock, SystemClock, TokioSleeper};
pub use crate::identity::{
    Authority, Cloud, DeviceAuthorization, IdentityError, PollEvent, ProviderConfig, Scopes,
    TokenSet,
};
pub use crate::keepalive::engine::RenewCounts;
pub use crate::redemption::RedeemError;
pub use crate::secret::Secret;
pub use crate::vault::consumers::Consumer;
pub use crate::vault::model::TokenId;
pub use crate::vault::ops::TokenTarget;
pub use crate::vault::policy::{ExpiryBasis, TokenState};
pub use crate::vault::restore::RestoreReport;
pub use crate::vault::{
    AppUser, DataSource, ExchangeServer, KeySource, RefreshRule, RuleStart, Settings, TokenRecord,
    UserMapping, Vault, VaultData, VaultError,
};

/// Questions about a token's state at a given time (pure functions of the record).
pub mod policy {
    pub use crate::vault::policy::*;
}
