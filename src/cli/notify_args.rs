//! `tokendesk notify …`: the channels that tell admins about tokens.

use clap::Subcommand;

#[derive(Debug, Clone, Subcommand)]
pub enum NotifyCommand {
    /// Add a notifier: a webhook, or e-mail sent from a data source's mailbox.
    #[command(
        after_help = "A webhook's URL is its credential: give - to type or pipe it on standard input instead of the command line.\n\nExamples:\n  tokendesk notify add ops --webhook https://hooks.example.com/tokendesk\n  echo \"$TEAMS_WORKFLOW_URL\" | tokendesk notify add team --webhook - --format teams\n  tokendesk notify add admins --email it-admins@contoso.com --via Exchange"
    )]
    Add {
        name: String,
        /// POST every message to this URL (https; http only on this machine), or - for standard input.
        #[arg(long, conflicts_with_all = ["email", "via"], required_unless_present = "email")]
        webhook: Option<String>,
        /// The webhook's body: json (generic), teams (a Teams workflow's Adaptive Card) or slack.
        #[arg(long, default_value = "json", requires = "webhook", value_parser = ["json", "teams", "slack"])]
        format: String,
        /// Send every message by e-mail to this address…
        #[arg(long, requires = "via")]
        email: Option<String>,
        /// …from the mailbox of this Microsoft 365 data source's account (Graph sendMail; needs Mail.Send).
        #[arg(long, requires = "email")]
        via: Option<String>,
    },
    /// List the notifiers and whether their last delivery failed.
    #[command(after_help = "Example:\n  tokendesk notify list")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a notifier.
    #[command(after_help = "Example:\n  tokendesk notify remove ops")]
    Remove { name: String },
    /// Send a test message through a notifier now.
    #[command(after_help = "Example:\n  tokendesk notify test ops")]
    Test { name: String },
    /// Send what is due now (the gateway and `renew` do this by themselves).
    #[command(after_help = "Example:\n  tokendesk notify send")]
    Send,
}
