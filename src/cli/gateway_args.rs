//! The arguments of the gateway's commands: `service` and `consumer`.

use clap::Subcommand;

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ServiceCommand {
    /// Write, enable and start the service running `tokendesk serve`.
    #[command(after_help = "Example:\n  tokendesk service install --listen 127.0.0.1:8470")]
    Install {
        /// The address the gateway listens on (a loopback address).
        #[arg(long, default_value = "127.0.0.1:8470")]
        listen: std::net::SocketAddr,
    },
    /// Stop and delete the service.
    #[command(after_help = "Example:\n  tokendesk service remove")]
    Remove,
    /// Whether the service is installed and running.
    #[command(after_help = "Example:\n  tokendesk service status")]
    Status,
}

#[derive(Debug, Subcommand)]
pub enum ConsumerCommand {
    /// Add a consumer; its new key goes to standard output, once, and nothing else.
    #[command(
        after_help = "Examples:\n  tokendesk consumer add Portal --data-source Exchange\n  tokendesk consumer add Mailer --data-source Exchange --user USER/jdoe --user USER/asmith"
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
    },
    /// List the consumers (never their keys).
    #[command(after_help = "Example:\n  tokendesk consumer list")]
    List,
    /// Remove a consumer; its key stops working at once.
    #[command(after_help = "Example:\n  tokendesk consumer remove Portal")]
    Remove { name: String },
}
