//! `tokendesk data-source set NAME …`: changes any field of a data source without
//! touching its tokens, as the window's Edit data source dialog does — an admin on
//! a server fixes a typo without deleting the tokens.

use std::process::ExitCode;

use clap::Args;
use url::Url;

use super::context::Context;
use super::{Preset, RefreshTokenRule};
use crate::desk::data_sources;
use crate::desk::model::{
    Authority, Cloud, DataSource, ExchangeServer, RefreshRule, RuleStart, Scopes,
};

#[derive(Debug, Clone, Args)]
pub struct SetDataSourceArgs {
    /// The data source to change.
    pub name: String,
    /// A new name.
    #[arg(long, value_name = "NAME")]
    pub rename: Option<String>,
    /// A Microsoft tenant (makes the data source a Microsoft one).
    #[arg(long, conflicts_with = "issuer_url")]
    pub tenant: Option<String>,
    /// The Microsoft cloud of the tenant.
    #[arg(long, value_parser = super::args::parse_cloud)]
    pub cloud: Option<Cloud>,
    /// A Microsoft login host instead of the cloud's (a proxy, or a test provider).
    #[arg(long, value_name = "URL")]
    pub authority_host: Option<Url>,
    /// The issuer URL of any other OpenID provider.
    #[arg(long, value_name = "URL")]
    pub issuer_url: Option<Url>,
    /// Application (client) ID of the app registration.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Read a new client secret from standard input.
    #[arg(long, conflicts_with = "no_client_secret")]
    pub client_secret_stdin: bool,
    /// Remove the client secret (a public client).
    #[arg(long)]
    pub no_client_secret: bool,
    /// API preset: Exchange EWS or Microsoft Graph.
    #[arg(long, value_enum, conflicts_with = "scopes")]
    pub preset: Option<Preset>,
    /// Custom space-separated scopes (include offline_access).
    #[arg(long)]
    pub scopes: Option<String>,
    /// Sign-in e-mail address or UPN of the data-source user.
    #[arg(long)]
    pub account: Option<String>,
    /// An explicit EWS endpoint (on-premises or hybrid Exchange).
    #[arg(long, value_name = "URL")]
    pub ews_url: Option<Url>,
    /// Call Graph or Exchange Online at this host instead of the cloud's.
    #[arg(long, value_name = "URL", conflicts_with = "no_api_root")]
    pub api_root: Option<Url>,
    /// Call the cloud's own API host again.
    #[arg(long)]
    pub no_api_root: bool,
    /// How many days the provider's refresh tokens live, when its answers do not say.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650), conflicts_with = "no_refresh_token_days")]
    pub refresh_token_days: Option<u32>,
    /// What those days count from: the last use (idle) or the sign-in (fixed).
    #[arg(long, value_enum)]
    pub refresh_token_rule: Option<RefreshTokenRule>,
    /// The lifetime is unknown again (shown as such) unless the provider states it.
    #[arg(long, conflicts_with = "refresh_token_rule")]
    pub no_refresh_token_days: bool,
    /// The browser sign-in's redirect URI as registered with the provider.
    #[arg(long, conflicts_with = "no_redirect_uri")]
    pub redirect_uri: Option<String>,
    /// Use the default redirect URI again.
    #[arg(long)]
    pub no_redirect_uri: bool,
    /// The mail server this mailbox sends through with XOAUTH2 (HOST:PORT; 465 is
    /// implicit TLS, others STARTTLS, smtps://HOST:PORT forces implicit TLS;
    /// default smtp.office365.com:587).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "no_smtp_upstream")]
    pub smtp_upstream: Option<String>,
    /// Send through Microsoft's smtp.office365.com:587 again.
    #[arg(long)]
    pub no_smtp_upstream: bool,
    /// The IMAP server the relay reads this mailbox from with XOAUTH2 (HOST:PORT; 993
    /// is implicit TLS, others STARTTLS, imaps://HOST:PORT forces implicit TLS;
    /// default outlook.office365.com:993).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "no_imap_upstream")]
    pub imap_upstream: Option<String>,
    /// Read from Microsoft's outlook.office365.com:993 again.
    #[arg(long)]
    pub no_imap_upstream: bool,
    /// Check the mail servers' certificates against this CA (a PEM file) instead of
    /// the system's trust store.
    #[arg(long, value_name = "FILE", conflicts_with = "no_upstream_ca")]
    pub upstream_ca: Option<std::path::PathBuf>,
    /// Use the system's trust store for the mail servers again.
    #[arg(long)]
    pub no_upstream_ca: bool,
}

pub fn run(args: &SetDataSourceArgs, context: &Context) -> Result<ExitCode, String> {
    let secret = if args.client_secret_stdin {
        Some(super::provider_args::secret_from_stdin()?)
    } else {
        None
    };
    let mut vault = context.open()?;
    let mut source = vault
        .data()
        .data_source(&args.name)
        .map_err(|e| e.to_string())?
        .clone();
    apply(args, secret, &mut source)?;
    let edited = data_sources::edit(&mut vault, source).map_err(|e| e.to_string())?;
    if edited.fields.is_empty() {
        println!(
            "Data source '{}' already had these settings; nothing changed.",
            edited.name
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Changed data source '{}': {}. Its tokens and additional users were kept.",
        edited.name,
        edited.fields.join(", ")
    );
    if edited.tokens_from_before > 0 {
        println!(
            "{} stored refresh token(s) were issued under the old settings; the provider will refuse them. Sign in again: tokendesk sign-in --data-source \"{}\"",
            edited.tokens_from_before, edited.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Puts the given flags into `source`; what was not given stays as it is.
fn apply(
    args: &SetDataSourceArgs,
    secret: Option<crate::Secret>,
    source: &mut DataSource,
) -> Result<(), String> {
    let nothing = args.rename.is_none()
        && args.tenant.is_none()
        && args.cloud.is_none()
        && args.authority_host.is_none()
        && args.issuer_url.is_none()
        && args.client_id.is_none()
        && secret.is_none()
        && !args.no_client_secret
        && args.preset.is_none()
        && args.scopes.is_none()
        && args.account.is_none()
        && args.ews_url.is_none()
        && args.api_root.is_none()
        && !args.no_api_root
        && args.refresh_token_days.is_none()
        && args.refresh_token_rule.is_none()
        && !args.no_refresh_token_days
        && args.redirect_uri.is_none()
        && !args.no_redirect_uri
        && args.smtp_upstream.is_none()
        && !args.no_smtp_upstream
        && args.imap_upstream.is_none()
        && !args.no_imap_upstream
        && args.upstream_ca.is_none()
        && !args.no_upstream_ca;
    if nothing {
        return Err(format!(
            "Give at least one setting to change (tokendesk data-source set \"{}\" --help lists them).",
            source.name
        ));
    }
    if let Some(name) = &args.rename {
        source.name = name.trim().to_string();
    }
    set_authority(args, &mut source.provider.authority)?;
    if let Some(id) = &args.client_id {
        source.provider.client_id = id.trim().to_string();
    }
    if secret.is_some() || args.no_client_secret {
        source.provider.client_secret = secret;
    }
    match (args.preset, &args.scopes) {
        (_, Some(custom)) => source.provider.scopes = Scopes::Custom(custom.trim().to_string()),
        (Some(Preset::Graph), None) => {
            source.provider.scopes = Scopes::Graph;
            source.account.server = ExchangeServer::Graph;
        }
        (Some(Preset::Ews), None) => {
            source.provider.scopes = Scopes::Ews;
            if !matches!(source.account.server, ExchangeServer::Ews(_)) {
                source.account.server = ExchangeServer::Office365;
            }
        }
        (None, None) => {}
    }
    if let Some(email) = &args.account {
        source.account.email = email.trim().to_string();
    }
    if let Some(url) = &args.ews_url {
        source.account.server = ExchangeServer::Ews(url.clone());
    }
    if let Some(root) = &args.api_root {
        source.account.api_root = Some(root.clone());
    } else if args.no_api_root {
        source.account.api_root = None;
    }
    set_refresh_rule(args, &mut source.refresh_rule)?;
    if let Some(uri) = &args.redirect_uri {
        source.redirect_uri = Some(uri.trim().to_string());
    } else if args.no_redirect_uri {
        source.redirect_uri = None;
    }
    if let Some(upstream) = &args.smtp_upstream {
        crate::desk::notify::check_upstream(upstream)?;
        source.account.smtp_upstream = Some(upstream.trim().to_string());
    } else if args.no_smtp_upstream {
        source.account.smtp_upstream = None;
    }
    if let Some(upstream) = &args.imap_upstream {
        crate::desk::notify::check_upstream(upstream)?;
        source.account.imap_upstream = Some(upstream.trim().to_string());
    } else if args.no_imap_upstream {
        source.account.imap_upstream = None;
    }
    if let Some(file) = &args.upstream_ca {
        let pem = std::fs::read_to_string(file)
            .map_err(|e| format!("Could not read {}: {e}", file.display()))?;
        crate::desk::notify::check_ca(&pem)
            .map_err(|problem| format!("{}: {problem}", file.display()))?;
        source.account.upstream_ca = Some(pem);
    } else if args.no_upstream_ca {
        source.account.upstream_ca = None;
    }
    Ok(())
}

fn set_authority(args: &SetDataSourceArgs, authority: &mut Authority) -> Result<(), String> {
    if let Some(url) = &args.issuer_url {
        if args.cloud.is_some() || args.authority_host.is_some() {
            return Err(
                "--cloud and --authority-host are for a Microsoft tenant, not an --issuer-url."
                    .into(),
            );
        }
        *authority = Authority::Issuer { url: url.clone() };
        return Ok(());
    }
    let (cloud, tenant, login_host) = match authority {
        Authority::Microsoft {
            cloud,
            tenant,
            login_host,
        } => (*cloud, tenant.clone(), login_host.clone()),
        Authority::Issuer { .. } => match &args.tenant {
            Some(tenant) => (Cloud::default(), tenant.clone(), None),
            None if args.cloud.is_some() || args.authority_host.is_some() => {
                return Err("This data source uses an OpenID provider's issuer URL: give --tenant to make it a Microsoft one, or --issuer-url to change the issuer.".into());
            }
            None => return Ok(()),
        },
    };
    *authority = Authority::Microsoft {
        cloud: args.cloud.unwrap_or(cloud),
        tenant: args
            .tenant
            .as_deref()
            .map_or(tenant, |t| t.trim().to_string()),
        login_host: args.authority_host.clone().or(login_host),
    };
    Ok(())
}

fn set_refresh_rule(
    args: &SetDataSourceArgs,
    rule: &mut Option<RefreshRule>,
) -> Result<(), String> {
    if args.no_refresh_token_days {
        *rule = None;
        return Ok(());
    }
    let counted_from = args.refresh_token_rule.map(|r| match r {
        RefreshTokenRule::Idle => RuleStart::LastUse,
        RefreshTokenRule::Fixed => RuleStart::SignIn,
    });
    match (args.refresh_token_days, counted_from, rule.as_mut()) {
        (Some(days), from, current) => {
            let counted_from = from
                .or(current.map(|r| r.counted_from))
                .unwrap_or(RuleStart::LastUse);
            *rule = Some(RefreshRule { days, counted_from });
        }
        (None, Some(from), Some(current)) => current.counted_from = from,
        (None, Some(_), None) => {
            return Err(
                "--refresh-token-rule needs a lifetime: give --refresh-token-days as well.".into(),
            );
        }
        (None, None, _) => {}
    }
    Ok(())
}
