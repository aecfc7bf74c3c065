//! `tokendesk vault init|restore-backup|export|import`.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::VaultCommand;
use super::context::{Context, prompt};
use crate::desk::model::{Secret, VaultError};
use crate::desk::{DeskError, vault_file};

pub fn run(command: VaultCommand, context: &Context) -> Result<ExitCode, String> {
    match command {
        VaultCommand::Migrate { to } if to == "file" => {
            let keys = context.key_source()?;
            let moved = crate::desk::shared_vault::migrate_to_file(
                &context.vault_dir,
                &keys,
                chrono::Utc::now(),
            )
            .map_err(|e| e.to_string())?;
            println!(
                "The vault is back in {}: {} data source(s), {} token(s). The database keeps its copy for the other machines; stop their keep-alive on these tokens, or this copy and theirs rotate each other's tokens away.",
                moved.location, moved.data_sources, moved.tokens
            );
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::Migrate { to } => {
            let keys = context.key_source()?;
            let moved = crate::desk::shared_vault::migrate_to_database(
                &context.vault_dir,
                &to,
                &keys,
                chrono::Utc::now(),
            )
            .map_err(|e| e.to_string())?;
            println!(
                "The vault is now shared in {}: {} data source(s), {} token(s){}.",
                moved.location,
                moved.data_sources,
                moved.tokens,
                if moved.resumed {
                    " (an earlier run was finished)"
                } else {
                    ""
                }
            );
            println!(
                "  {} keeps only the pointer; the old file is {} and is never written again.",
                context.vault_dir.display(),
                crate::desk::shared_vault::MIGRATED_FILE
            );
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::Join { url } => {
            let keys = context.key_source()?;
            let (vault, remembered) = crate::desk::shared_vault::join(
                &context.vault_dir,
                &url,
                &keys,
                chrono::Utc::now(),
            )
            .map_err(|e| e.to_string())?;
            println!(
                "{} now uses the shared vault in {} ({} data source(s)).",
                context.vault_dir.display(),
                vault.shared_location().unwrap_or_default(),
                vault.data().data_sources.len()
            );
            if !remembered {
                println!(
                    "  No keyring here: every start needs the passphrase (--passphrase-file)."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::RotateKey { wait } => {
            let rotated = context.with_prompt(|keys| {
                crate::desk::shared_vault::rotate_key(
                    &context.vault_dir,
                    keys,
                    std::time::Duration::from_secs(wait),
                    &mut |step| println!("  {step}"),
                    chrono::Utc::now(),
                )
            })?;
            println!(
                "The shared vault's data key is now version {}: {} record(s) sealed again{}.",
                rotated.version,
                rotated.resealed,
                if rotated.resumed {
                    " (an interrupted run was finished)"
                } else {
                    ""
                }
            );
            if rotated.unreadable > 0 {
                println!(
                    "  {} record(s) did not open before either (changed outside tokendesk) and were left as they were; `tokendesk status` names them.",
                    rotated.unreadable
                );
            }
            for machine in &rotated.dropped {
                println!(
                    "  Not running, so it kept only the old key: {machine}. There, run any command once with the vault's passphrase (--passphrase-file or TOKENDESK_PASSPHRASE)."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::Init { force } => {
            let keys = context.key_source()?;
            let vault =
                vault_file::create(&context.vault_dir, &keys, force).map_err(|e| e.to_string())?;
            let protection = if vault.is_passphrase_protected() {
                "a passphrase (Argon2id)"
            } else {
                "a key in the OS keyring"
            };
            println!(
                "Created an empty vault in {}, protected by {protection}.",
                context.vault_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::RestoreBackup { yes } => {
            let keys = context.key_source()?;
            let (vault, report) =
                vault_file::restore_backup(&context.vault_dir, &keys, yes, chrono::Utc::now())
                    .map_err(|e| e.to_string())?;
            println!(
                "Restored the backup generation of the vault in {} (now generation {}).",
                context.vault_dir.display(),
                vault.generation(),
            );
            if report.kept_newer > 0 {
                println!(
                    "  {} token(s) kept their newer state from the current file.",
                    report.kept_newer
                );
            }
            if report.possibly_stale > 0 {
                println!(
                    "  {} token(s) came from the backup and may have been used since; if one fails, sign in again for it. `tokendesk status` marks them.",
                    report.possibly_stale
                );
            }
            if let Some(copy) = &report.damaged_copy {
                println!("  The replaced file was kept as {}.", copy.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::Export { file } => {
            let vault = context.open()?;
            let passphrase = bundle_passphrase(true)?;
            let bundle =
                vault_file::export(&vault, &passphrase, &file).map_err(|e| e.to_string())?;
            write_private(&file, &bundle)?;
            println!(
                "Exported {} data source(s) to {}, encrypted with the bundle passphrase.",
                vault.data().data_sources.len(),
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::Import { file } => {
            let bytes = read_bundle_file(&file)?;
            let passphrase = bundle_passphrase(false)?;
            let imported = vault_file::read_bundle(&bytes, &passphrase).map_err(|e| match e {
                DeskError::Vault(
                    e @ (VaultError::Truncated | VaultError::Corrupt(_) | VaultError::NotAVault),
                ) => format!(
                    "{} is not a complete tokendesk export bundle ({e}); nothing was imported and the vault is unchanged.",
                    file.display()
                ),
                other => other.to_string(),
            })?;
            let mut vault = context.open_or_create()?;
            let done =
                vault_file::import(&mut vault, imported, &file).map_err(|e| e.to_string())?;
            println!(
                "Imported {} data source(s) into {}; the previous contents are the backup.",
                done.data_sources,
                context.vault_dir.display()
            );
            if done.kept_newer > 0 {
                println!(
                    "{} token(s) in this vault were newer than the bundle's and were kept (the bundle's would have been rotated away already).",
                    done.kept_newer
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The passphrase of an export bundle: TOKENDESK_BUNDLE_PASSPHRASE, or asked twice.
fn bundle_passphrase(confirm: bool) -> Result<Secret, String> {
    if let Some(value) = vault_file::bundle_passphrase_from_environment() {
        return Ok(value);
    }
    if !std::io::stdin().is_terminal() {
        return Err("Set TOKENDESK_BUNDLE_PASSPHRASE, or run in a terminal to be asked for the bundle passphrase.".into());
    }
    let first = prompt("Bundle passphrase: ")?;
    if confirm {
        let second = prompt("Repeat the bundle passphrase: ")?;
        if first != second {
            return Err("The two passphrases differ; nothing was exported.".into());
        }
    }
    Ok(first)
}

/// A bundle must be a regular, non-empty file of sane size: `/dev/null`, a pipe or a
/// device is refused with a sentence, not read.
fn read_bundle_file(file: &std::path::Path) -> Result<Vec<u8>, String> {
    let metadata =
        std::fs::metadata(file).map_err(|e| format!("Could not read {}: {e}", file.display()))?;
    if !metadata.is_file() {
        return Err(format!(
            "{} is not a regular file; give the path of an export bundle made by `tokendesk vault export`.",
            file.display()
        ));
    }
    if metadata.len() == 0 {
        return Err(format!(
            "{} is empty, not an export bundle; nothing was imported.",
            file.display()
        ));
    }
    if metadata.len() > vault_file::MAX_BUNDLE_BYTES {
        return Err(format!(
            "{} is larger than any export bundle; nothing was imported.",
            file.display()
        ));
    }
    std::fs::read(file).map_err(|e| format!("Could not read {}: {e}", file.display()))
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options
        .open(path)
        .and_then(|mut f| {
            // An existing file keeps its mode on open: make it private before
            // the bundle goes in.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            f.write_all(bytes).and_then(|_| f.sync_all())
        })
        .map_err(|e| format!("Could not write {}: {e}", path.display()))
}
