//! A message as an e-mail from a data source's own mailbox, through Microsoft
//! Graph's `sendMail` with an access token for `Mail.Send` (minted from that
//! mailbox's refresh token by the guarded path; Microsoft's refresh tokens mint
//! tokens for any resource the app was consented to).

use serde_json::json;
use url::Url;

use super::{DeliveryError, Message};
use crate::identity::http::HttpClient;
use crate::identity::{Authority, Cloud};

/// Where and with which scope a data source's mailbox sends mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphMail {
    pub send_url: Url,
    pub scope: String,
}

impl GraphMail {
    /// For a Microsoft data source: Graph of its cloud (or the account's API root,
    /// as Test Connection uses it). `None` for other providers, which have no
    /// Graph to send through.
    pub fn for_source(authority: &Authority, api_root: Option<&Url>) -> Option<GraphMail> {
        let cloud: Cloud = match authority {
            Authority::Microsoft { cloud, .. } => *cloud,
            Authority::Issuer { .. } => return None,
        };
        let root = match api_root {
            Some(root) => root.clone(),
            None => Url::parse(cloud.graph_root()).ok()?,
        };
        let send_url = root.join("v1.0/me/sendMail").ok()?;
        Some(GraphMail {
            send_url,
            scope: format!("{}/Mail.Send", cloud.graph_root()),
        })
    }
}

/// The `sendMail` request: a plain-text message to `to`, not kept in Sent Items
/// (the mailbox is a service account's).
pub fn request_body(to: &str, message: &Message) -> serde_json::Value {
    json!({
        "message": {
            "subject": message.title,
            "body": {"contentType": "Text", "content": message.plain_text()},
            "toRecipients": [{"emailAddress": {"address": to}}],
        },
        "saveToSentItems": false,
    })
}

/// Sends `message` to `to` with `access_token`; Graph answers 202 Accepted.
pub async fn deliver(
    http: &HttpClient,
    mail: &GraphMail,
    access_token: &str,
    to: &str,
    message: &Message,
) -> Result<(), DeliveryError> {
    let response = http
        .post_body(
            &mail.send_url,
            access_token,
            "application/json",
            request_body(to, message).to_string(),
        )
        .await
        .map_err(|e| DeliveryError(format!("Microsoft Graph was not reached: {e}")))?;
    if response.is_success() {
        return Ok(());
    }
    let error: Option<(String, String)> =
        serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|v| {
                let error = v.get("error")?;
                Some((
                    error.get("code")?.as_str()?.to_string(),
                    error
                        .get("message")
                        .and_then(|m| m.as_str())
                        .unwrap_or_default()
                        .to_string(),
                ))
            });
    let hint = if response.status == 403 {
        " The app registration needs the delegated permission Mail.Send (with consent), and the signed-in account must be allowed to send from its mailbox."
    } else {
        ""
    };
    Err(DeliveryError(match error {
        Some((code, said)) => format!(
            "Microsoft Graph refused to send the e-mail (HTTP {}, {code}: {said}).{hint}",
            response.status
        ),
        None => format!(
            "Microsoft Graph refused to send the e-mail (HTTP {}).{hint}",
            response.status
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_mail_goes_to_the_clouds_graph_or_the_accounts_api_root() {
        let global = Authority::microsoft(Cloud::Global, "contoso.com");
        let mail = GraphMail::for_source(&global, None).expect("microsoft");
        assert_eq!(
            mail.send_url.as_str(),
            "https://graph.microsoft.com/v1.0/me/sendMail"
        );
        assert_eq!(mail.scope, "https://graph.microsoft.com/Mail.Send");
        let root = Url::parse("http://127.0.0.1:8080/").expect("url");
        let local = GraphMail::for_source(&global, Some(&root)).expect("microsoft");
        assert_eq!(
            local.send_url.as_str(),
            "http://127.0.0.1:8080/v1.0/me/sendMail"
        );
        let other = Authority::Issuer {
            url: Url::parse("https://id.example.org").expect("url"),
        };
        assert_eq!(GraphMail::for_source(&other, None), None);
    }
}
