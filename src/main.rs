use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tokendesk::logging::init();
    let cli = tokendesk::cli::Cli::parse();
    match tokendesk::cli::run(cli) {
        Some(code) => code,
        None => {
            // The desktop app arrives with its own issue; until then say what exists.
            use clap::CommandFactory;
            let _ = tokendesk::cli::Cli::command().print_help();
            ExitCode::SUCCESS
        }
    }
}
