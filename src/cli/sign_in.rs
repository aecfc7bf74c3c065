//! `tokendesk sign-in`: the browser sign-in or the device flow, in a terminal.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use chrono::Local;
use tokio_util::sync::CancellationToken;

use super::SignInArgs;
use super::context::Context;
use crate::desk::DeskError;
use crate::desk::model::{
    IdentityError, PollEvent, ProviderConfig, SystemClock, TokenSet, TokenTarget, TokioSleeper,
    Vault,
};
use crate::desk::sign_in::{
    BrowserSignIn, DeviceSignIn, Method, PageLanguage, RedirectUri, blocked_by_policy,
    redirect_uri_for,
};
use crate::desk::tokens::Acceptance;
use crate::desktop;

pub async fn run(args: SignInArgs, context: &Context) -> Result<ExitCode, String> {
    // With --data-source the vault holds the provider settings and receives the tokens.
    let mut vault = match &args.data_source {
        Some(_) => Some(context.open()?),
        None => None,
    };
    let target = args.data_source.as_ref().map(|name| TokenTarget {
        data_source: name.clone(),
        app_user: args.user.clone(),
    });
    let (config, expected, graph_root, redirect_uri) = match (&vault, &target) {
        (Some(vault), Some(target)) => {
            let data = vault.data();
            let source = data
                .data_source(&target.data_source)
                .map_err(|e| e.to_string())?;
            let expected = data.expected_account(target).map_err(|e| e.to_string())?;
            let graph_root = source.account.api_root.clone();
            (
                source.provider.clone(),
                Some(expected),
                graph_root,
                source.redirect_uri.clone(),
            )
        }
        _ => (args.provider.to_config()?, None, None, None),
    };
    if let Some(vault) = &vault {
        crate::desk::tokens::ready_for_sign_in(vault).map_err(|e| {
            format!("{e}\nNothing was asked of the provider; make room (or make the vault folder writable) and sign in again.")
        })?;
    }
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let result = match args.method() {
        Method::Browser => {
            let redirect_uri = redirect_uri_for(
                &config,
                args.redirect_uri.as_deref().or(redirect_uri.as_deref()),
            )
            .map_err(|e| e.to_string())?;
            browser(
                &args,
                vault.as_mut(),
                config,
                &redirect_uri,
                expected.as_deref(),
                graph_root,
                &cancel,
            )
            .await
        }
        Method::DeviceCode => {
            device_code(
                &args,
                vault.as_mut(),
                config,
                expected.as_deref(),
                graph_root,
                &cancel,
            )
            .await
        }
    };
    match result {
        Ok((tokens, microsoft)) => {
            report(&tokens, microsoft);
            if let (Some(vault), Some(target)) = (vault.as_mut(), &target) {
                store(vault, target, &tokens, args.accept_other_account)?;
            } else {
                println!("  Tokens were not stored: give --data-source to keep them in the vault.");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => Err(format!("{error}\n{}", error.support_details())
            .trim_end()
            .to_string()),
    }
}

/// The browser sign-in: the page opened (and printed), the loopback listener
/// waiting for the one valid answer, the code redeemed.
async fn browser(
    args: &SignInArgs,
    vault: Option<&mut Vault>,
    config: ProviderConfig,
    redirect_uri: &RedirectUri,
    expected: Option<&str>,
    graph_root: Option<url::Url>,
    cancel: &CancellationToken,
) -> Result<(TokenSet, bool), IdentityError> {
    let microsoft = config.authority.is_microsoft();
    let who = config.authority.issuer_display();
    let client_id = config.client_id.clone();
    let sign_in = BrowserSignIn::start(
        vault,
        config,
        redirect_uri,
        expected.unwrap_or_default(),
        graph_root.as_ref(),
    )
    .await?;
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "Sign in to {who} for client {client_id} in the browser."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "    Page:  {}", sign_in.url());
    let _ = writeln!(out);
    if let Some(expected) = expected {
        let _ = writeln!(out, "Sign in as {expected}.");
    }
    if !args.no_browser {
        open_page(sign_in.url(), &mut out).await;
    }
    let limit = Duration::from_secs(args.time_limit);
    let _ = writeln!(
        out,
        "Waiting for the browser's answer (at most {}; Ctrl+C cancels)…",
        waiting_time(limit)
    );
    let _ = out.flush();
    let tokens = sign_in
        .finish(PageLanguage::English, cancel, limit, &SystemClock)
        .await?;
    Ok((tokens, microsoft))
}

/// The device flow: the code shown and copied, the page opened, polled until done.
async fn device_code(
    args: &SignInArgs,
    vault: Option<&mut Vault>,
    config: ProviderConfig,
    expected: Option<&str>,
    graph_root: Option<url::Url>,
    cancel: &CancellationToken,
) -> Result<(TokenSet, bool), IdentityError> {
    let clock = SystemClock;
    let sign_in = DeviceSignIn::start(vault, config, graph_root.as_ref(), &clock).await?;
    let _clipboard = announce(args, &sign_in, expected).await;
    let interactive = std::io::stderr().is_terminal();
    let mut last_line = i64::MAX;
    let result = sign_in
        .wait(&clock, &TokioSleeper, cancel, |event| {
            if let PollEvent::Waiting { seconds_left, .. } = event {
                countdown(seconds_left, interactive, &mut last_line);
            }
        })
        .await;
    if interactive {
        eprintln!();
    }
    if let Err(error) = &result
        && blocked_by_policy(error)
    {
        eprintln!(
            "A policy blocks sign-ins with a code; the browser sign-in is not affected: run again with --browser."
        );
    }
    let microsoft = sign_in.provider().authority.is_microsoft();
    result.map(|tokens| (tokens, microsoft))
}

fn waiting_time(limit: Duration) -> String {
    match limit.as_secs() {
        s if s >= 120 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

async fn open_page(page: &url::Url, out: &mut std::io::Stdout) {
    let page = page.clone();
    let opened = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || desktop::open_in_browser(&page)),
    )
    .await;
    match opened {
        Ok(Ok(Ok(()))) => {
            let _ = writeln!(out, "Opened the sign-in page in your browser.");
        }
        Ok(Ok(Err(why))) => {
            let _ = writeln!(out, "{why}");
        }
        _ => {
            let _ = writeln!(
                out,
                "Asked the desktop to open the sign-in page; if nothing appeared, open it yourself."
            );
        }
    }
}

/// Shows the code and the page, copies the code, opens the browser. Returns the
/// clipboard handle, which must live until the sign-in ends (X11 serves the text
/// only while its owner runs).
async fn announce(
    args: &SignInArgs,
    sign_in: &DeviceSignIn,
    expected: Option<&str>,
) -> Option<arboard::Clipboard> {
    let mut out = std::io::stdout();
    let config = sign_in.provider();
    let authorization = &sign_in.authorization;
    let _ = writeln!(
        out,
        "Sign in to {} for client {}",
        config.authority.display_name(),
        config.client_id
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "    Code:  {}", authorization.user_code);
    let _ = writeln!(out, "    Page:  {}", authorization.verification_uri);
    let _ = writeln!(out);
    if let Some(expected) = expected {
        let _ = writeln!(out, "Sign in as {expected}.");
    }
    let _ = writeln!(out, "Never enter a code that someone else sent you.");
    let clipboard = if args.no_clipboard {
        None
    } else {
        match desktop::copy_to_clipboard(&authorization.user_code) {
            Ok(handle) => {
                let _ = writeln!(out, "The code is on the clipboard.");
                Some(handle)
            }
            Err(why) => {
                let _ = writeln!(out, "The code was not copied: {why}.");
                None
            }
        }
    };
    if !args.no_browser {
        open_page(authorization.page_to_open(), &mut out).await;
    }
    let _ = out.flush();
    clipboard
}

fn countdown(seconds_left: i64, interactive: bool, last_line: &mut i64) {
    let text = format!(
        "Waiting for approval… {:02}:{:02} left (Ctrl+C cancels)",
        seconds_left / 60,
        seconds_left % 60
    );
    if interactive {
        eprint!("\r{text}  ");
        let _ = std::io::stderr().flush();
    } else if *last_line - seconds_left >= 60 || *last_line == i64::MAX {
        // Logs get a line a minute, not a line a poll.
        eprintln!("{text}");
        *last_line = seconds_left;
    }
}

fn report(tokens: &TokenSet, microsoft: bool) {
    let identity = tokens.identity.as_ref();
    match identity.and_then(|i| i.account()) {
        Some(who) => match identity.and_then(|i| i.named_by.as_deref()) {
            Some("userinfo") => {
                println!("Signed in as {who} (named by the provider's userinfo endpoint).")
            }
            Some(source) => println!("Signed in as {who} (named by {source})."),
            None => println!("Signed in as {who}."),
        },
        None => println!(
            "Signed in, but the provider did not name the account: {}.",
            identity
                .and_then(|i| i.unnamed_reason.as_deref())
                .unwrap_or("it sent no id_token")
        ),
    }
    if let Some(identity) = identity {
        if let Some(tid) = &identity.tid {
            println!("  Tenant ID:  {tid}");
        }
        if let Some(oid) = &identity.oid {
            println!("  Object ID:  {oid}");
        }
        if let Some(sub) = identity
            .sub
            .as_ref()
            .filter(|s| Some(*s) != identity.oid.as_ref())
        {
            println!("  Subject:    {sub}");
        }
    }
    let access_until = tokens.access_expires_at.with_timezone(&Local);
    let minutes = (tokens.access_expires_at - tokens.obtained_at).num_minutes();
    println!(
        "  Access token: valid until {} ({minutes} minutes).",
        access_until.format("%Y-%m-%d %H:%M")
    );
    if tokens.refresh_token.is_some() {
        match tokens.refresh_expires_in {
            Some(seconds) => println!(
                "  Refresh token: issued; the provider says it is valid for {}.",
                lifetime(seconds)
            ),
            None if microsoft => println!(
                "  Refresh token: issued; Microsoft keeps it valid for 90 days after its last use."
            ),
            None => println!(
                "  Refresh token: issued; the provider did not say how long it stays valid."
            ),
        }
    }
}

fn lifetime(seconds: i64) -> String {
    match seconds {
        s if s >= 2 * 86_400 => format!("{} days", s / 86_400),
        s if s >= 2 * 3_600 => format!("{} hours", s / 3_600),
        s => format!("{} minutes", (s / 60).max(1)),
    }
}

/// Checks who signed in against the configured Exchange user, then stores the tokens.
fn store(
    vault: &mut Vault,
    target: &TokenTarget,
    tokens: &TokenSet,
    accept_other_account: bool,
) -> Result<(), String> {
    let acceptance = if accept_other_account {
        Acceptance::AnyAccount
    } else {
        Acceptance::ConfiguredAccount
    };
    match crate::desk::tokens::store_sign_in(vault, target, tokens, acceptance, chrono::Utc::now())
    {
        Ok(()) => {}
        // The CLI's way to accept: a flag.
        Err(DeskError::Unnamed {
            reason,
            expected,
            subject,
        }) => {
            let subject = subject
                .map(|sub| format!(" bound to the provider's subject {sub}"))
                .unwrap_or_default();
            return Err(format!(
                "The provider did not name the account that signed in ({reason}), so tokendesk cannot check that it is {expected}. Nothing was stored. If {expected} signed in, add --accept-other-account to store the tokens{subject}."
            ));
        }
        Err(e @ DeskError::OtherAccount { .. }) => {
            return Err(format!(
                "{e} Or add --accept-other-account to store this account's tokens anyway."
            ));
        }
        Err(e) => {
            return Err(format!(
                "The sign-in worked but the tokens could not be stored: {e}"
            ));
        }
    }
    println!("  Stored the refresh token for {target} in the vault.");
    Ok(())
}
