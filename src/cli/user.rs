//! `tokendesk user add|list|remove|import-csv`: the directory of application users
//! and their mappings to Exchange users.

use std::process::ExitCode;

use chrono::Utc;

use super::UserCommand;
use super::context::Context;
use crate::vault::{AppUser, UserMapping, csv_import, policy};

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
            let message = vault
                .update(|data| {
                    let known = data
                        .directory
                        .iter()
                        .find(|u| u.login.eq_ignore_ascii_case(login.trim()))
                        .cloned();
                    let user = match known {
                        Some(user) => user,
                        None => {
                            let user = AppUser {
                                login: login.trim().to_string(),
                                display_name: display_name.clone().unwrap_or_default(),
                                email: email.clone().unwrap_or_default(),
                            };
                            data.add_app_user(user.clone())?;
                            user
                        }
                    };
                    match (&data_source, &exchange_user) {
                        (Some(source), Some(exchange)) => {
                            let mut mapping = UserMapping::new(user.clone(), exchange.trim());
                            mapping.server_url = server_url.clone();
                            data.add_mapping(source, mapping)?;
                            Ok(format!(
                                "Mapped '{}' to {} in '{source}'. Next: tokendesk sign-in --data-source \"{source}\" --user \"{}\"",
                                user.login,
                                exchange.trim(),
                                user.login
                            ))
                        }
                        (None, None) => Ok(format!("Added '{}' to the user directory.", user.login)),
                        _ => Err(crate::vault::VaultError::Invalid(
                            "Give both --data-source and --exchange-user to map a user.".into(),
                        )),
                    }
                })
                .map_err(|e| e.to_string())?;
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
            let message = vault
                .update(|data| match &data_source {
                    Some(source) => data.remove_mapping(source, &login).map(|m| {
                        format!(
                            "Removed the mapping of '{}' from '{source}'.",
                            m.app_user.login
                        )
                    }),
                    None => data
                        .remove_app_user(&login)
                        .map(|u| format!("Removed '{}' from the user directory.", u.login)),
                })
                .map_err(|e| e.to_string())?;
            println!("{message}");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::ImportCsv { file } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| format!("Could not read {}: {e}", file.display()))?;
            let users = parse_with_bar(&bytes).map_err(|e| e.to_string())?;
            let mut vault = context.open_or_create()?;
            let count = vault
                .update(|data| data.import_app_users(users))
                .map_err(|e| e.to_string())?;
            crate::audit::AuditLog::in_dir(&context.vault_dir).record(
                &crate::audit::AuditEntry::new(
                    crate::audit::Operation::Import,
                    crate::audit::Outcome::Ok,
                    chrono::Utc::now(),
                )
                .with_detail(format!("imported {count} user(s) from {}", file.display())),
            );
            println!("Imported {count} user(s) into the user directory.");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Large files show a progress bar on a terminal (nothing when piped).
fn parse_with_bar(bytes: &[u8]) -> Result<Vec<crate::vault::AppUser>, crate::vault::VaultError> {
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
    let result = csv_import::parse_users_with_progress(bytes, |read| {
        if let Some(bar) = &bar {
            bar.set_position(read);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}
