//! `tokendesk consumer add|list|remove`: the applications the gateway serves.

use std::process::ExitCode;

use super::ConsumerCommand;
use super::context::Context;

pub fn run(command: ConsumerCommand, context: &Context) -> Result<ExitCode, String> {
    let now = chrono::Utc::now();
    match command {
        ConsumerCommand::Add {
            name,
            data_source,
            users,
            all_users,
            relay,
        } => {
            let mut vault = context.open()?;
            let (consumer, key) = if relay {
                if users.len() > 1 {
                    return Err(
                        "A relay key is bound to one mailbox: give --user once (or not at all, for the data-source user).".into(),
                    );
                }
                crate::desk::consumers::add_relay(
                    &mut vault,
                    &name,
                    &data_source,
                    users.into_iter().next(),
                    now,
                )
            } else {
                crate::desk::consumers::add(&mut vault, &name, &data_source, users, all_users, now)
            }
            .map_err(|e| e.to_string())?;
            // The key alone on stdout, for `KEY=$(tokendesk consumer add …)`.
            println!("{key}");
            if consumer.relay {
                let mailbox = crate::desk::consumers::relay_mailbox(vault.data(), &consumer)
                    .unwrap_or_default();
                eprintln!(
                    "Added relay device '{}'. It logs in to the mail relay (tokendesk serve --smtp/--imap) with the user name {mailbox} and the key above as its password. The key is shown only now; the vault keeps a salted hash of it.",
                    consumer.name
                );
            } else {
                eprintln!(
                    "Added consumer '{}'. The key above is shown only now; the vault keeps a salted hash of it.",
                    consumer.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ConsumerCommand::List => {
            let vault = context.open()?;
            let data = vault.data();
            if data.consumers.is_empty() {
                println!(
                    "No consumers yet. Add one with: tokendesk consumer add NAME --data-source DS"
                );
            }
            for consumer in &data.consumers {
                let source = data
                    .data_sources
                    .iter()
                    .find(|d| d.id == consumer.data_source)
                    .map_or("(removed data source)", |d| d.name.as_str());
                let users = if consumer.relay {
                    format!(
                        "mail relay device, logs in as {}",
                        crate::desk::consumers::relay_mailbox(data, consumer)
                            .unwrap_or_else(|| "(a removed mapping)".into())
                    )
                } else if consumer.all_users {
                    "all users".to_string()
                } else if consumer.users.is_empty() {
                    "the data-source user".to_string()
                } else {
                    format!("the data-source user, {}", consumer.users.join(", "))
                };
                println!(
                    "{}  data source {source}: {users}; added {}",
                    consumer.name,
                    consumer.created_at.format("%Y-%m-%d")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ConsumerCommand::Remove { name } => {
            let mut vault = context.open()?;
            let removed = crate::desk::consumers::remove(&mut vault, &name, now)
                .map_err(|e| e.to_string())?;
            println!(
                "Removed consumer '{}'; its key no longer works.",
                removed.name
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
