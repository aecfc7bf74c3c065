//! The command line's arguments: every command, its flags and their help texts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use super::gateway_args::{ConsumerCommand, ServiceCommand};
use crate::desk::model::Cloud;

#[derive(Debug, Parser)]
#[command(
    name = "tokendesk",
    version,
    about = "Keeps Microsoft 365 / OAuth 2.0 refresh tokens alive: device-code sign-in, an encrypted vault, reminders and renewal.",
    long_about = None,
    after_help = "Run without a command to open the desktop app.\n\nFirst steps on a server:\n  tokendesk data-source add Exchange --tenant contoso.onmicrosoft.com --client-id <app id> --preset graph --account sales@contoso.com\n  tokendesk sign-in --data-source Exchange\n  tokendesk schedule install\n  tokendesk status"
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

    /// Add, list or remove data sources (an app registration plus an Exchange account).
    #[command(subcommand)]
    DataSource(DataSourceCommand),

    /// The directory of application users and their mappings to Exchange users.
    #[command(subcommand)]
    User(UserCommand),

    /// Create, restore, export or import the vault.
    #[command(subcommand)]
    Vault(VaultCommand),

    /// Show every token's state; the exit code tells a monitoring system what to do.
    #[command(
        after_help = "Exit codes: 0 all healthy, 1 a reminder is due (30 days or less left), 2 renewal forced, expired, at risk or a sign-in is needed, 3 the vault could not be read, 64 no such data source.\n\nExamples:\n  tokendesk status\n  tokendesk status --data-source Exchange --json"
    )]
    Status {
        /// Only this data source and its additional users.
        #[arg(long)]
        data_source: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },

    /// Redeem refresh tokens now, storing each rotated token at once.
    #[command(
        after_help = "Exit codes: 0 all renewed (or nothing due), 1 some failed for now and stay for the next run, 2 someone must sign in again, 3 the vault could not be read.\n\nExamples:\n  tokendesk renew --due            # what the keep-alive schedule runs\n  tokendesk renew --all --concurrency 8\n  tokendesk renew --data-source Exchange --user USER/jdoe"
    )]
    Renew(RenewArgs),

    /// Keep every token alive and hand access tokens to applications (HTTP on a
    /// loopback address with a consumer key; a socket for local programs).
    #[command(
        after_help = "Applications ask GET /v1/token?data_source=NAME[&user=LOGIN][&scope=S] with Authorization: Bearer <consumer key>; monitoring reads /healthz and /metrics.\n\nExamples:\n  tokendesk consumer add Portal --data-source Exchange --all-users\n  tokendesk serve --listen 127.0.0.1:8470\n  tokendesk serve --listen 0.0.0.0:8443 --tls-cert gw.pem --tls-key gw.key\n  curl -H \"Authorization: Bearer $KEY\" \"http://127.0.0.1:8470/v1/token?data_source=Exchange\""
    )]
    Serve {
        #[command(flatten)]
        listen: super::gateway_args::ListenArgs,
        /// Look for due tokens this often, in seconds (default: the vault's keep-alive interval).
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
        keepalive_every: Option<u64>,
        /// Look for something to tell the notifiers this often, in seconds (and at once after a keep-alive run or a refused token).
        #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        notify_every: u64,
        #[command(flatten)]
        limits: super::gateway_args::LimitArgs,
        #[command(flatten)]
        relay: super::gateway_args::RelayArgs,
        /// Run under the Windows service manager (what `service install` sets up).
        #[arg(long, hide = true)]
        windows_service: bool,
    },

    /// Run the gateway as a service (systemd on Linux, user or system; a Windows service on Windows).
    #[command(
        after_help = "Examples:\n  tokendesk service install --listen 127.0.0.1:8470\n  tokendesk --passphrase-file /etc/tokendesk/pass service install\n  sudo tokendesk --vault-dir /srv/tokendesk --passphrase-file /etc/tokendesk/pass service install --system\n  tokendesk service status\n  tokendesk service remove"
    )]
    Service {
        #[command(subcommand)]
        action: ServiceCommand,
    },

    /// The applications allowed to fetch tokens from the gateway.
    #[command(
        subcommand,
        after_help = "Examples:\n  KEY=$(tokendesk consumer add Portal --data-source Exchange --all-users)\n  tokendesk consumer list\n  tokendesk consumer remove Portal"
    )]
    Consumer(ConsumerCommand),

    /// Tell admins without the window: webhooks and e-mail, once per state change.
    #[command(
        subcommand,
        after_help = "What is sent: a token that needs a new sign-in (at once), a daily digest from 08:00 of tokens from the reminder threshold on, the shared store unreachable (by the gateway), and what works again. The gateway sends them; without a gateway, the scheduled keep-alive (`renew --due`) does.\n\nExamples:\n  tokendesk notify add ops --webhook https://hooks.example.com/tokendesk\n  tokendesk notify add admins --email it-admins@contoso.com --via Exchange\n  tokendesk notify test ops"
    )]
    Notify(super::notify_args::NotifyCommand),

    /// Print a fresh access token on standard output, and nothing else.
    #[command(
        after_help = "A cached access token is reused while more than 5 minutes remain; otherwise the refresh token is redeemed (and the rotated one stored). Without a valid token the configured consumer status message goes to standard error and the exit code is 2 (1 when the provider could not be reached or another process held the token longer than 20 s, 3 when the vault cannot be read or written).\n\nExamples:\n  tokendesk token --data-source Exchange\n  passwordeval = \"tokendesk token --data-source Exchange --user USER/jdoe\"\n  curl -H \"Authorization: Bearer $(tokendesk token --data-source Graph --scope https://graph.microsoft.com/Mail.Read)\" https://graph.microsoft.com/v1.0/me"
    )]
    Token {
        #[command(flatten)]
        target: TargetArgs,
        /// Ask for an access token for these scopes instead of the stored ones.
        #[arg(long)]
        scope: Option<String>,
    },

    /// Test Connection: redeem the token, call the API and check the account.
    #[command(
        after_help = "Examples:\n  tokendesk test --data-source Exchange\n  tokendesk test --data-source Exchange --user USER/jdoe"
    )]
    Test {
        #[command(flatten)]
        target: TargetArgs,
    },

    /// The daily keep-alive as a systemd user timer, launchd agent or Windows task.
    #[command(
        subcommand,
        after_help = "The job runs `tokendesk renew --due` with this vault (and --passphrase-file, when given) once a day.\n\nExamples:\n  tokendesk schedule install\n  tokendesk --vault-dir /srv/tokendesk schedule install\n  tokendesk schedule show"
    )]
    Schedule(ScheduleCommand),

    /// Clear Token: forget a token; the connection stays suspended until the next sign-in.
    #[command(
        after_help = "Examples:\n  tokendesk clear --data-source Exchange\n  tokendesk clear --data-source Exchange --user USER/jdoe --yes"
    )]
    Clear {
        #[command(flatten)]
        target: TargetArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ScheduleCommand {
    /// Install the daily keep-alive (`tokendesk renew --due`) for this vault.
    #[command(
        after_help = "Examples:\n  tokendesk schedule install\n  tokendesk --vault-dir /srv/tokendesk --passphrase-file /etc/tokendesk/pass schedule install"
    )]
    Install,
    /// Remove the keep-alive schedule.
    #[command(after_help = "Example:\n  tokendesk schedule remove")]
    Remove,
    /// Show what is installed and when it runs next.
    #[command(after_help = "Example:\n  tokendesk schedule show")]
    Show,
}

/// One token: the data-source user's, or a mapped application user's.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    #[arg(long)]
    pub data_source: String,
    /// The application user (login) of an additional-users mapping.
    #[arg(long)]
    pub user: Option<String>,
}

impl TargetArgs {
    pub fn target(&self) -> crate::desk::model::TokenTarget {
        match &self.user {
            Some(user) => crate::desk::model::TokenTarget::user(&self.data_source, user),
            None => crate::desk::model::TokenTarget::data_source(&self.data_source),
        }
    }
}

#[derive(Debug, Clone, Args)]
#[group(id = "which", required = true, args = ["all", "due", "data_source"])]
pub struct RenewArgs {
    /// Every token that can be redeemed.
    #[arg(long)]
    pub all: bool,
    /// Tokens not redeemed for the keep-alive age (7 days, with jitter) or inside
    /// the reminder window.
    #[arg(long)]
    pub due: bool,
    /// One data source's own token (with --user: one mapping's).
    #[arg(long)]
    pub data_source: Option<String>,
    #[arg(long, requires = "data_source")]
    pub user: Option<String>,
    /// Redemptions in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Machine-readable report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DataSourceCommand {
    /// Add a data source.
    #[command(
        after_help = "Examples:\n  tokendesk data-source add Exchange --tenant contoso.onmicrosoft.com --client-id 11111111-2222-3333-4444-555555555555 --preset graph --account sales@contoso.com\n  tokendesk data-source add Portal --issuer-url https://id.example.org/realms/main --client-id tokendesk --account jane@example.org --refresh-token-days 30 --refresh-token-rule idle"
    )]
    Add(Box<AddDataSourceArgs>),
    /// List data sources with the state of their tokens.
    #[command(after_help = "Example:\n  tokendesk data-source list")]
    List,
    /// Change a data source's settings; its tokens and users are kept.
    #[command(
        after_help = "Examples:\n  tokendesk data-source set Exchange --client-id 11111111-2222-3333-4444-555555555555\n  tokendesk data-source set Portal --rename Intranet --redirect-uri http://127.0.0.1:8400/callback"
    )]
    Set(Box<super::data_source_set::SetDataSourceArgs>),
    /// Remove a data source and all its tokens.
    #[command(after_help = "Example:\n  tokendesk data-source remove Exchange")]
    Remove { name: String },
}

#[derive(Debug, Clone, Args)]
pub struct AddDataSourceArgs {
    pub name: String,
    #[command(flatten)]
    pub provider: ProviderArgs,
    /// Sign-in e-mail address or UPN of the data-source user.
    #[arg(long)]
    pub account: String,
    /// An explicit EWS endpoint (on-premises or hybrid Exchange).
    #[arg(long, value_name = "URL")]
    pub ews_url: Option<Url>,
    /// Call Graph or Exchange Online at this host instead of the cloud's (Test Connection).
    #[arg(long, value_name = "URL")]
    pub api_root: Option<Url>,
    /// How many days the provider's refresh tokens live, when its token answers do
    /// not say (without it and without a statement, the expiry is shown as unknown).
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub refresh_token_days: Option<u32>,
    /// What those days count from: the last use (idle) or the sign-in (fixed).
    #[arg(
        long,
        value_enum,
        default_value = "idle",
        requires = "refresh_token_days"
    )]
    pub refresh_token_rule: RefreshTokenRule,
    /// The browser sign-in's redirect URI as registered with the provider
    /// (http://127.0.0.1[:port]/path or http://localhost…); default:
    /// http://localhost for Microsoft, http://127.0.0.1 for others.
    #[arg(long)]
    pub redirect_uri: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RefreshTokenRule {
    /// Counted from the last use: every renewal restarts it.
    Idle,
    /// Counted from the sign-in: renewals do not extend it.
    Fixed,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an application user to the directory, and map it when --data-source is given.
    #[command(
        after_help = "Examples:\n  tokendesk user add USER/jdoe --display-name \"Jane Doe\" --email jane@contoso.com\n  tokendesk user add USER/jdoe --data-source Exchange --exchange-user jane@contoso.com"
    )]
    Add {
        login: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Map the user in this data source (the Additional users tab).
        #[arg(long, requires = "exchange_user")]
        data_source: Option<String>,
        /// The Exchange user (UPN or e-mail) the application user acts as.
        #[arg(long)]
        exchange_user: Option<String>,
        /// The user's own EWS endpoint, when it differs from the data source's.
        #[arg(long, value_name = "URL")]
        server_url: Option<Url>,
    },
    /// List the user directory, or the mappings of one data source.
    #[command(
        after_help = "Examples:\n  tokendesk user list\n  tokendesk user list --data-source Exchange"
    )]
    List {
        #[arg(long)]
        data_source: Option<String>,
    },
    /// Remove a user from the directory, or its mapping from --data-source.
    #[command(
        after_help = "Examples:\n  tokendesk user remove USER/jdoe --data-source Exchange\n  tokendesk user remove USER/jdoe"
    )]
    Remove {
        login: String,
        #[arg(long)]
        data_source: Option<String>,
    },
    /// Import application users from CSV (header row: login, display name, e-mail).
    #[command(
        after_help = "Example (users.csv):\n  login,display name,e-mail\n  USER/jdoe,Jane Doe,jane@contoso.com\n\n  tokendesk user import-csv users.csv"
    )]
    ImportCsv { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create an empty vault (keyring key, or passphrase when one is given).
    #[command(
        after_help = "Examples:\n  tokendesk vault init                                   # key in the OS keyring\n  tokendesk --passphrase-file /etc/tokendesk/pass vault init   # servers without a keyring"
    )]
    Init {
        /// Replace an existing vault; its contents are lost.
        #[arg(long)]
        force: bool,
    },
    /// Bring back the previous generation of the vault; every token keeps its newest state.
    #[command(
        after_help = "Tokens are never turned back: for each one the newer of the current file and the backup is kept, and tokens that may have been used since the backup are marked. The replaced file is kept as vault.tdv.damaged-<time>.\n\nExamples:\n  tokendesk vault restore-backup            # the vault does not open\n  tokendesk vault restore-backup --yes      # it opens, restore anyway"
    )]
    RestoreBackup {
        /// Restore even though the current vault opens fine.
        #[arg(long)]
        yes: bool,
    },
    /// Write the whole vault to FILE, encrypted with a bundle passphrase.
    #[command(
        after_help = "The bundle passphrase comes from TOKENDESK_BUNDLE_PASSPHRASE or is asked for.\n\nExample:\n  tokendesk vault export tokendesk-backup.tdb"
    )]
    Export { file: PathBuf },
    /// Replace the vault's contents with an exported bundle.
    #[command(
        after_help = "The previous contents stay as the vault's backup generation.\n\nExample:\n  tokendesk vault import tokendesk-backup.tdb"
    )]
    Import { file: PathBuf },
    /// Move this vault into a PostgreSQL database that every desk and gateway share (or back: --to file).
    #[command(
        after_help = "The password comes from PGPASSWORD or ~/.pgpass, never from the command line; the folder keeps only a pointer. Safe to run again after an interruption.\n\nExamples:\n  tokendesk vault migrate --to 'postgresql://tokendesk@db1,db2/tokendesk?target_session_attrs=read-write'\n  tokendesk vault migrate --to file   # back into this folder"
    )]
    Migrate {
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Use the shared vault in a PostgreSQL database from this machine.
    #[command(
        after_help = "Asks for the vault's passphrase once (or --passphrase-file), then keeps the key in this machine's keyring.\n\nExample:\n  tokendesk vault join 'postgresql://tokendesk@db1/tokendesk'"
    )]
    Join { url: String },
    /// Replace the shared vault's data key; every record is sealed again while gateways keep serving.
    #[command(
        after_help = "Needs the vault's passphrase (asked for, or --passphrase-file). Running desks and gateways take the new key by themselves; a machine that is off needs the passphrase once more (`vault join`). Safe to run again after an interruption.\n\nExample:\n  tokendesk vault rotate-key"
    )]
    RotateKey {
        /// How long running machines get to take the new key before the old one goes.
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        wait: u64,
    },
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

pub(super) fn parse_cloud(value: &str) -> Result<Cloud, String> {
    value.parse()
}

#[derive(Debug, Clone, Args)]
pub struct SignInArgs {
    #[command(flatten)]
    pub provider: ProviderArgs,

    /// Sign in for this data source and store the tokens in the vault.
    #[arg(long, conflicts_with_all = ["tenant", "issuer_url"])]
    pub data_source: Option<String>,

    /// With --data-source: sign in for this mapped application user instead.
    #[arg(long, requires = "data_source")]
    pub user: Option<String>,

    /// Store the tokens even when a different account than the configured one signed in.
    #[arg(long)]
    pub accept_other_account: bool,

    /// Sign in through the browser (authorization code + PKCE, loopback redirect);
    /// the default on a desktop session.
    #[arg(long, conflicts_with = "device_code")]
    pub browser: bool,

    /// Sign in with a code entered in any browser (device code flow); the default
    /// over SSH, without a display, or with --no-browser.
    #[arg(long)]
    pub device_code: bool,

    /// The browser sign-in's redirect URI as registered with the provider
    /// (http://127.0.0.1[:port]/path or http://localhost…); default: the data
    /// source's, else http://localhost for Microsoft and http://127.0.0.1 for others.
    #[arg(long)]
    pub redirect_uri: Option<String>,

    /// How long the browser sign-in waits for the browser's answer, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub time_limit: u64,

    /// Do not try to open the browser (the page is printed to open elsewhere).
    #[arg(long)]
    pub no_browser: bool,

    /// Do not copy the code to the clipboard.
    #[arg(long)]
    pub no_clipboard: bool,
}

impl SignInArgs {
    /// The flow asked for, else the browser on a desktop session and the device
    /// code elsewhere (or when no browser may be opened).
    pub fn method(&self) -> crate::desk::sign_in::Method {
        use crate::desk::sign_in::Method;
        if self.browser {
            Method::Browser
        } else if self.device_code || self.no_browser {
            Method::DeviceCode
        } else {
            Method::default_here()
        }
    }
}
