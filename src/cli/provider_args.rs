//! The provider flags of `data-source add` and `sign-in`, read into a provider's
//! configuration under the same rules the window applies.

use super::{Preset, ProviderArgs};
use crate::desk::model::{Authority, ProviderConfig, Scopes};

/// A client secret typed or piped on standard input (never in argv).
pub(super) fn secret_from_stdin() -> Result<crate::Secret, String> {
    line_from_stdin("the client secret")
}

/// A secret line typed or piped on standard input (never in argv).
pub(super) fn line_from_stdin(what: &str) -> Result<crate::Secret, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("Could not read {what} from standard input: {e}"))?;
    Ok(crate::Secret::new(line.trim()))
}

impl ProviderArgs {
    pub fn to_config(&self) -> Result<ProviderConfig, String> {
        let authority =
            match (&self.tenant, &self.issuer_url) {
                (Some(tenant), None) => Authority::Microsoft {
                    cloud: self.cloud,
                    tenant: tenant.trim().to_string(),
                    login_host: self.authority_host.clone(),
                },
                (None, Some(url)) => Authority::Issuer { url: url.clone() },
                _ => return Err(
                    "Give either --tenant (Microsoft) or --issuer-url (any other OpenID provider)."
                        .into(),
                ),
            };
        let client_id = self
            .client_id
            .clone()
            .ok_or("Give --client-id: the Application (client) ID of the app registration.")?;
        let scopes = match (&self.preset, &self.scopes) {
            (_, Some(custom)) => Scopes::Custom(custom.clone()),
            (Some(Preset::Graph), None) => Scopes::Graph,
            (Some(Preset::Ews), None) => Scopes::Ews,
            (None, None) if authority.is_microsoft() => Scopes::Graph,
            (None, None) => Scopes::Custom("openid profile email offline_access".into()),
        };
        let client_secret = if self.client_secret_stdin {
            Some(secret_from_stdin()?)
        } else {
            None
        };
        let config = ProviderConfig {
            authority,
            client_id: client_id.trim().to_string(),
            client_secret,
            scopes,
        };
        let problems = config.validate();
        if !problems.is_empty() {
            let lines: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
            return Err(format!(
                "The provider settings need fixing:\n{}",
                lines.join("\n")
            ));
        }
        Ok(config)
    }
}
