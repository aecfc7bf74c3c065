//! `tokendesk test` and `tokendesk clear`: the Test Connection and Clear Token
//! buttons of the Edit data source dialog.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use chrono::Utc;

use super::TargetArgs;
use super::context::Context;
use crate::desk::model::SystemClock;

pub async fn test(target: TargetArgs, context: &Context) -> Result<ExitCode, String> {
    let mut vault = context.open()?;
    let target = target.target();
    match crate::desk::tokens::test_connection(&mut vault, &target, &SystemClock).await {
        Ok(account) => {
            println!("Connection OK: the token works and the API answered for {account}.");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(format!("Test Connection failed for {target}: {e}")),
    }
}

pub fn clear(target: TargetArgs, yes: bool, context: &Context) -> Result<ExitCode, String> {
    let mut vault = context.open()?;
    let target = target.target();
    let account = vault
        .data()
        .expected_account(&target)
        .map_err(|e| e.to_string())?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(format!(
                "Clearing the token suspends {target} until {account} signs in again. Add --yes to confirm."
            ));
        }
        print!(
            "Clear the token of {target} ({account})? The connection stays suspended until the next sign-in. [y/N] "
        );
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| e.to_string())?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            println!("Nothing was changed.");
            return Ok(ExitCode::SUCCESS);
        }
    }
    crate::desk::tokens::clear(&mut vault, &target, Utc::now()).map_err(|e| e.to_string())?;
    println!(
        "Cleared the token of {target}. Request a new one: tokendesk sign-in --data-source \"{}\"{}",
        target.data_source,
        target
            .app_user
            .as_deref()
            .map(|u| format!(" --user \"{u}\""))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
