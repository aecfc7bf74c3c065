//! Telling admins about tokens without the window: the messages (in the admin's
//! language) and the channels that carry them (a webhook, or an e-mail sent by
//! Microsoft Graph from a data source's mailbox). What is due and when is decided
//! in `desk::notify`; this module only words and delivers.
//!
//! No message ever holds a token, a key or a webhook's URL: they are built from
//! names, states and dates only.

pub mod mail;
pub mod smtp;
pub mod text;
pub mod webhook;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The language a message is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    /// The language chosen in Settings, else `TOKENDESK_LANG`, else the OS's.
    pub fn of(settings_language: Option<&str>) -> Lang {
        let tag = std::env::var("TOKENDESK_LANG")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| settings_language.map(str::to_string))
            .or_else(sys_locale::get_locale)
            .unwrap_or_default();
        if tag.to_ascii_lowercase().starts_with("de") {
            Lang::De
        } else {
            Lang::En
        }
    }
}

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Tokens that need a new sign-in (or whose newest token waits in a rescue
    /// file), at once.
    SignInNeeded,
    /// The daily list of tokens from the reminder threshold on.
    Digest,
    /// The shared store cannot be reached.
    StoreUnreachable,
    /// What was announced is fine again.
    Recovered,
    /// `notify test`.
    Test,
}

/// One token a message is about: names, state and dates, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub data_source: String,
    /// The application user, for an additional user's token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The mailbox that signs in.
    pub account: String,
    /// The state in the message's language.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// What the admin does about it, with the command for a server.
    pub fix: String,
}

/// A message ready for any channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub event: Event,
    pub title: String,
    /// One paragraph: what happened and what to do.
    pub text: String,
    pub items: Vec<Item>,
    /// The machine that sent it (several gateways may share a vault).
    pub sent_by: String,
    pub sent_at: DateTime<Utc>,
}

impl Message {
    /// The message as plain text (an e-mail's body, a chat's fallback).
    pub fn plain_text(&self) -> String {
        let mut out = format!("{}\n\n{}\n", self.title, self.text);
        for item in &self.items {
            out.push_str(&format!("\n- {}\n", text::item_heading(item)));
            out.push_str(&format!("  {}\n", item.state));
            out.push_str(&format!("  {}\n", item.fix));
        }
        out.push_str(&format!("\n-- tokendesk on {}\n", self.sent_by));
        out
    }
}

/// Why a delivery failed, in words for the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// This machine's name, as messages are signed.
pub fn machine_name() -> String {
    whoami::fallible::hostname().unwrap_or_else(|_| "this machine".into())
}
