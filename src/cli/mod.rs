//! The command line: argument definitions and dispatch. Each command lives in its
//! own module; this file only wires them up.

mod sign_in;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use crate::identity::{Authority, Cloud, ProviderConfig, Scopes};

#[derive(Debug, Parser)]
#[command(
    name = "tokendesk",
    version,
    about = "Keeps Microsoft 365 / OAuth 2.0 refresh tokens alive: device-code sign-in, an encrypted vault, reminders and renewal.",
    long_about = None,
    after_help = "Run without a command to open the desktop app."
)]
pub struct Cli {
    /// Folder of the vault (default: the platform data directory).
    #[arg(long, global = true, env = "TOKENDESK_HOME", value_name = "DIR")]
    pub vault_dir: Option<PathBuf>,

    /// Read the vault passphrase from this file instead of the OS keyring.
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign a user in with the device code flow and show who signed in.
    #[command(
        after_help = "Examples:\n  tokendesk sign-in --tenant contoso.onmicrosoft.com --client-id 11111111-2222-3333-4444-555555555555 --preset graph\n  tokendesk sign-in --issuer-url https://id.example.org/realms/main --client-id tokendesk --scopes \"openid offline_access\""
    )]
    SignIn(SignInArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Preset {
    Ews,
    Graph,
}

/// Where the provider is and which app registration to use.
#[derive(Debug, Clone, Args)]
pub struct ProviderArgs {
    /// Tenant: directory ID, verified domain, organizations, common or consumers.
    #[arg(long, conflicts_with = "issuer_url")]
    pub tenant: Option<String>,

    /// Microsoft cloud of the tenant.
    #[arg(long, default_value = "global", value_parser = parse_cloud)]
    pub cloud: Cloud,

    /// Use this login host instead of the cloud's (a proxy, or a test provider).
    #[arg(long, value_name = "URL")]
    pub authority_host: Option<Url>,

    /// Issuer URL of any other OpenID provider (found by discovery).
    #[arg(long, value_name = "URL")]
    pub issuer_url: Option<Url>,

    /// Application (client) ID of the app registration.
    #[arg(long)]
    pub client_id: Option<String>,

    /// Read a client secret from standard input (confidential clients only).
    #[arg(long)]
    pub client_secret_stdin: bool,

    /// API preset: Exchange EWS or Microsoft Graph.
    #[arg(long, value_enum, conflicts_with = "scopes")]
    pub preset: Option<Preset>,

    /// Custom space-separated scopes (include offline_access).
    #[arg(long)]
    pub scopes: Option<String>,
}

fn parse_cloud(value: &str) -> Result<Cloud, String> {
    value.parse()
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
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| {
                format!("Could not read the client secret from standard input: {e}")
            })?;
            Some(crate::Secret::new(line.trim()))
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

#[derive(Debug, Clone, Args)]
pub struct SignInArgs {
    #[command(flatten)]
    pub provider: ProviderArgs,

    /// Do not try to open the browser.
    #[arg(long)]
    pub no_browser: bool,

    /// Do not copy the code to the clipboard.
    #[arg(long)]
    pub no_clipboard: bool,
}

/// Runs a parsed command line; `None` means the caller starts the GUI.
pub fn run(cli: Cli) -> Option<ExitCode> {
    let command = cli.command?;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return Some(ExitCode::FAILURE);
        }
    };
    let result = match command {
        Command::SignIn(args) => runtime.block_on(sign_in::run(args)),
    };
    Some(match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    })
}
