//! Where admins are told about tokens without the window: the channels an admin
//! configured (`notify add`), and what each was last told, so that every event is
//! sent once per state change by whichever process (a gateway or the scheduled
//! keep-alive) gets there first.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Secret;

/// One channel to the admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notifier {
    pub id: Uuid,
    pub name: String,
    pub channel: Channel,
    pub created_at: DateTime<Utc>,
    /// The last delivery failed: why, since when, and when it is tried again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing: Option<DeliveryFailure>,
}

/// How a notifier reaches the admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Channel {
    /// An HTTP POST. The URL is kept like a secret: Slack's and Teams' webhook
    /// URLs carry the credential that lets anyone post.
    Webhook { url: Secret, format: WebhookFormat },
    /// An e-mail sent from the mailbox of a data source's own account.
    Email { address: String, via: Uuid },
}

/// The body a webhook gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// A generic JSON document (event, title, text, items).
    Json,
    /// A Teams workflow ("When a Teams webhook request is received"): an
    /// Adaptive Card in a message.
    Teams,
    /// Slack's incoming webhooks (and Mattermost's, Rocket.Chat's): `text` + blocks.
    Slack,
}

impl WebhookFormat {
    pub fn parse(text: &str) -> Option<WebhookFormat> {
        match text.trim().to_ascii_lowercase().as_str() {
            "json" => Some(WebhookFormat::Json),
            "teams" => Some(WebhookFormat::Teams),
            "slack" => Some(WebhookFormat::Slack),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Teams => "teams",
            WebhookFormat::Slack => "slack",
        }
    }
}

/// A delivery that did not go through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFailure {
    pub error: String,
    pub since: DateTime<Utc>,
    /// Failed deliveries in a row.
    pub attempts: u32,
    /// Not tried again before this: a channel that is down is not hammered.
    pub retry_at: DateTime<Utc>,
}

impl DeliveryFailure {
    /// The next failure after `previous`, at `now`: tried again after 1, 2, 4 …
    /// minutes, at most an hour later.
    pub fn next(previous: Option<&DeliveryFailure>, error: String, now: DateTime<Utc>) -> Self {
        let attempts = previous.map_or(1, |p| p.attempts.saturating_add(1));
        let minutes = 1i64 << attempts.saturating_sub(1).min(6);
        DeliveryFailure {
            error,
            since: previous.map_or(now, |p| p.since),
            attempts,
            retry_at: now + chrono::Duration::minutes(minutes.min(60)),
        }
    }
}

/// What one notifier was last told about one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub notifier: Uuid,
    /// `token:<file stem>` for a token, `digest` for the daily digest.
    pub subject: String,
    /// What was said: `sign-in` (the token needs a new sign-in), or the digest's
    /// day (`2026-12-04`).
    pub said: String,
    pub at: DateTime<Utc>,
}

impl Notice {
    /// Its row id in a store that keeps records apart.
    pub fn row_id(&self) -> String {
        format!("{}.{}", self.notifier.simple(), self.subject)
    }
}

impl Channel {
    /// What `notify list` and the window show: never a webhook's path or query,
    /// which may carry its credential.
    pub fn describe(&self, source_name: impl Fn(Uuid) -> Option<String>) -> String {
        match self {
            Channel::Webhook { url, format } => {
                let shown = url::Url::parse(url.expose())
                    .ok()
                    .and_then(|u| {
                        u.host_str()
                            .map(|h| format!("{}://{h}{}", u.scheme(), port_suffix(&u)))
                    })
                    .unwrap_or_else(|| "(unreadable URL)".into());
                format!("webhook {shown}/… ({})", format.label())
            }
            Channel::Email { address, via } => format!(
                "e-mail to {address} via {}",
                source_name(*via).unwrap_or_else(|| "(a removed data source)".into())
            ),
        }
    }
}

fn port_suffix(url: &url::Url) -> String {
    url.port().map(|p| format!(":{p}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_failing_channel_is_tried_again_later_each_time_at_most_hourly() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 8, 0, 0).unwrap();
        let mut failure = DeliveryFailure::next(None, "down".into(), now);
        let mut waits = vec![(failure.retry_at - now).num_minutes()];
        for _ in 0..8 {
            failure = DeliveryFailure::next(Some(&failure), "down".into(), now);
            waits.push((failure.retry_at - now).num_minutes());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(failure.since, now);
        assert_eq!(failure.attempts, 9);
    }

    #[test]
    fn a_webhooks_path_and_query_are_never_shown() {
        let channel = Channel::Webhook {
            url: Secret::new("https://hooks.slack.com/services/T000/B000/XXXXSECRET?x=1"),
            format: WebhookFormat::Slack,
        };
        let shown = channel.describe(|_| None);
        assert_eq!(shown, "webhook https://hooks.slack.com/… (slack)");
        assert!(!shown.contains("SECRET"));
    }
}
