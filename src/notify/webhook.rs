//! A message as a webhook's body (generic JSON, a Teams workflow's Adaptive Card,
//! Slack's blocks) and its delivery: one POST, never redirected, a 2xx is done.

use serde_json::{Value, json};
use url::Url;

use super::{DeliveryError, Message, text::item_heading};
use crate::identity::http::HttpClient;
use crate::vault::notifiers::WebhookFormat;

/// Chat services cap a message's blocks: the first ones are listed, the rest counted.
const LISTED: usize = 40;

pub fn body(format: WebhookFormat, message: &Message) -> Value {
    match format {
        WebhookFormat::Json => json!(message),
        WebhookFormat::Teams => teams(message),
        WebhookFormat::Slack => slack(message),
    }
}

fn more_line(message: &Message) -> Option<String> {
    let more = message.items.len().saturating_sub(LISTED);
    (more > 0).then(|| format!("… +{more}"))
}

fn teams(message: &Message) -> Value {
    let mut blocks = vec![
        json!({"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": message.title, "wrap": true}),
    ];
    if !message.text.is_empty() {
        blocks.push(json!({"type": "TextBlock", "text": message.text, "wrap": true}));
    }
    for item in message.items.iter().take(LISTED) {
        blocks.push(json!({"type": "TextBlock", "text": item_heading(item), "weight": "Bolder", "wrap": true, "separator": true}));
        blocks.push(
            json!({"type": "TextBlock", "text": item.state, "wrap": true, "spacing": "None"}),
        );
        blocks.push(json!({"type": "TextBlock", "text": item.fix, "wrap": true, "spacing": "None", "isSubtle": true}));
    }
    if let Some(more) = more_line(message) {
        blocks.push(json!({"type": "TextBlock", "text": more, "wrap": true}));
    }
    blocks.push(json!({"type": "TextBlock", "text": format!("tokendesk · {}", message.sent_by), "isSubtle": true, "size": "Small"}));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": blocks,
            }
        }]
    })
}

/// Slack's mrkdwn reads `&`, `<` and `>` as markup.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack refuses a header over 150 characters and a section over 3,000.
fn capped(text: String, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text;
    }
    let mut out: String = text.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn slack(message: &Message) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": capped(message.title.clone(), 150)}
    })];
    if !message.text.is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": capped(escaped(&message.text), 3000)}}));
    }
    for item in message.items.iter().take(LISTED) {
        let text = format!(
            "*{}*\n{}\n{}",
            escaped(&item_heading(item)),
            escaped(&item.state),
            escaped(&item.fix)
        );
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": capped(text, 3000)}}),
        );
    }
    if let Some(more) = more_line(message) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": more}}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("tokendesk · {}", escaped(&message.sent_by))}]}));
    json!({ "text": message.title, "blocks": blocks })
}

/// Posts `message` to `url`.
pub async fn deliver(
    http: &HttpClient,
    url: &str,
    format: WebhookFormat,
    message: &Message,
) -> Result<(), DeliveryError> {
    let url = Url::parse(url)
        .map_err(|e| DeliveryError(format!("The webhook's URL is not valid: {e}")))?;
    let host = url.host_str().unwrap_or("the webhook").to_string();
    let response = http
        .post_json(&url, body(format, message).to_string())
        .await
        .map_err(|e| DeliveryError(format!("The webhook at {host} was not reached: {e}")))?;
    if response.is_success() {
        return Ok(());
    }
    let said: String = String::from_utf8_lossy(&response.body)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    Err(DeliveryError(format!(
        "The webhook at {host} answered HTTP {}{}",
        response.status,
        if said.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", said.trim())
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Event, Item};
    use chrono::Utc;

    fn message(items: usize) -> Message {
        Message {
            event: Event::SignInNeeded,
            title: "tokendesk: tokens that need attention: 2".into(),
            text: "Applications get <no> access tokens & more".into(),
            items: (0..items)
                .map(|n| Item {
                    data_source: "Exchange".into(),
                    user: Some(format!("U{n}")),
                    account: format!("u{n}@contoso.test"),
                    state: "Needs a new sign-in.".into(),
                    expires_at: None,
                    fix: "Fix: sign in".into(),
                })
                .collect(),
            sent_by: "portal-1".into(),
            sent_at: Utc::now(),
        }
    }

    #[test]
    fn teams_gets_an_adaptive_card_and_slack_escaped_blocks() {
        let teams = body(WebhookFormat::Teams, &message(2));
        let card = &teams["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        let texts: Vec<&str> = card["content"]["body"]
            .as_array()
            .expect("blocks")
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect();
        assert!(texts.contains(&"Exchange / U1 (u1@contoso.test)"));

        let slack = body(WebhookFormat::Slack, &message(2));
        assert_eq!(slack["text"], "tokendesk: tokens that need attention: 2");
        assert_eq!(
            slack["blocks"][1]["text"]["text"],
            "Applications get &lt;no&gt; access tokens &amp; more"
        );
    }

    #[test]
    fn a_long_list_is_cut_for_chat_services_and_counted() {
        let slack = body(WebhookFormat::Slack, &message(100));
        let blocks = slack["blocks"].as_array().expect("blocks");
        assert!(blocks.len() <= 50, "Slack takes at most 50 blocks");
        assert!(blocks.iter().any(|b| b["text"]["text"] == "… +60"));
        let json = body(WebhookFormat::Json, &message(100));
        assert_eq!(json["items"].as_array().map(Vec::len), Some(100));
        assert_eq!(json["event"], "sign_in_needed");
    }
}
