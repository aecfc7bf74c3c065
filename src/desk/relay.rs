//! The mail relay's questions, written once: which device a user name and key
//! are (a relay key bound to one mailbox), where that mailbox's mail servers are
//! and for which scope their tokens are asked, the upstream login with XOAUTH2,
//! and each session's audit entry (never its content).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};
use crate::desk::model::{TokenTarget, VaultData};
use crate::identity::Authority;

pub use crate::mail::imap::LoggedIn;
pub use crate::mail::{LoginError, Session, TlsStream, Upstream};

/// A mail server that does not finish logging in within this time is down.
const UPSTREAM_LOGIN_TIME: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Smtp,
    Imap,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Smtp => "SMTP",
            Protocol::Imap => "IMAP",
        }
    }
}

/// The scope a mailbox's access token is asked for to use `protocol`: Microsoft's
/// Exchange Online resource (a Microsoft refresh token mints tokens for another
/// resource), the grant's own scopes at any other provider.
pub fn mail_scope(protocol: Protocol, authority: &Authority) -> Option<&'static str> {
    match (authority, protocol) {
        (Authority::Microsoft { .. }, Protocol::Smtp) => {
            Some("https://outlook.office.com/SMTP.Send")
        }
        (Authority::Microsoft { .. }, Protocol::Imap) => {
            Some("https://outlook.office.com/IMAP.AccessAsUser.All")
        }
        (Authority::Issuer { .. }, _) => None,
    }
}

/// A device logged in: its relay key's consumer, the token of the mailbox it
/// named, and the mail server it reaches as that mailbox.
#[derive(Debug, Clone)]
pub struct Device {
    pub name: String,
    pub target: TokenTarget,
    pub mailbox: String,
    pub upstream: Upstream,
    pub scope: Option<&'static str>,
}

/// Why a device's login is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No relay key matches, or the key is another mailbox's: for the audit log;
    /// the device hears only "invalid credentials".
    BadLogin(String),
    /// The data source has no mail server for the protocol.
    NoUpstream(String),
}

/// The device whose relay key `password` is, if `user` names its mailbox.
pub fn login(
    data: &VaultData,
    protocol: Protocol,
    user: &str,
    password: &str,
) -> Result<Device, Refusal> {
    let user = user.trim();
    let consumer = data
        .consumers
        .iter()
        .filter(|c| c.relay)
        .find(|c| c.has_key(password))
        .ok_or_else(|| Refusal::BadLogin(format!("no relay key matches (user name '{user}')")))?;
    let source = data
        .data_sources
        .iter()
        .find(|s| s.id == consumer.data_source)
        .ok_or_else(|| {
            Refusal::BadLogin(format!(
                "the data source of device '{}' was removed",
                consumer.name
            ))
        })?;
    let (mailbox, app_user) = match consumer.relay_user() {
        None => (source.account.email.clone(), None),
        Some(login) => {
            let mapping = source.mapping(login).ok_or_else(|| {
                Refusal::BadLogin(format!(
                    "'{login}' of device '{}' has no mapping in '{}' any more",
                    consumer.name, source.name
                ))
            })?;
            (
                mapping.exchange_user.clone(),
                Some(mapping.app_user.login.clone()),
            )
        }
    };
    if !mailbox.eq_ignore_ascii_case(user) {
        return Err(Refusal::BadLogin(format!(
            "the key of device '{}' is for {mailbox}, not for '{user}'",
            consumer.name
        )));
    }
    let microsoft = matches!(source.provider.authority, Authority::Microsoft { .. });
    let (configured, default, flag) = match protocol {
        Protocol::Smtp => (
            &source.account.smtp_upstream,
            "smtp.office365.com:587",
            "--smtp-upstream",
        ),
        Protocol::Imap => (
            &source.account.imap_upstream,
            "outlook.office365.com:993",
            "--imap-upstream",
        ),
    };
    let address = match (configured, microsoft) {
        (Some(address), _) => address.as_str(),
        (None, true) => default,
        (None, false) => {
            return Err(Refusal::NoUpstream(format!(
                "'{}' names no {} server: tokendesk data-source set \"{}\" {flag} HOST:PORT",
                source.name,
                protocol.name(),
                source.name
            )));
        }
    };
    let upstream =
        Upstream::new(address, source.account.upstream_ca.clone()).map_err(Refusal::NoUpstream)?;
    Ok(Device {
        name: consumer.name.clone(),
        target: TokenTarget {
            data_source: source.name.clone(),
            app_user,
        },
        mailbox,
        upstream,
        scope: mail_scope(protocol, &source.provider.authority),
    })
}

/// Logs in to the device's SMTP server as its mailbox with `token`.
pub async fn smtp_upstream(device: &Device, token: &str) -> Result<Session, LoginError> {
    within_time(
        device,
        crate::mail::smtp::login(&device.upstream, &device.mailbox, token),
    )
    .await
}

/// Logs in to the device's IMAP server as its mailbox with `token`.
pub async fn imap_upstream(device: &Device, token: &str) -> Result<LoggedIn, LoginError> {
    within_time(
        device,
        crate::mail::imap::login(&device.upstream, &device.mailbox, token),
    )
    .await
}

async fn within_time<T>(
    device: &Device,
    login: impl std::future::Future<Output = Result<T, LoginError>>,
) -> Result<T, LoginError> {
    let server = device.upstream.address();
    match tokio::time::timeout(UPSTREAM_LOGIN_TIME, login).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(LoginError::Refused(why))) => Err(LoginError::Refused(format!("{server}: {why}"))),
        Ok(Err(LoginError::Failed(why))) => Err(LoginError::Failed(format!("{server}: {why}"))),
        Err(_) => Err(LoginError::Failed(format!(
            "{server} did not let the mailbox log in within {} s",
            UPSTREAM_LOGIN_TIME.as_secs()
        ))),
    }
}

/// One device session, as the audit log keeps it.
#[derive(Debug, Clone)]
pub struct SessionReport<'a> {
    pub protocol: Protocol,
    pub from: IpAddr,
    /// The device, once it logged in.
    pub device: Option<&'a Device>,
    /// What the device sent to the mail server, and what came back, in bytes.
    pub up: u64,
    pub down: u64,
    /// How it ended: `Ok` with a note ("logged in with a fresh token"), or why not.
    pub result: Result<Option<String>, String>,
}

/// Writes the session's audit entry: device, address, mailbox, bytes, result.
pub fn record_session(dir: &Path, report: &SessionReport<'_>, now: DateTime<Utc>) {
    let outcome = if report.result.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Failed
    };
    let who = match report.device {
        Some(device) => format!("device '{}' for {}", device.name, device.mailbox),
        None => "a device that did not log in".to_string(),
    };
    let how = match &report.result {
        Ok(None) => "ended".to_string(),
        Ok(Some(note)) => format!("ended ({note})"),
        Err(why) => format!("failed: {why}"),
    };
    let mut entry = AuditEntry::new(Operation::Relay, outcome, now).with_detail(format!(
        "{} session of {who} from {}: {} bytes up, {} bytes down; {how}",
        report.protocol.name(),
        report.from,
        report.up,
        report.down
    ));
    if let Some(device) = report.device {
        entry = entry.for_target(&device.target);
    }
    AuditLog::in_dir(dir).record(&entry);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::consumers::Consumer;
    use crate::vault::{AppUser, DataSource, UserMapping};

    fn data() -> (VaultData, String, String) {
        let provider = crate::identity::ProviderConfig {
            authority: Authority::microsoft(
                crate::identity::Cloud::default(),
                "contoso.onmicrosoft.com",
            ),
            client_id: "client".into(),
            client_secret: None,
            scopes: crate::identity::Scopes::Graph,
        };
        let mut source = DataSource::new("Exchange", provider, "portal@contoso.com");
        source.push_user(UserMapping::new(
            AppUser {
                login: "scanner".into(),
                display_name: String::new(),
                email: String::new(),
            },
            "scans@contoso.com",
        ));
        let mut data = VaultData::default();
        let (printer, printer_key) = Consumer::new(
            "printer-2",
            source.id,
            vec!["scanner".into()],
            false,
            Utc::now(),
        );
        let (portal, portal_key) = Consumer::new("portal", source.id, vec![], true, Utc::now());
        data.consumers.push(printer.for_relay());
        data.consumers.push(portal);
        data.data_sources.push(source);
        (data, printer_key, portal_key)
    }

    #[test]
    fn a_relay_key_opens_only_its_own_mailbox_with_microsofts_defaults() {
        let (data, key, portal_key) = data();
        let device = login(&data, Protocol::Smtp, "Scans@contoso.com", &key).expect("login");
        assert_eq!(device.name, "printer-2");
        assert_eq!(device.target.app_user.as_deref(), Some("scanner"));
        assert_eq!(device.upstream.address(), "smtp.office365.com:587");
        assert_eq!(device.scope, Some("https://outlook.office.com/SMTP.Send"));
        let device = login(&data, Protocol::Imap, "scans@contoso.com", &key).expect("login");
        assert_eq!(device.upstream.address(), "outlook.office365.com:993");
        assert_eq!(
            device.scope,
            Some("https://outlook.office.com/IMAP.AccessAsUser.All")
        );
        for (user, password) in [
            ("portal@contoso.com", key.as_str()),
            ("scans@contoso.com", "tdk_wrong"),
            // A token consumer's key is not a relay key.
            ("portal@contoso.com", portal_key.as_str()),
        ] {
            assert!(
                matches!(
                    login(&data, Protocol::Smtp, user, password),
                    Err(Refusal::BadLogin(_))
                ),
                "{user}"
            );
        }
    }

    #[test]
    fn an_openid_mailbox_needs_its_mail_servers_named() {
        let (mut data, key, _) = data();
        data.data_sources[0].provider.authority = Authority::Issuer {
            url: "https://id.example.com/".parse().expect("url"),
        };
        let Err(Refusal::NoUpstream(why)) = login(&data, Protocol::Imap, "scans@contoso.com", &key)
        else {
            panic!("an upstream out of nowhere");
        };
        assert!(why.contains("--imap-upstream HOST:PORT"), "{why}");
        data.data_sources[0].account.imap_upstream = Some("mail.example.com:143".into());
        let device = login(&data, Protocol::Imap, "scans@contoso.com", &key).expect("login");
        assert_eq!(device.upstream.address(), "mail.example.com:143");
        assert_eq!(device.scope, None);
    }
}
