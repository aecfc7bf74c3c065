//! `tokendesk user add|list|remove|import-csv`: the directory of application users
//! and their mappings to Exchange users.

use std::process::ExitCode;

use chrono::Utc;

use super::UserCommand;
use super::context::Context;
use crate::desk::mappings::{self, MappingDraft};
use crate::desk::model::{AppUser, policy};
use crate::desk::{data_sources, users};

pub fn run(command: UserCommand, context: &Context) -> Result<ExitCode, String> {
    match command {
        UserCommand::Add {
            login,
            display_name,
            email,
            data_source,
            exchange_user,
            server_url,
        } => {
            let mut vault = context.open_or_create()?;
            let user = AppUser {
                login: login.trim().to_string(),
                display_name: display_name.clone().unwrap_or_default(),
                email: email.clone().unwrap_or_default(),
            };
            let message = match (&data_source, &exchange_user) {
                (Some(source), Some(exchange)) => {
                    let id = data_sources::id_by_name(vault.data(), source)
                        .map_err(|e| e.to_string())?;
                    let draft = MappingDraft {
                        login: user.login.clone(),
                        exchange_user: exchange.clone(),
                        server_url: server_url
                            .as_ref()
                            .map(|u| u.to_string())
                            .unwrap_or_default(),
                        editing: None,
                    };
                    let mapping = mappings::map_user(&mut vault, id, user, &draft)
                        .map_err(|e| e.to_string())?;
                    format!(
                        "Mapped '{}' to {} in '{source}'. Next: tokendesk sign-in --data-source \"{source}\" --user \"{}\"",
                        mapping.app_user.login, mapping.exchange_user, mapping.app_user.login
                    )
                }
                (None, None) => {
                    let user = users::add(&mut vault, user).map_err(|e| e.to_string())?;
                    format!("Added '{}' to the user directory.", user.login)
                }
                _ => {
                    return Err("Give both --data-source and --exchange-user to map a user.".into());
                }
            };
            println!("{message}");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::List { data_source } => {
            let vault = context.open()?;
            let data = vault.data();
            match data_source {
                None => {
                    println!("{:<32} {:<32} {:<32}", "LOGIN", "DISPLAY NAME", "E-MAIL");
                    for user in &data.directory {
                        println!(
                            "{:<32} {:<32} {:<32}",
                            user.login, user.display_name, user.email
                        );
                    }
                }
                Some(name) => {
                    let source = data.data_source(&name).map_err(|e| e.to_string())?;
                    let now = Utc::now();
                    println!(
                        "{:<32} {:<32} {:<16} {:>9}",
                        "APPLICATION USER", "EXCHANGE USER", "TOKEN", "DAYS LEFT"
                    );
                    for mapping in &source.users {
                        let status = policy::evaluate(
                            &mapping.token,
                            &data.settings,
                            policy::Lifetime::of(source),
                            now,
                        );
                        println!(
                            "{:<32} {:<32} {:<16} {:>9}",
                            mapping.app_user.login,
                            mapping.exchange_user,
                            status.state.label(),
                            status
                                .days_left
                                .map(|d| d.to_string())
                                .unwrap_or_else(|| "-".into())
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Remove { login, data_source } => {
            let mut vault = context.open()?;
            let message = match &data_source {
                Some(source) => {
                    let id = data_sources::id_by_name(vault.data(), source)
                        .map_err(|e| e.to_string())?;
                    let removed = mappings::remove_mapping(&mut vault, id, &login)
                        .map_err(|e| e.to_string())?;
                    format!(
                        "Removed the mapping of '{}' from '{source}'.",
                        removed.app_user.login
                    )
                }
                None => {
                    let removed = users::remove(&mut vault, &login).map_err(|e| e.to_string())?;
                    format!("Removed '{}' from the user directory.", removed.login)
                }
            };
            println!("{message}");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::ImportCsv { file } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| format!("Could not read {}: {e}", file.display()))?;
            let users = parse_with_bar(&bytes).map_err(|e| e.to_string())?;
            let mut vault = context.open_or_create()?;
            let from = file.display().to_string();
            let count =
                users::import(&mut vault, users, &from, Utc::now()).map_err(|e| e.to_string())?;
            println!("Imported {count} user(s) into the user directory.");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Large files show a progress bar on a terminal (nothing when piped).
fn parse_with_bar(
    bytes: &[u8],
) -> Result<Vec<crate::desk::model::AppUser>, crate::desk::model::VaultError> {
    use std::io::IsTerminal;
    let bar = (bytes.len() > 1024 * 1024 && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(bytes.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("reading users [{bar:30}] {percent}%")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    });
    let result = users::parse(bytes, |read| {
        if let Some(bar) = &bar {
            bar.set_position(read);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}
