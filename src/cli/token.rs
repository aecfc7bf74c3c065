//! `tokendesk token`: a fresh access token on stdout and nothing else, for mail
//! clients (`passwordeval`), scripts and application servers.

use std::process::ExitCode;

use super::TargetArgs;
use super::context::Context;
use super::status::{EXIT_ACTION_NEEDED, EXIT_VAULT_UNREADABLE};
use crate::desk::DeskError;
use crate::desk::model::SystemClock;

/// The provider or the network failed for now; the next try may work.
pub const EXIT_TRANSIENT: u8 = 1;

pub use crate::desk::tokens::scope_covers;

/// The token from a gateway serving this vault, asked before any runtime starts:
/// it answers without the vault being unlocked again (no Argon2, no key-store
/// round trip). `None` when none serves it or it has no token; the caller then
/// opens the vault itself and says why in its own words.
pub fn from_local_gateway(
    target: &TargetArgs,
    scope: Option<&str>,
    context: &Context,
) -> Option<String> {
    let request = crate::gateway::LocalRequest {
        data_source: target.data_source.clone(),
        user: target.user.clone(),
        scope: scope.map(str::to_string),
    };
    crate::gateway::ask_local_gateway(&context.vault_dir, &request)?.ok()
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
    match crate::desk::tokens::access_token(&mut vault, &target, scope.as_deref(), &SystemClock)
        .await
    {
        Ok((token, _)) => {
            println!("{}", token.expose());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{status_message}");
            eprintln!("tokendesk: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// 1: try again later; 3: the vault; 2: an admin must act.
fn exit_code(error: &DeskError) -> u8 {
    if error.is_transient() {
        EXIT_TRANSIENT
    } else if error.is_vault_failure() {
        EXIT_VAULT_UNREADABLE
    } else {
        EXIT_ACTION_NEEDED
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
