//! `tokendesk token`: a fresh access token on stdout and nothing else, for mail
//! clients (`passwordeval`), scripts and application servers.

use std::process::ExitCode;

use chrono::Utc;

use super::TargetArgs;
use super::context::Context;
use super::status::{EXIT_ACTION_NEEDED, EXIT_VAULT_UNREADABLE};
use crate::clock::SystemClock;
use crate::identity::{HttpClient, HttpOptions};
use crate::lifecycle::{RedeemError, redeem_for_scope};
use crate::redemption::CachePolicy;
use crate::vault::TokenRecord;

/// The provider or the network failed for now; the next try may work.
pub const EXIT_TRANSIENT: u8 = 1;

/// A cached access token is handed out only while it lives at least this long.
pub const MIN_REMAINING: chrono::Duration = chrono::Duration::minutes(5);

pub use crate::redemption::scope_covers;

fn cached(record: &TokenRecord, scope: Option<&str>) -> Option<String> {
    let access = record.access.as_ref()?;
    if let Some(wanted) = scope
        && !scope_covers(access.scope.as_deref().unwrap_or(""), wanted)
    {
        return None;
    }
    record
        .usable_access_token(Utc::now(), MIN_REMAINING)
        .map(|t| t.expose().to_string())
}

pub async fn run(target: TargetArgs, scope: Option<String>, context: &Context) -> ExitCode {
    let mut vault = match context.open() {
        Ok(vault) => vault,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_VAULT_UNREADABLE);
        }
    };
    let target = target.target();
    let status_message = vault.data().settings.consumer_status_message.clone();
    let unavailable = |detail: &str, code: u8| {
        eprintln!("{status_message}");
        eprintln!("tokendesk: {detail}");
        ExitCode::from(code)
    };
    let record = match vault.data().token(&target) {
        Ok(record) => record,
        Err(e) => return unavailable(&e.to_string(), EXIT_ACTION_NEEDED),
    };
    if let Some(token) = cached(record, scope.as_deref()) {
        println!("{token}");
        return ExitCode::SUCCESS;
    }
    // Not cached: the guarded path locks this token (waiting for a renewal another
    // process may be making), looks again, and only then redeems.
    let config = match vault.data().data_source(&target.data_source) {
        Ok(source) => source.provider.clone(),
        Err(e) => return unavailable(&e.to_string(), EXIT_ACTION_NEEDED),
    };
    let client = match HttpClient::new(&HttpOptions::default()) {
        Ok(http) => crate::redemption::connect(&mut vault, &http, config, Utc::now()).await,
        Err(e) => Err(e),
    };
    let client = match client {
        Ok(client) => client,
        Err(e) => return unavailable(&e.to_string(), EXIT_TRANSIENT),
    };
    let cache = CachePolicy::Usable {
        margin: MIN_REMAINING,
    };
    match redeem_for_scope(
        &mut vault,
        &client,
        &target,
        scope.as_deref(),
        cache,
        &SystemClock,
    )
    .await
    {
        Ok(access) => {
            println!("{}", access.access_token().expose());
            ExitCode::SUCCESS
        }
        Err(e) if e.is_transient() => unavailable(&e.to_string(), EXIT_TRANSIENT),
        Err(e @ (RedeemError::Vault(_) | RedeemError::NotWritable(_))) => {
            unavailable(&e.to_string(), EXIT_VAULT_UNREADABLE)
        }
        Err(e) => unavailable(&e.to_string(), EXIT_ACTION_NEEDED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granted_scopes_cover_requests_with_or_without_their_resource() {
        let granted = "Mail.Read User.Read profile openid email";
        assert!(scope_covers(
            granted,
            "https://graph.microsoft.com/Mail.Read"
        ));
        assert!(scope_covers(granted, "mail.read offline_access"));
        assert!(!scope_covers(
            granted,
            "https://graph.microsoft.com/Mail.Send"
        ));
        assert!(scope_covers(
            "https://outlook.office365.com/EWS.AccessAsUser.All",
            "https://outlook.office365.com/EWS.AccessAsUser.All"
        ));
    }
}
