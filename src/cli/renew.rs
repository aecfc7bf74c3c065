//! `tokendesk renew`: redeem refresh tokens so they never reach the end of their
//! inactivity window, storing every rotated token at once.

use std::io::IsTerminal;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};

use super::RenewArgs;
use super::context::Context;
use super::status::{EXIT_ACTION_NEEDED, EXIT_HEALTHY, EXIT_VAULT_UNREADABLE};
use super::token::EXIT_TRANSIENT;
use crate::desk::model::{SystemClock, TokenTarget, TokioSleeper};
use crate::desk::tokens::{RenewOptions, RenewOutcome, RenewReport, Selection, renew};

/// Above this many tokens a progress bar is worth showing.
const PROGRESS_FROM: usize = 5;

pub async fn run(args: RenewArgs, context: &Context) -> ExitCode {
    let mut vault = match context.open() {
        Ok(vault) => vault,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_VAULT_UNREADABLE);
        }
    };
    let selection = if args.all {
        Selection::All
    } else if args.due {
        Selection::Due
    } else if let Some(name) = &args.data_source {
        let target = match &args.user {
            Some(user) => TokenTarget::user(name.clone(), user.clone()),
            None => TokenTarget::data_source(name.clone()),
        };
        if let Err(e) = vault.data().token(&target) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        Selection::Only(vec![target])
    } else {
        eprintln!("error: say which tokens: --all, --due, or --data-source NAME [--user LOGIN]");
        return ExitCode::FAILURE;
    };
    let options = RenewOptions {
        concurrency: usize::from(args.concurrency),
        ..RenewOptions::default()
    };
    let total = match &selection {
        Selection::Only(targets) => targets.len(),
        _ => vault.data().all_targets().len(),
    };
    let bar = (!args.json && total > PROGRESS_FROM && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} renewing [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    });
    let result = renew(
        &mut vault,
        &selection,
        &options,
        &SystemClock,
        &TokioSleeper,
        |result| {
            if let Some(bar) = &bar {
                bar.inc(1);
                bar.set_message(result.target().to_string());
            }
        },
    )
    .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(report) => report,
        // HTTPS could not be set up: nothing was tried.
        Err(e @ crate::desk::DeskError::Identity(_)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        // The engine stops only when the vault cannot take a write.
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_VAULT_UNREADABLE);
        }
    };
    // The scheduled keep-alive tells the admins when no gateway does (a gateway
    // that runs has the turn or has already told them: nothing is sent twice).
    match crate::desk::notify::pass::run(&mut vault, &SystemClock).await {
        Ok(pass) if !args.json => super::notify::print_pass(&pass),
        Ok(pass) => {
            for (name, error) in &pass.failed {
                eprintln!("Notifier '{name}' failed: {error}");
            }
        }
        Err(e) => eprintln!("warning: notifications were not sent: {e}"),
    }
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: {e}"),
        }
    } else {
        print_report(&report);
    }
    ExitCode::from(exit_code(&report))
}

/// 0 when everything selected was renewed, 1 when some failed for now and the next
/// run will try again, 2 when someone has to sign in again.
pub fn exit_code(report: &RenewReport) -> u8 {
    if report.dead() > 0 {
        EXIT_ACTION_NEEDED
    } else if report.transient() > 0 {
        EXIT_TRANSIENT
    } else {
        EXIT_HEALTHY
    }
}

fn print_report(report: &RenewReport) {
    for result in &report.results {
        match &result.outcome {
            RenewOutcome::Renewed { .. } => {}
            RenewOutcome::Failed { code, message, .. } if !result.is_dead() => println!(
                "  {}: failed for now, kept for the next run: {message}{}",
                result.target(),
                code.as_deref()
                    .map(|c| format!(" [{c}]"))
                    .unwrap_or_default()
            ),
            RenewOutcome::Failed { code, message, .. } => println!(
                "  {}: {} must sign in again (Request MS365 Refresh Token): {message}{}",
                result.target(),
                result.account,
                code.as_deref()
                    .map(|c| format!(" [{c}]"))
                    .unwrap_or_default()
            ),
            RenewOutcome::NeedsSignIn { reason } => println!(
                "  {}: {} must sign in again (Request MS365 Refresh Token): {reason}",
                result.target(),
                result.account
            ),
            RenewOutcome::Busy { holder } => println!(
                "  {}: left to {holder}, which was renewing it at the same moment",
                result.target()
            ),
            RenewOutcome::Superseded => println!(
                "  {}: cleared or signed in again during the renewal; the newer state was kept",
                result.target()
            ),
        }
    }
    let seconds = (report.finished_at - report.started_at).num_milliseconds() as f64 / 1000.0;
    println!("Renewal finished in {seconds:.1} s: {}.", report.summary());
}
