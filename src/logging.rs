//! Diagnostics go to stderr, filtered by `TOKENDESK_LOG` (e.g. `debug`); secrets
//! never reach them because every secret is a redacting `Secret`.

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOKENDESK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colour codes only for a person at a terminal, never into a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
