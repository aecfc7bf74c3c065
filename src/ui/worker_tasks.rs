//! The worker's network tasks: a sign-in (device code or browser) and a renewal,
//! each running beside the command loop so that vault writes never wait for them.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::worker::{Event, Reporter, second_handle};
use crate::desk::model::{
    Clock, IdentityError, ProviderConfig, SharedClock, SystemClock, TokenSet, TokioSleeper, Vault,
};
use crate::desk::sign_in::{
    BrowserSignIn, DEFAULT_TIME_LIMIT, DeviceSignIn, PageLanguage, RedirectUri,
};
use crate::desk::tokens::{RenewOptions, RenewReport, Selection};
use crate::desk::{self, DeskError};

/// Renews on a second handle, through the guarded redemption path, as a task of its own.
pub(super) fn renew_task(
    vault: &Option<Vault>,
    reporter: &Reporter,
    clock: &Arc<dyn Clock>,
    selection: Selection,
    finished: fn(Result<RenewReport, DeskError>) -> Event,
) {
    let Some(mut handle) = second_handle(vault, reporter) else {
        return;
    };
    let reporter = reporter.clone();
    let clock = SharedClock(clock.clone());
    tokio::spawn(async move {
        let result = desk::tokens::renew(
            &mut handle,
            &selection,
            &RenewOptions::default(),
            &clock,
            &TokioSleeper,
            |_| {},
        )
        .await;
        reporter.send(Event::VaultChanged(handle.data().clone()));
        reporter.send(finished(result));
    });
}

pub(super) async fn device_flow(
    vault: Option<Vault>,
    config: ProviderConfig,
    graph_root: Option<url::Url>,
    cancel: &CancellationToken,
    reporter: &Reporter,
) -> Result<TokenSet, IdentityError> {
    let mut vault = vault;
    let sign_in =
        DeviceSignIn::start(vault.as_mut(), config, graph_root.as_ref(), &SystemClock).await?;
    reporter.send(Event::SignInCode(Box::new(sign_in.authorization.clone())));
    sign_in
        // The dialog counts down from the code's own expiry; the polls need no echo.
        .wait(&SystemClock, &TokioSleeper, cancel, |_| {})
        .await
}

/// What the browser sign-in needs besides the provider.
pub(super) struct BrowserFlow<'a> {
    pub(super) redirect_uri: &'a RedirectUri,
    pub(super) login_hint: &'a str,
    pub(super) page_language: PageLanguage,
}

pub(super) async fn browser_flow(
    vault: Option<Vault>,
    config: ProviderConfig,
    graph_root: Option<url::Url>,
    browser: BrowserFlow<'_>,
    cancel: &CancellationToken,
    reporter: &Reporter,
) -> Result<TokenSet, IdentityError> {
    let mut vault = vault;
    let sign_in = BrowserSignIn::start(
        vault.as_mut(),
        config,
        browser.redirect_uri,
        browser.login_hint,
        graph_root.as_ref(),
    )
    .await?;
    let url = sign_in.url().clone();
    reporter.send(Event::BrowserWaiting(url.clone()));
    // `open` waits for the launcher: on a blocking thread, never in the way.
    let opener = reporter.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(failure) = crate::desktop::open_in_browser(&url) {
            opener.send(Event::BrowserNotOpened(failure));
        }
    });
    sign_in
        .finish(
            browser.page_language,
            cancel,
            DEFAULT_TIME_LIMIT,
            &SystemClock,
        )
        .await
}

/// Settings › Notifications › Test, as a task of its own (a slow channel never
/// holds the command loop).
pub(super) fn test_notifier(handle: Option<Vault>, name: String, reporter: &Reporter) {
    let Some(mut handle) = handle else {
        return;
    };
    let reporter = reporter.clone();
    tokio::spawn(async move {
        let result = desk::notify::test(&mut handle, &name, &SystemClock).await;
        reporter.send(Event::VaultChanged(handle.data().clone()));
        reporter.send(Event::NotifierTested(name, result));
    });
}
