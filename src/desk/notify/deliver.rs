//! One message through one notifier: a webhook's POST, or an e-mail sent by
//! Graph with an access token of the data source's mailbox (through the guarded
//! path, like every other token tokendesk uses).

use std::time::Duration;

use crate::clock::Clock;
use crate::desk::model::TokenTarget;
use crate::identity::http::{HttpClient, HttpOptions};
use crate::notify::mail::{self, GraphMail};
use crate::notify::{DeliveryError, Message, webhook};
use crate::vault::Vault;
use crate::vault::notifiers::{Channel, Notifier};

/// A channel that does not answer in this time is reported, not waited for.
const DELIVERY_TIME: Duration = Duration::from_secs(20);

pub(super) async fn deliver(
    vault: &mut Vault,
    notifier: &Notifier,
    message: &Message,
    clock: &impl Clock,
) -> Result<(), DeliveryError> {
    let http = HttpClient::new(&HttpOptions {
        connect_timeout: Duration::from_secs(10),
        read_timeout: DELIVERY_TIME,
        total_timeout: DELIVERY_TIME,
        max_response_bytes: 64 * 1024,
    })
    .map_err(|e| DeliveryError(e.to_string()))?;
    match &notifier.channel {
        Channel::Webhook { url, format } => {
            webhook::deliver(&http, url.expose(), *format, message).await
        }
        Channel::Email { address, via } => {
            let source = vault
                .data()
                .data_sources
                .iter()
                .find(|s| s.id == *via)
                .cloned()
                .ok_or_else(|| {
                    DeliveryError(
                        "The data source this notifier sends e-mail through was removed.".into(),
                    )
                })?;
            // A mail server named for the data source: SMTP with XOAUTH2 (for
            // Microsoft with the SMTP.Send scope, elsewhere the data source's own
            // scopes); else Microsoft Graph.
            if let Some(upstream) = &source.account.smtp_upstream {
                let upstream = crate::notify::smtp::Upstream::new(
                    upstream,
                    source.account.upstream_ca.clone(),
                )
                .map_err(DeliveryError)?;
                let scope = crate::desk::relay::mail_scope(
                    crate::desk::relay::Protocol::Smtp,
                    &source.provider.authority,
                );
                let token = mailbox_token(vault, &source, scope, clock).await?;
                return crate::notify::smtp::deliver(
                    &upstream,
                    &source.account.email,
                    token.expose(),
                    address,
                    message,
                )
                .await;
            }
            let graph =
                GraphMail::for_source(&source.provider.authority, source.account.api_root.as_ref())
                    .ok_or_else(|| {
                        DeliveryError(format!(
                            "'{}' has no mail server and no Graph to send e-mail through.",
                            source.name
                        ))
                    })?;
            let token = mailbox_token(vault, &source, Some(&graph.scope), clock).await?;
            mail::deliver(&http, &graph, token.expose(), address, message).await
        }
    }
}

/// An access token of the data source's own mailbox, through the guarded path.
async fn mailbox_token(
    vault: &mut Vault,
    source: &crate::vault::DataSource,
    scope: Option<&str>,
    clock: &impl Clock,
) -> Result<crate::Secret, DeliveryError> {
    let target = TokenTarget::data_source(&source.name);
    crate::desk::tokens::access_token(vault, &target, scope, clock)
        .await
        .map(|(token, _)| token)
        .map_err(|e| {
            DeliveryError(format!(
                "The mailbox of '{}' ({}) could not get a token to send e-mail with: {e}",
                source.name, source.account.email
            ))
        })
}
