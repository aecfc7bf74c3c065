//! What the worker reports to the window: one event per result, each followed
//! by a repaint request.

use crate::desk::DeskError;
use crate::desk::model::{
    AppUser, DeviceAuthorization, IdentityError, TokenSet, VaultData, VaultError,
};
use crate::desk::shared_vault::{DatabaseFound, Migrated};
use crate::desk::tokens::RenewReport;

use super::store_watch::StoreView;

pub enum Event {
    VaultOpened(Result<VaultData, VaultError>),
    /// The vault after a change; an older generation than the one shown is stale.
    VaultChanged(VaultData),
    Failed(DeskError),
    SignInCode(Box<DeviceAuthorization>),
    /// The browser sign-in waits for the browser's answer at this page.
    BrowserWaiting(url::Url),
    /// The system browser could not be started: the page is shown to copy.
    BrowserNotOpened(String),
    SignInFinished(Box<Result<TokenSet, IdentityError>>),
    /// The vault could not take a sign-in's result, so none was started.
    SignInRefused(DeskError),
    /// Revoke and Clear finished: whether the provider revoked it, or why nothing
    /// was cleared.
    Revoked(Result<bool, DeskError>),
    /// All mailboxes › Clear with revocation finished.
    RevokedAll(Result<crate::desk::tokens::RevokeReport, DeskError>),
    /// The account the API answered for, or what went wrong.
    TestFinished(Result<String, DeskError>),
    KeepAliveFinished(Result<RenewReport, DeskError>),
    RenewFinished(Result<RenewReport, DeskError>),
    ImportPreview(Result<Vec<AppUser>, DeskError>),
    GatewayServing(bool),
    /// Where the vault is, and whether its database answers.
    Store(StoreView),
    /// Settings › Vault: what a connection test found.
    DatabaseTested(Result<DatabaseFound, DeskError>),
    /// Settings › Vault: the vault moved into the database or back (then reopened).
    VaultMoved(Result<Migrated, DeskError>),
    ScheduleFinished(Result<String, DeskError>),
    /// Settings › Notifications › Test: which notifier, and whether it delivered.
    NotifierTested(String, Result<(), DeskError>),
}
