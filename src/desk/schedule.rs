//! The daily keep-alive as the platform's scheduler runs it, installed the same way
//! from every face: the job opens the vault the way this process did.

use std::path::Path;

use super::DeskError;
use crate::schedule::{Job, Platform};

pub use crate::schedule::service::{GatewayAddress, ServiceScope, TlsFiles};
#[cfg(windows)]
pub use crate::schedule::service_windows::WINDOWS_SERVICE_NAME;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleAction {
    Install,
    Remove,
    Show,
}

/// How the vault the job must open is unlocked.
pub struct VaultAccess<'a> {
    pub dir: &'a Path,
    /// The passphrase file this process was started with, if any.
    pub passphrase_file: Option<&'a Path>,
    /// Whether the vault is protected by a passphrase (not only the OS keyring).
    pub passphrase_protected: bool,
}

/// Installs, removes or shows the job; returns the platform's report.
pub fn run(action: ScheduleAction, access: &VaultAccess<'_>) -> Result<String, DeskError> {
    let platform = Platform::detect()?;
    Ok(match action {
        ScheduleAction::Install => crate::schedule::install(&platform, &job(access)?)?,
        ScheduleAction::Remove => crate::schedule::remove(&platform)?,
        ScheduleAction::Show => crate::schedule::show(&platform)?,
    })
}

/// The gateway as a service of the system (`tokendesk service install|remove|status`).
pub fn service(
    action: ScheduleAction,
    access: &VaultAccess<'_>,
    address: &GatewayAddress,
    scope: ServiceScope,
) -> Result<String, DeskError> {
    let platform = Platform::detect()?;
    Ok(match action {
        ScheduleAction::Install => {
            crate::schedule::service::install(&platform, &job(access)?, address, scope)?
        }
        ScheduleAction::Remove => crate::schedule::service::remove(&platform, scope)?,
        ScheduleAction::Show => crate::schedule::service::status(&platform, scope)?,
    })
}

/// The job for this vault. A passphrase vault needs the passphrase file: a job
/// without it would fail every night, unseen.
pub fn job(access: &VaultAccess<'_>) -> Result<Job, DeskError> {
    if access.passphrase_protected && access.passphrase_file.is_none() {
        return Err(DeskError::ScheduleNeedsPassphraseFile);
    }
    let exe = std::env::current_exe().map_err(|e| DeskError::OwnProgram(e.to_string()))?;
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or(path.to_path_buf());
    Ok(Job {
        exe,
        vault_dir: Some(absolute(access.dir)),
        passphrase_file: access.passphrase_file.map(absolute),
    })
}

/// Data sources whose tokens die too soon for a once-a-day job, with the hours.
pub fn too_short_for_a_daily_job(data: &crate::vault::VaultData) -> Vec<(String, i64)> {
    crate::keepalive::due::too_short_for_a_daily_job(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_vault_gets_its_passphrase_file_from_every_face() {
        let dir = Path::new("/tmp/vault");
        let refused = job(&VaultAccess {
            dir,
            passphrase_file: None,
            passphrase_protected: true,
        });
        assert!(matches!(
            refused,
            Err(DeskError::ScheduleNeedsPassphraseFile)
        ));
        let job = job(&VaultAccess {
            dir,
            passphrase_file: Some(Path::new("/etc/tokendesk/passphrase")),
            passphrase_protected: true,
        })
        .unwrap();
        assert_eq!(
            job.passphrase_file.as_deref(),
            Some(Path::new("/etc/tokendesk/passphrase"))
        );
        assert_eq!(job.vault_dir.as_deref(), Some(dir));
    }
}
