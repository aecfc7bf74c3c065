//! Every way talking to an identity provider can fail, sorted by what must happen
//! next, with a message written for the admin who has to act.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a failure means for a stored token and for the admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Network trouble, throttling, an outage: try again later; the token is fine.
    Transient,
    /// The refresh token is dead: the user must sign in again.
    NeedsSignIn,
    /// Configuration the admin must fix (app registration, consent, policy, account).
    AdminAction,
    /// The user declined the sign-in.
    Declined,
    /// The device code ran out before the user finished signing in.
    Expired,
    /// The admin cancelled; nothing was stored.
    Cancelled,
}

impl ErrorKind {
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Transient => "temporary problem",
            ErrorKind::NeedsSignIn => "sign-in needed",
            ErrorKind::AdminAction => "admin action needed",
            ErrorKind::Declined => "sign-in declined",
            ErrorKind::Expired => "code expired",
            ErrorKind::Cancelled => "cancelled",
        }
    }

    /// Whether this failure says the stored refresh token can no longer be used.
    pub fn invalidates_token(self) -> bool {
        matches!(self, ErrorKind::NeedsSignIn)
    }
}

/// A failure with everything support needs: the admin message, the raw OAuth error
/// and AADSTS codes, and the trace and correlation ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub struct IdentityError {
    pub kind: ErrorKind,
    /// What happened and what to do, in one or two sentences.
    pub message: String,
    /// The OAuth `error` value, e.g. `invalid_grant`.
    pub error: Option<String>,
    /// Microsoft's AADSTS numbers, first the most specific.
    pub codes: Vec<u32>,
    pub description: Option<String>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
    pub timestamp: Option<String>,
    pub http_status: Option<u16>,
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = self.code_label() {
            write!(f, " [{code}]")?;
        }
        Ok(())
    }
}

impl IdentityError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        IdentityError {
            kind,
            message: message.into(),
            error: None,
            codes: Vec::new(),
            description: None,
            trace_id: None,
            correlation_id: None,
            timestamp: None,
            http_status: None,
            retry_after: None,
        }
    }

    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    pub fn admin(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AdminAction, message)
    }

    pub fn cancelled() -> Self {
        Self::new(
            ErrorKind::Cancelled,
            "Sign-in cancelled. Nothing was stored.",
        )
    }

    /// `AADSTS70008` when Microsoft gave a code, else the OAuth error name.
    pub fn code_label(&self) -> Option<String> {
        self.codes
            .first()
            .map(|code| format!("AADSTS{code}"))
            .or_else(|| self.error.clone())
    }

    pub fn has_code(&self, code: u32) -> bool {
        self.codes.contains(&code)
    }

    /// The lines an admin pastes into a support ticket.
    pub fn support_details(&self) -> String {
        let mut lines = Vec::new();
        if let Some(error) = &self.error {
            lines.push(format!("error: {error}"));
        }
        if !self.codes.is_empty() {
            let codes: Vec<String> = self.codes.iter().map(|c| format!("AADSTS{c}")).collect();
            lines.push(format!("codes: {}", codes.join(", ")));
        }
        if let Some(status) = self.http_status {
            lines.push(format!("HTTP status: {status}"));
        }
        for (name, value) in [
            ("trace id", &self.trace_id),
            ("correlation id", &self.correlation_id),
            ("timestamp", &self.timestamp),
        ] {
            if let Some(value) = value {
                lines.push(format!("{name}: {value}"));
            }
        }
        if let Some(description) = &self.description {
            lines.push(format!("provider said: {description}"));
        }
        lines.join("\n")
    }
}

/// The error body of the token and device endpoints: RFC 6749 §5.2 plus Microsoft's fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProviderErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<u32>,
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub error_uri: Option<String>,
}

impl ProviderErrorBody {
    /// Codes from `error_codes`, or read from "AADSTSnnnn:" in the description when a
    /// proxy or older endpoint dropped the array.
    pub fn codes(&self) -> Vec<u32> {
        if !self.error_codes.is_empty() {
            return self.error_codes.clone();
        }
        self.error_description
            .as_deref()
            .and_then(|d| d.find("AADSTS").map(|i| &d[i + 6..]))
            .and_then(|rest| {
                let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                digits.parse().ok()
            })
            .into_iter()
            .collect()
    }
}

/// Turns a provider's error body into a classified error.
pub fn classify(body: &ProviderErrorBody, http_status: Option<u16>) -> IdentityError {
    let codes = body.codes();
    let by_code = codes
        .iter()
        .find_map(|&code| aadsts(code).map(|(kind, msg)| (kind, msg.to_string())));
    let device_flow = DEVICE_FLOW_ERRORS.contains(&body.error.as_str());
    let (kind, message) = match by_code {
        // A policy block is the admin's business even when it arrives as a device-flow answer.
        Some((ErrorKind::AdminAction, message)) => (ErrorKind::AdminAction, message),
        Some(found) if !device_flow => found,
        _ => by_oauth_error(&body.error, http_status),
    };
    IdentityError {
        kind,
        message,
        error: Some(body.error.clone()),
        codes,
        description: body.error_description.clone(),
        trace_id: body.trace_id.clone(),
        correlation_id: body.correlation_id.clone(),
        timestamp: body.timestamp.clone(),
        http_status,
        retry_after: None,
    }
}

fn by_oauth_error(error: &str, http_status: Option<u16>) -> (ErrorKind, String) {
    let (kind, message) = match error {
        "invalid_grant" => (
            ErrorKind::NeedsSignIn,
            "The provider no longer accepts this refresh token (expired, revoked or replaced). The user must sign in again.",
        ),
        "authorization_declined" | "access_denied" => (
            ErrorKind::Declined,
            "The user declined the sign-in. Request a new code and approve it on the sign-in page.",
        ),
        "expired_token" => (
            ErrorKind::Expired,
            "The sign-in code expired before the sign-in was finished. Request a new code and enter it within its validity.",
        ),
        "bad_verification_code" => (
            ErrorKind::Expired,
            "The provider did not recognise the sign-in code. Request a new code.",
        ),
        "invalid_client" | "unauthorized_client" => (
            ErrorKind::AdminAction,
            "The provider rejected the client ID or client secret. Check both against the app registration.",
        ),
        "invalid_scope" => (
            ErrorKind::AdminAction,
            "The provider rejected the requested scopes. Check the API choice or custom scopes of this data source.",
        ),
        "unsupported_grant_type" => (
            ErrorKind::AdminAction,
            "The provider does not allow this sign-in method for the client. Enable the device authorization grant for this client.",
        ),
        "temporarily_unavailable" | "server_error" => (
            ErrorKind::Transient,
            "The identity provider is temporarily unavailable. tokendesk will try again later.",
        ),
        "invalid_request" => (
            ErrorKind::AdminAction,
            "The provider rejected the request as invalid. Check the data source configuration.",
        ),
        _ => {
            if http_status.is_some_and(|s| s >= 500) {
                (
                    ErrorKind::Transient,
                    "The identity provider reported an internal error. tokendesk will try again later.",
                )
            } else {
                (
                    ErrorKind::AdminAction,
                    "The identity provider refused the request.",
                )
            }
        }
    };
    let message = if kind == ErrorKind::AdminAction && !KNOWN_OAUTH_ERRORS.contains(&error) {
        format!("{message} It answered '{error}'.")
    } else {
        message.to_string()
    };
    (kind, message)
}

const KNOWN_OAUTH_ERRORS: [&str; 11] = [
    "invalid_grant",
    "authorization_declined",
    "access_denied",
    "expired_token",
    "bad_verification_code",
    "invalid_client",
    "unauthorized_client",
    "invalid_scope",
    "unsupported_grant_type",
    "temporarily_unavailable",
    "invalid_request",
];

/// The AADSTS codes an admin meets around refresh tokens, each with the fix.
pub fn aadsts(code: u32) -> Option<(ErrorKind, &'static str)> {
    use ErrorKind::*;
    Some(match code {
        50196 => (
            Transient,
            "Microsoft saw too many identical requests in a short time (AADSTS50196). tokendesk will try again later.",
        ),
        90055 => (
            Transient,
            "Microsoft is throttling sign-in requests for this tenant (AADSTS90055). tokendesk will try again later.",
        ),
        70008 => (
            NeedsSignIn,
            "The refresh token has expired or was revoked (AADSTS70008). The user must sign in again with Request MS365 Refresh Token.",
        ),
        700082 => (
            NeedsSignIn,
            "The refresh token expired because it was not used for 90 days (AADSTS700082). The user must sign in again; keep-alive renewal prevents this.",
        ),
        50173 => (
            NeedsSignIn,
            "The refresh token was revoked, usually after a password reset or a session revocation (AADSTS50173). The user must sign in again.",
        ),
        50132 | 50133 => (
            NeedsSignIn,
            "The user's password changed or the session was revoked, so the refresh token is no longer valid. The user must sign in again.",
        ),
        70043 => (
            NeedsSignIn,
            "A Conditional Access sign-in frequency policy ended this session (AADSTS70043). The user must sign in again; the token cannot outlive the policy's interval.",
        ),
        50076 | 50078 => (
            NeedsSignIn,
            "Multi-factor authentication is now required for this user. The user must sign in again and complete MFA.",
        ),
        70000 => (
            NeedsSignIn,
            "The grant is invalid or malformed (AADSTS70000). The user must sign in again.",
        ),
        7000218 => (
            AdminAction,
            "The app registration is a confidential client (AADSTS7000218): enable \"Allow public client flows\" under Authentication in the app registration, or enter its client secret in this data source.",
        ),
        700025 => (
            AdminAction,
            "The app registration is a public client and must not send a secret (AADSTS700025): remove the client secret from this data source.",
        ),
        7000215 => (
            AdminAction,
            "The client secret is wrong (AADSTS7000215): copy the secret's Value (not its ID) from Certificates & secrets into this data source.",
        ),
        7000222 => (
            AdminAction,
            "The client secret has expired (AADSTS7000222): create a new secret under Certificates & secrets and enter it in this data source.",
        ),
        700016 | 700011 => (
            AdminAction,
            "No application with this client ID exists in this tenant: check the Application (client) ID and the tenant, or have the app consented in this tenant.",
        ),
        90002 | 90038 => (
            AdminAction,
            "The tenant was not found in this cloud: check the tenant ID or domain, and the cloud (Global, US Government, China).",
        ),
        50194 => (
            AdminAction,
            "The app registration is single-tenant (AADSTS50194): use its tenant ID or domain instead of common or organizations.",
        ),
        9001023 => (
            AdminAction,
            "Microsoft rejected the tenant or cloud for this client (AADSTS9001023): use the tenant-specific authority of the app registration's home cloud.",
        ),
        65001 | 90094 => (
            AdminAction,
            "Consent is missing for these permissions: an administrator must grant admin consent on the app registration's API permissions page.",
        ),
        650057 | 65005 => (
            AdminAction,
            "The app registration lacks the API permission for these scopes: add the delegated permissions for EWS or Microsoft Graph under API permissions and grant consent.",
        ),
        53003 => (
            AdminAction,
            "Conditional Access blocked the sign-in (AADSTS53003). The likely cause is the Microsoft-managed policy \"Block device code flow\" (on by default since 2025) or a policy with the \"Authentication flows\" condition: ask the Entra admin to exclude this app or user from it. Tokens first obtained by device code can be blocked at a later refresh by the same policy.",
        ),
        50079 => (
            AdminAction,
            "The user must register for multi-factor authentication first (AADSTS50079): sign in once at https://aka.ms/mfasetup, then request the token again.",
        ),
        50053 => (
            AdminAction,
            "The account is locked after too many failed sign-ins (AADSTS50053): wait, or have an admin unlock it, then try again.",
        ),
        50057 => (
            AdminAction,
            "The user account is disabled (AADSTS50057): enable it in Entra ID or use another account.",
        ),
        50055 => (
            AdminAction,
            "The user's password has expired (AADSTS50055): the user must change it, then sign in again.",
        ),
        50105 => (
            AdminAction,
            "The user is not assigned to this application (AADSTS50105): assign the user under Enterprise applications › Users and groups.",
        ),
        50034 => (
            AdminAction,
            "The user account does not exist in this tenant (AADSTS50034): check the e-mail address and the tenant.",
        ),
        70011 | 700022 | 28002 => (
            AdminAction,
            "The requested scopes are invalid for this provider: use scopes of a single API plus offline_access, openid and profile.",
        ),
        _ => return None,
    })
}

/// Every code with its own entry in [`aadsts`], for tests and the README table.
pub const KNOWN_AADSTS_CODES: [u32; 35] = [
    50196, 90055, 70008, 700082, 50173, 50132, 50133, 70043, 50076, 50078, 70000, 7000218, 700025,
    7000215, 7000222, 700016, 700011, 90002, 90038, 50194, 9001023, 65001, 90094, 650057, 65005,
    53003, 50079, 50053, 50057, 50055, 50105, 50034, 70011, 700022, 28002,
];

/// The RFC 8628 answers whose name says more than any code sent along with them
/// (Microsoft adds codes such as 70016 or 70020 to them).
const DEVICE_FLOW_ERRORS: [&str; 6] = [
    "authorization_pending",
    "slow_down",
    "authorization_declined",
    "access_denied",
    "expired_token",
    "bad_verification_code",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error: &str, codes: &[u32]) -> ProviderErrorBody {
        ProviderErrorBody {
            error: error.into(),
            error_codes: codes.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn codes_win_over_the_oauth_error() {
        let err = classify(&body("invalid_client", &[7000218]), Some(401));
        assert_eq!(err.kind, ErrorKind::AdminAction);
        assert!(err.message.contains("Allow public client flows"));
        let err = classify(&body("invalid_grant", &[53003]), Some(400));
        assert_eq!(err.kind, ErrorKind::AdminAction);
        let err = classify(&body("invalid_grant", &[700082]), Some(400));
        assert_eq!(err.kind, ErrorKind::NeedsSignIn);
    }

    #[test]
    fn device_flow_names_beat_generic_codes() {
        assert_eq!(
            classify(&body("authorization_declined", &[70000]), Some(400)).kind,
            ErrorKind::Declined
        );
        assert_eq!(
            classify(&body("access_denied", &[53003]), Some(400)).kind,
            ErrorKind::AdminAction
        );
    }

    #[test]
    fn every_listed_code_is_mapped() {
        for code in KNOWN_AADSTS_CODES {
            let (_, message) = aadsts(code).expect("listed code has an entry");
            assert!(!message.is_empty());
        }
    }

    #[test]
    fn plain_rfc_errors() {
        assert_eq!(
            classify(&body("invalid_grant", &[]), Some(400)).kind,
            ErrorKind::NeedsSignIn
        );
        assert_eq!(
            classify(&body("access_denied", &[]), Some(400)).kind,
            ErrorKind::Declined
        );
        assert_eq!(
            classify(&body("expired_token", &[]), Some(400)).kind,
            ErrorKind::Expired
        );
        assert_eq!(
            classify(&body("weird", &[]), Some(503)).kind,
            ErrorKind::Transient
        );
        assert!(
            classify(&body("weird", &[]), Some(400))
                .message
                .contains("'weird'")
        );
    }

    #[test]
    fn code_read_from_description_when_array_missing() {
        let b = ProviderErrorBody {
            error: "invalid_grant".into(),
            error_description: Some(
                "AADSTS50173: The provided grant has expired due to it being revoked".into(),
            ),
            ..Default::default()
        };
        assert_eq!(b.codes(), vec![50173]);
    }

    #[test]
    fn display_carries_the_code() {
        let err = classify(&body("invalid_grant", &[70008]), Some(400));
        assert!(err.to_string().ends_with("[AADSTS70008]"));
    }
}
