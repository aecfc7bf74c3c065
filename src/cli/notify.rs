//! `tokendesk notify add|list|remove|test|send`.

use std::process::ExitCode;

use super::context::Context;
use super::notify_args::NotifyCommand;
use crate::desk::model::SystemClock;
use crate::desk::notify::{self, NewChannel, WebhookFormat};

pub async fn run(command: NotifyCommand, context: &Context) -> Result<ExitCode, String> {
    let now = chrono::Utc::now();
    match command {
        NotifyCommand::Add {
            name,
            webhook,
            format,
            email,
            via,
        } => {
            let channel = match (webhook, email, via) {
                (Some(url), _, _) => NewChannel::Webhook {
                    url: if url == "-" {
                        super::provider_args::line_from_stdin("the webhook URL")?
                    } else {
                        crate::Secret::new(url)
                    },
                    format: WebhookFormat::parse(&format).unwrap_or(WebhookFormat::Json),
                },
                (None, Some(address), Some(via)) => NewChannel::Email { address, via },
                _ => return Err("Give --webhook URL, or --email ADDRESS --via DATA_SOURCE.".into()),
            };
            let mut vault = context.open()?;
            let added = notify::add(&mut vault, &name, channel, now).map_err(|e| e.to_string())?;
            println!("Added notifier '{}': {}.", added.name, added.channel);
            println!("Try it: tokendesk notify test {}", quoted(&added.name));
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::List { json } => {
            let vault = context.open()?;
            let notifiers = notify::list(vault.data());
            if json {
                let list: Vec<_> = notifiers
                    .iter()
                    .map(|n| {
                        serde_json::json!({
                            "name": n.name,
                            "channel": n.channel,
                            "failing": n.failing.as_ref().map(|(error, since, retry)| serde_json::json!({
                                "error": error, "since": since, "retry_at": retry,
                            })),
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
                return Ok(ExitCode::SUCCESS);
            }
            if notifiers.is_empty() {
                println!("No notifiers yet. Add one with: tokendesk notify add NAME --webhook URL");
            }
            for n in &notifiers {
                println!("{}  {}", n.name, n.channel);
                if let Some((error, since, retry)) = &n.failing {
                    println!(
                        "  failing since {}: {error} (tried again from {})",
                        since.format("%Y-%m-%d %H:%M UTC"),
                        retry.format("%H:%M UTC")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Remove { name } => {
            let mut vault = context.open()?;
            let removed = notify::remove(&mut vault, &name, now).map_err(|e| e.to_string())?;
            println!("Removed notifier '{removed}'.");
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Test { name } => {
            let mut vault = context.open()?;
            notify::test(&mut vault, &name, &SystemClock)
                .await
                .map_err(|e| format!("The test message was not delivered: {e}"))?;
            println!("Delivered a test message through '{}'.", name.trim());
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Send => {
            let mut vault = context.open()?;
            let report = notify::pass::run(&mut vault, &SystemClock)
                .await
                .map_err(|e| e.to_string())?;
            print_pass(&report);
            Ok(if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// A pass's outcome on the terminal: what was sent, what failed.
pub fn print_pass(report: &notify::pass::PassReport) {
    if report.busy {
        println!("Another tokendesk process is sending notifications right now.");
    } else if report.sent > 0 {
        println!("Notifications sent: {}", report.sent);
    }
    for (name, error) in &report.failed {
        eprintln!("Notifier '{name}' failed: {error}");
    }
}

fn quoted(name: &str) -> String {
    if name.contains(char::is_whitespace) {
        format!("\"{name}\"")
    } else {
        name.to_string()
    }
}
