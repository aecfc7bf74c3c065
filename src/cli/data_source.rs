//! `tokendesk data-source add|list|remove` (`set` has a file of its own).

use std::process::ExitCode;

use chrono::{Local, Utc};

use super::context::Context;
use super::{DataSourceCommand, ProviderArgs, RefreshTokenRule};
use crate::desk::data_sources;
use crate::desk::model::{DataSource, RefreshRule, RuleStart, policy};

pub fn run(command: DataSourceCommand, context: &Context) -> Result<ExitCode, String> {
    match command {
        DataSourceCommand::Add(args) => {
            let rule = args.refresh_token_days.map(|days| RefreshRule {
                days,
                counted_from: match args.refresh_token_rule {
                    RefreshTokenRule::Idle => RuleStart::LastUse,
                    RefreshTokenRule::Fixed => RuleStart::SignIn,
                },
            });
            add(
                context,
                &args.name,
                &args.provider,
                &args.account,
                (args.ews_url, args.api_root),
                rule,
                args.redirect_uri,
            )
        }
        DataSourceCommand::Set(args) => super::data_source_set::run(&args, context),
        DataSourceCommand::List => list(context),
        DataSourceCommand::Remove { name } => {
            let mut vault = context.open()?;
            let id = data_sources::id_by_name(vault.data(), &name).map_err(|e| e.to_string())?;
            let removed = data_sources::remove(&mut vault, id).map_err(|e| e.to_string())?;
            println!(
                "Removed data source '{}' with {} additional user(s).",
                removed.name,
                removed.users.len()
            );
            if !removed.consumers.is_empty() {
                println!(
                    "Removed its consumer(s), whose keys no longer work: {}.",
                    removed.consumers.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn add(
    context: &Context,
    name: &str,
    provider: &ProviderArgs,
    account: &str,
    (ews_url, api_root): (Option<url::Url>, Option<url::Url>),
    refresh_rule: Option<RefreshRule>,
    redirect_uri: Option<String>,
) -> Result<ExitCode, String> {
    if let Some(root) = &api_root {
        crate::desk::rules::check_endpoint_url(root)?;
    }
    let config = provider.to_config()?;
    let server = data_sources::server_for(&config.scopes, ews_url);
    let mut source = DataSource::new(name.trim(), config, account.trim());
    source.account.server = server;
    source.account.api_root = api_root;
    source.refresh_rule = refresh_rule;
    source.redirect_uri = redirect_uri.map(|u| u.trim().to_string());
    let mut vault = context.open_or_create()?;
    data_sources::add(&mut vault, source).map_err(|e| e.to_string())?;
    println!(
        "Added data source '{}'. Next: tokendesk sign-in --data-source \"{}\"",
        name.trim(),
        name.trim()
    );
    Ok(ExitCode::SUCCESS)
}

fn list(context: &Context) -> Result<ExitCode, String> {
    let vault = context.open()?;
    let data = vault.data();
    if data.data_sources.is_empty() {
        println!(
            "No data sources yet. Add one with: tokendesk data-source add NAME --tenant T --client-id ID --account EMAIL"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    println!(
        "{:<24} {:<32} {:<32} {:<16} {:>9} {:>6}",
        "NAME", "TENANT", "EXCHANGE ACCOUNT", "TOKEN", "DAYS LEFT", "USERS"
    );
    for source in &data.data_sources {
        let status = policy::evaluate(
            &source.token,
            &data.settings,
            policy::Lifetime::of(source),
            now,
        );
        println!(
            "{:<24} {:<32} {:<32} {:<16} {:>9} {:>6}",
            source.name,
            source.provider.authority.display_name(),
            source.account.email,
            status.state.label(),
            status
                .days_left
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            source.users.len()
        );
        if let Some(expires) = status.expires_at {
            println!(
                "{:<24} expires {}",
                "",
                expires.with_timezone(&Local).format("%Y-%m-%d %H:%M")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
