//! What the window asks the worker to do: one command per admin action.

use std::path::PathBuf;

use chrono::NaiveDate;

use crate::desk;
use crate::desk::model::{
    AppUser, DataSource, KeySource, ProviderConfig, Settings, TokenSet, TokenTarget,
};
use crate::desk::schedule::ScheduleAction;
use crate::desk::sign_in::{Method, PageLanguage, RedirectUri};
use crate::desk::tokens::Acceptance;

pub enum Command {
    OpenVault {
        keys: KeySource,
    },
    RestoreBackup {
        keys: KeySource,
    },
    /// Adds the data source, or replaces the one with the same id.
    SaveDataSource(Box<DataSource>),
    DeleteDataSource(uuid::Uuid),
    StoreSignIn {
        target: TokenTarget,
        tokens: Box<TokenSet>,
        acceptance: Acceptance,
    },
    /// A sign-in for a data source or an additional user the vault does not have
    /// yet: stored together with it at once.
    StoreUnsavedSignIn {
        unsaved: Box<desk::tokens::Unsaved>,
        target: TokenTarget,
        tokens: Box<TokenSet>,
        acceptance: Acceptance,
    },
    ClearToken(TokenTarget),
    /// Clear Token after the provider revoked the refresh token (RFC 7009).
    RevokeAndClear(TokenTarget),
    /// All mailboxes › Clear, revoking at the providers that offer it.
    RevokeAndClearAll(Vec<TokenTarget>),
    MarkReminderShown {
        target: TokenTarget,
        day: NaiveDate,
    },
    StartSignIn {
        config: Box<ProviderConfig>,
        /// Where Graph is asked who signed in (the data source's API root).
        graph_root: Option<url::Url>,
        method: Method,
        /// The browser sign-in's redirect URI and the account as a hint.
        redirect_uri: Box<RedirectUri>,
        login_hint: String,
        /// The language of the page the browser shows at the end.
        page_language: PageLanguage,
    },
    CancelSignIn,
    TestConnection(TokenTarget),
    /// Settings › Vault: connect to this database once.
    TestDatabase(String),
    /// Settings › Vault: move the vault into a database, join one, or move back.
    MoveVault(super::worker_vault::VaultMove),
    /// Renew what is due (the keep-alive of the open app).
    RunKeepAlive,
    /// Renew these tokens now, due or not (All mailboxes › Renew selected).
    Renew(Vec<TokenTarget>),
    /// Clear these tokens (All mailboxes › Clear), one vault write.
    ClearTokens(Vec<TokenTarget>),
    /// Whether a gateway serves this vault (its local socket answers).
    CheckGateway,
    /// Read and check a CSV file of users; nothing is written.
    PreviewImport(PathBuf),
    /// Add previewed users to the directory, all or nothing.
    ImportUsers {
        users: Vec<AppUser>,
        from: String,
    },
    /// Settings' OK: the settings, and the consumers and notifiers added or
    /// removed in the dialog.
    SaveSettings(
        Box<Settings>,
        desk::consumers::ConsumerChanges,
        desk::notify::NotifierChanges,
    ),
    Schedule(ScheduleAction),
    /// Settings › Notifications › Test: a test message through a stored notifier.
    TestNotifier(String),
}
