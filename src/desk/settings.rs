//! The settings every face shares: reminders, the keep-alive, the consumer message,
//! the language.

use chrono::{DateTime, Utc};

use super::DeskError;
use super::consumers::{self, ConsumerChanges};
use super::notify::NotifierChanges;
use crate::vault::{Settings, Vault};

/// The Settings dialog's OK: the settings and the consumers added or removed in
/// it, in one write (Cancel stores neither).
pub fn save_with_consumers(
    vault: &mut Vault,
    settings: Settings,
    changes: ConsumerChanges,
    notifiers: NotifierChanges,
    now: DateTime<Utc>,
) -> Result<(), DeskError> {
    vault.update(|data| {
        consumers::apply_to(data, &changes)?;
        super::notify::apply_to(data, &notifiers)?;
        data.settings = settings;
        Ok(())
    })?;
    consumers::record(vault, &changes, now);
    super::notify::record(vault, &notifiers, now);
    Ok(())
}
