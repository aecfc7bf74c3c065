//! The arguments of the gateway's commands: `service` and `consumer`.

use clap::{Args, Subcommand};

use crate::desk::schedule::{GatewayAddress, TlsFiles};

/// Where the gateway listens: plain HTTP on a loopback address, or TLS anywhere.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// The address to listen on: a loopback address, or any with --tls-cert and --tls-key (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8470")]
    pub listen: std::net::SocketAddr,
    /// The server certificate (PEM, intermediates after it): serve HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl ListenArgs {
    pub fn address(&self) -> Result<GatewayAddress, String> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        };
        let address = GatewayAddress {
            listen: self.listen,
            tls,
            relay: Vec::new(),
        };
        address.check()?;
        Ok(address)
    }
}

/// What one client may hold of the gateway (README: "Limits").
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Seconds a new connection has to send its first request's headers.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout: u64,
    /// Connections open at once (lowered to what the open-file limit allows).
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Connections open at once from one address.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections_per_address: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> crate::gateway::Limits {
        crate::gateway::Limits {
            header_timeout: std::time::Duration::from_secs(self.header_timeout),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            max_per_address: usize::try_from(self.max_connections_per_address)
                .unwrap_or(usize::MAX),
            ..crate::gateway::Limits::default()
        }
    }
}

/// The mail relay for devices that only know a user name and a password
/// (README: "Devices that only know passwords").
#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// Relay SMTP submission here (STARTTLS with --tls-cert; plain text on loopback only; repeatable).
    #[arg(long, value_name = "ADDR")]
    pub smtp: Vec<std::net::SocketAddr>,
    /// Relay SMTP submission inside TLS from the first byte, 465-style (needs --tls-cert; repeatable).
    #[arg(long, value_name = "ADDR", requires = "tls_cert")]
    pub smtps: Vec<std::net::SocketAddr>,
    /// Relay IMAP here (STARTTLS with --tls-cert; plain text on loopback only; repeatable).
    #[arg(long, value_name = "ADDR")]
    pub imap: Vec<std::net::SocketAddr>,
    /// Relay IMAP inside TLS from the first byte, 993-style (needs --tls-cert; repeatable).
    #[arg(long, value_name = "ADDR", requires = "tls_cert")]
    pub imaps: Vec<std::net::SocketAddr>,
    /// The most a device may send in one relay session, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_RELAY_MIB, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub relay_max_mib: u64,
}

impl RelayArgs {
    pub fn options(&self) -> crate::gateway::relay::RelayOptions {
        crate::gateway::relay::RelayOptions {
            smtp: self.smtp.clone(),
            smtps: self.smtps.clone(),
            imap: self.imap.clone(),
            imaps: self.imaps.clone(),
            max_bytes: self.relay_max_mib * 1024 * 1024,
        }
    }

    /// The same listeners as `serve` arguments, for the service's command line.
    pub fn serve_arguments(&self) -> Vec<String> {
        let mut arguments = Vec::new();
        for (flag, addresses) in [
            ("--smtp", &self.smtp),
            ("--smtps", &self.smtps),
            ("--imap", &self.imap),
            ("--imaps", &self.imaps),
        ] {
            for address in addresses {
                arguments.push(flag.to_string());
                arguments.push(address.to_string());
            }
        }
        if !arguments.is_empty() && self.relay_max_mib != DEFAULT_RELAY_MIB {
            arguments.push("--relay-max-mib".into());
            arguments.push(self.relay_max_mib.to_string());
        }
        arguments
    }
}

/// What a relay session may send by default, in MiB (Exchange Online's own
/// default message size limit is 35 MB).
const DEFAULT_RELAY_MIB: u64 = 35;

#[derive(Debug, Clone, Subcommand)]
pub enum ServiceCommand {
    /// Write, enable and start the service running `tokendesk serve`.
    #[command(
        after_help = "Examples:\n  tokendesk service install --listen 127.0.0.1:8470\n  tokendesk service install --listen 0.0.0.0:8443 --tls-cert /etc/tokendesk/gw.pem --tls-key /etc/tokendesk/gw.key\n  tokendesk service install --listen 0.0.0.0:8443 --tls-cert /etc/tokendesk/gw.pem --tls-key /etc/tokendesk/gw.key --smtp 0.0.0.0:587 --imaps 0.0.0.0:993\n  sudo tokendesk --passphrase-file /etc/tokendesk/pass service install --system"
    )]
    Install {
        #[command(flatten)]
        listen: ListenArgs,
        #[command(flatten)]
        relay: RelayArgs,
        /// A system service (starts at boot, runs as you; needs root and --passphrase-file) instead of a user service.
        #[arg(long)]
        system: bool,
    },
    /// Stop and delete the service.
    #[command(
        after_help = "Examples:\n  tokendesk service remove\n  sudo tokendesk service remove --system"
    )]
    Remove {
        /// The system service, not the user service.
        #[arg(long)]
        system: bool,
    },
    /// Whether the service is installed and running.
    #[command(
        after_help = "Examples:\n  tokendesk service status\n  tokendesk service status --system"
    )]
    Status {
        /// The system service, not the user service.
        #[arg(long)]
        system: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConsumerCommand {
    /// Add a consumer; its new key goes to standard output, once, and nothing else.
    #[command(
        after_help = "Examples:\n  tokendesk consumer add Portal --data-source Exchange\n  tokendesk consumer add Mailer --data-source Exchange --user USER/jdoe --user USER/asmith\n  tokendesk consumer add printer-2 --data-source Exchange --user USER/scanner --relay\n\nWith --relay the key is a device's password for the mail relay (`serve --smtp/--imap`): the device logs in with the mailbox of that user (or of the data-source user) as its user name, and the key fetches no tokens."
    )]
    Add {
        name: String,
        /// The data source whose tokens it may fetch.
        #[arg(long)]
        data_source: String,
        /// An application user whose token it may fetch as well (repeatable).
        #[arg(long = "user")]
        users: Vec<String>,
        /// Every application user of the data source.
        #[arg(long, conflicts_with = "users")]
        all_users: bool,
        /// A mail relay device's password, bound to the mailbox of the one --user (or of the data-source user).
        #[arg(long, conflicts_with = "all_users")]
        relay: bool,
    },
    /// List the consumers (never their keys).
    #[command(after_help = "Example:\n  tokendesk consumer list")]
    List,
    /// Remove a consumer; its key stops working at once.
    #[command(after_help = "Example:\n  tokendesk consumer remove Portal")]
    Remove { name: String },
}
