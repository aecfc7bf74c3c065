//! The settings every face shares: reminders, the keep-alive, the consumer message,
//! the language.

use super::DeskError;
use crate::vault::{Settings, Vault};

pub fn save(vault: &mut Vault, settings: Settings) -> Result<(), DeskError> {
    Ok(vault.update(|data| {
        data.settings = settings;
        Ok(())
    })?)
}
