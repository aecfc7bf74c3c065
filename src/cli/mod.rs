//! The command line: argument definitions and dispatch. Each command lives in its
//! own module; this file only wires them up.

mod args;
mod consumer;
mod context;
mod data_source;
mod data_source_set;
mod gateway_args;
mod notify;
mod notify_args;
mod provider_args;
mod quick;
mod renew;
mod sign_in;
pub mod status;
pub mod token;
mod token_ops;
mod user;
mod vault_cmd;

use std::process::ExitCode;

pub use args::*;
pub use gateway_args::*;

use context::Context;

#[cfg(feature = "gui")]
fn open_window(context: &Context) -> Result<(), String> {
    let passphrase_file = context
        .passphrase_file()
        .map(|p| std::path::absolute(p).unwrap_or(p.to_path_buf()));
    crate::ui::run(
        context.vault_dir.clone(),
        context.key_source()?,
        passphrase_file,
    )
}

#[cfg(not(feature = "gui"))]
fn open_window(_context: &Context) -> Result<(), String> {
    Err("This tokendesk was built without the desktop window (feature \"gui\"); run a command, see --help.".into())
}

/// Commands whose exit code a monitoring system reads: a vault that cannot even be
/// located is exit code 3 like one that cannot be read.
fn monitored(context: Result<Context, String>, run: impl FnOnce(Context) -> ExitCode) -> ExitCode {
    match context {
        Ok(context) => run(context),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(status::EXIT_VAULT_UNREADABLE)
        }
    }
}

/// The command line: `token` in its plain form read directly, anything else by clap.
pub fn parse() -> Cli {
    quick::token(std::env::args_os()).unwrap_or_else(<Cli as clap::Parser>::parse)
}

/// Runs a parsed command line; without a command, opens the window.
pub fn run(cli: Cli) -> ExitCode {
    let Some(command) = cli.command else {
        crate::logging::init();
        let result = Context::new(cli.vault_dir.clone(), cli.passphrase_file.clone())
            .and_then(|context| open_window(&context));
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        };
    };
    // `token` beside a gateway is one question on a local socket: asked before
    // the async runtime exists, whose start would cost more than the answer.
    if let Command::Token { target, scope } = &command
        && let Ok(context) = Context::new(cli.vault_dir.clone(), cli.passphrase_file.clone())
        && let Some(token) = token::from_local_gateway(target, scope.as_deref(), &context)
    {
        println!("{token}");
        return ExitCode::SUCCESS;
    }
    if let Command::Serve { .. } = &command {
        crate::gateway::heap::one_arena();
    }
    // Diagnostics from here on; the answer above needed none.
    crate::logging::init();
    let runtime = match crate::runtime::build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let context = || Context::new(cli.vault_dir.clone(), cli.passphrase_file.clone());
    let result = match command {
        Command::SignIn(args) => context().and_then(|c| runtime.block_on(sign_in::run(args, &c))),
        Command::DataSource(command) => context().and_then(|c| data_source::run(command, &c)),
        Command::User(command) => context().and_then(|c| user::run(command, &c)),
        Command::Vault(command) => context().and_then(|c| vault_cmd::run(command, &c)),
        Command::Status { data_source, json } => {
            return monitored(context(), |c| status::run(&c, data_source.as_deref(), json));
        }
        Command::Renew(args) => {
            return monitored(context(), |c| runtime.block_on(renew::run(args, &c)));
        }
        Command::Token { target, scope } => {
            return monitored(context(), |c| {
                runtime.block_on(token::run(target, scope, &c))
            });
        }
        Command::Test { target } => {
            context().and_then(|c| runtime.block_on(token_ops::test(target, &c)))
        }
        Command::Schedule(command) => context().and_then(|c| schedule(command, &c)),
        Command::Clear { target, yes } => context().and_then(|c| token_ops::clear(target, yes, &c)),
        Command::Consumer(command) => context().and_then(|c| consumer::run(command, &c)),
        Command::Notify(command) => {
            context().and_then(|c| runtime.block_on(notify::run(command, &c)))
        }
        Command::Service { action } => context().and_then(|c| service(action, &c)),
        Command::Serve {
            listen,
            keepalive_every,
            notify_every,
            limits,
            relay,
            windows_service,
        } => context().and_then(|c| {
            let address = listen.address()?;
            let vault = c.open()?;
            let options = crate::gateway::ServeOptions {
                address,
                keepalive_every: keepalive_every.map(std::time::Duration::from_secs),
                notify_every: std::time::Duration::from_secs(notify_every),
                limits: limits.limits(),
                relay: relay.options(),
                stop: tokio_util::sync::CancellationToken::new(),
            };
            if windows_service {
                return serve_as_windows_service(vault, options);
            }
            runtime
                .block_on(crate::gateway::serve(vault, options))
                .map(|()| ExitCode::SUCCESS)
        }),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The gateway on the Windows service manager's thread, with its own runtime.
#[cfg(windows)]
fn serve_as_windows_service(
    vault: crate::desk::model::Vault,
    mut options: crate::gateway::ServeOptions,
) -> Result<ExitCode, String> {
    crate::gateway::windows_service::run(Box::new(move |stop| {
        options.stop = stop;
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("The gateway could not start: {e}"))?
            .block_on(crate::gateway::serve(vault, options))
    }))
    .map(|()| ExitCode::SUCCESS)
}

#[cfg(not(windows))]
fn serve_as_windows_service(
    _vault: crate::desk::model::Vault,
    _options: crate::gateway::ServeOptions,
) -> Result<ExitCode, String> {
    Err(
        "--windows-service is for Windows; run `tokendesk serve` (or `tokendesk service install`)."
            .into(),
    )
}

fn service(command: ServiceCommand, context: &Context) -> Result<ExitCode, String> {
    use crate::desk::schedule::{ScheduleAction, VaultAccess};
    let default = crate::desk::schedule::GatewayAddress {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8470)),
        tls: None,
        relay: Vec::new(),
    };
    let (action, address, system) = match command {
        ServiceCommand::Install {
            listen,
            relay,
            system,
        } => {
            let mut address = listen.address()?;
            // Refused now, not at the service's every start.
            relay.options().check(address.tls.is_some())?;
            address.relay = relay.serve_arguments();
            (ScheduleAction::Install, address, system)
        }
        ServiceCommand::Remove { system } => (ScheduleAction::Remove, default, system),
        ServiceCommand::Status { system } => (ScheduleAction::Show, default, system),
    };
    let scope = if system {
        crate::desk::schedule::ServiceScope::System
    } else {
        crate::desk::schedule::ServiceScope::User
    };
    // Like the schedule: a passphrase vault's service needs the passphrase file.
    let vault = (action == ScheduleAction::Install)
        .then(|| context.open().ok())
        .flatten();
    let access = VaultAccess {
        dir: &context.vault_dir,
        passphrase_file: context.passphrase_file(),
        passphrase_protected: vault.as_ref().is_some_and(|v| v.is_passphrase_protected()),
    };
    let report = crate::desk::schedule::service(action, &access, &address, scope)
        .map_err(|e| e.to_string())?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

fn schedule(command: ScheduleCommand, context: &Context) -> Result<ExitCode, String> {
    use crate::desk::schedule::{ScheduleAction, VaultAccess};
    let action = match command {
        ScheduleCommand::Install => ScheduleAction::Install,
        ScheduleCommand::Remove => ScheduleAction::Remove,
        ScheduleCommand::Show => ScheduleAction::Show,
    };
    // A passphrase vault's job needs the passphrase file; the vault says whether it
    // is one (removing needs no vault at all).
    let vault = (action != ScheduleAction::Remove)
        .then(|| context.open().ok())
        .flatten();
    let passphrase_protected = vault.as_ref().is_some_and(|v| v.is_passphrase_protected());
    let access = VaultAccess {
        dir: &context.vault_dir,
        passphrase_file: context.passphrase_file(),
        passphrase_protected,
    };
    let report = crate::desk::schedule::run(action, &access).map_err(|e| e.to_string())?;
    println!("{report}");
    if let Some(vault) = &vault {
        for warning in short_window_warnings(vault.data()) {
            println!("warning: {warning}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Tokens whose window is too short for a once-a-day job to keep alive.
fn short_window_warnings(data: &crate::desk::model::VaultData) -> Vec<String> {
    crate::desk::schedule::too_short_for_a_daily_job(data)
        .into_iter()
        .map(|(name, hours)| {
            format!(
                "the refresh tokens of '{name}' die after {hours} hours without use: a daily job cannot keep them alive. Keep tokendesk open (its keep-alive runs every {} hours) or run `tokendesk renew --due` from cron every {} hours.",
                data.settings.keepalive_interval_hours,
                (hours / 3).max(1)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every command an admin can run shows an example in its --help.
    #[test]
    fn every_command_has_an_example() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            let subcommands: Vec<_> = command
                .get_subcommands()
                .filter(|c| c.get_name() != "help")
                .collect();
            if subcommands.is_empty() {
                let help = command
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                if !help.contains("Example") {
                    missing.push(path.clone());
                }
            }
            for sub in subcommands {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no example in --help of: {missing:?}");
        Cli::command().debug_assert();
    }
}
