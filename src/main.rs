use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tokendesk::logging::init();
    tokendesk::cli::run(tokendesk::cli::Cli::parse())
}
