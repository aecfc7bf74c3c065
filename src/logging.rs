//! Diagnostics go to stderr, filtered by `TOKENDESK_LOG` (`debug`, or per target as
//! `tokendesk=debug,hyper=info`); secrets never reach them because every secret is a
//! redacting `Secret`.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

pub fn init() {
    let filter = match std::env::var("TOKENDESK_LOG") {
        Ok(value) if !value.trim().is_empty() => parse(&value).unwrap_or_else(|| {
            eprintln!(
                "TOKENDESK_LOG={value:?} is not a level (error, warn, info, debug, trace) \
                 or a list of target=level; warnings only"
            );
            warnings_only()
        }),
        _ => warnings_only(),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colour codes only for a person at a terminal, never into a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

/// A panic is a bug, and the release build aborts on it: after the usual message
/// (where, and why), say what it means for the admin.
pub fn explain_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        eprintln!(
            "tokendesk stopped on an internal error (a bug; please report the lines above). \
             The vault is intact: each write is stored whole or not at all, and a rotated \
             token is stored before it is used. A service is started again by its service \
             manager; run the command again otherwise."
        );
    }));
}

fn warnings_only() -> Targets {
    Targets::new().with_default(LevelFilter::WARN)
}

fn parse(value: &str) -> Option<Targets> {
    value.trim().parse::<Targets>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_or_targets_parse_and_nonsense_does_not() {
        let debug = parse("debug").expect("a level");
        assert!(debug.would_enable("tokendesk::gateway", &tracing::Level::DEBUG));
        assert!(!debug.would_enable("tokendesk::gateway", &tracing::Level::TRACE));
        let per_target = parse("tokendesk=info,hyper=error").expect("targets");
        assert!(per_target.would_enable("tokendesk::vault", &tracing::Level::INFO));
        assert!(!per_target.would_enable("hyper::proto", &tracing::Level::WARN));
        assert!(parse("tokendesk=loud").is_none());
    }
}
