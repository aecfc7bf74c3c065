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
            let graph = GraphMail::for_source(
                &source.provider.authority,
                source.account.api_root.as_ref(),
            )
            .ok_or_else(|| {
                DeliveryError(format!(
                    "'{}' is not a Microsoft 365 data source: it cannot send e-mail through Graph.",
                    source.name
                ))
            })?;
            let target = TokenTarget::data_source(&source.name);
            let (token, _) = crate::desk::tokens::access_token(
                vault,
                &target,
                Some(&graph.scope),
                clock,
            )
            .await
            .map_err(|e| {
                DeliveryError(format!(
                    "The mailbox of '{}' ({}) could not get a token to send e-mail with: {e}",
                    source.name, source.account.email
                ))
            })?;
            mail::deliver(&http, &graph, token.expose(), address, message).await
        }
    }
}
