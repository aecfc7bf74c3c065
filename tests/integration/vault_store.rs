//! The vault on disk: round trips, clear errors for damaged files, backups,
//! passphrase mode, export/import.

use crate::support;

use std::sync::Arc;

use chrono::Utc;
use tokendesk::Secret;
use tokendesk::identity::{Authority, Cloud, ProviderConfig, Scopes};
use tokendesk::vault::crypto::KdfParams;
use tokendesk::vault::ops::TokenTarget;
use tokendesk::vault::store::{BACKUP_FILE, VAULT_FILE};
use tokendesk::vault::{AppUser, DataSource, KeySource, Keyring, UserMapping, Vault, VaultError};

fn mock_keys() -> KeySource {
    let store: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
    KeySource::with_keyring(Keyring::with_store(store))
}

fn cheap_passphrase(passphrase: &str) -> KeySource {
    mock_keys()
        .with_passphrase(Secret::new(passphrase))
        .with_kdf(KdfParams::with_cost(1024, 1, 1))
}

fn source(name: &str) -> DataSource {
    let provider = ProviderConfig {
        authority: Authority::microsoft(Cloud::Global, "contoso.onmicrosoft.com"),
        client_id: "11111111-2222-3333-4444-555555555555".into(),
        client_secret: Some(Secret::new("client-secret-value")),
        scopes: Scopes::Graph,
    };
    let mut source = DataSource::new(name, provider, "sales@contoso.com");
    source.token.refresh_token = Some(Secret::new("rt-secret-value-0001"));
    source.token.obtained_at = Some(Utc::now());
    source
}

fn populated(dir: &std::path::Path, keys: &KeySource) -> Vault {
    let mut vault = Vault::create(dir, keys, false).unwrap();
    vault
        .update(|data| {
            data.add_data_source(source("Exchange"))?;
            data.add_mapping(
                "Exchange",
                UserMapping::new(
                    AppUser {
                        login: "USER/jdoe".into(),
                        display_name: "Jane Doe".into(),
                        email: "jane@contoso.com".into(),
                    },
                    "jane@contoso.com",
                ),
            )
        })
        .unwrap();
    vault
}

#[test]
fn round_trip_through_the_file_and_no_plain_text_on_disk() {
    let dir = support::temp_dir();
    let keys = mock_keys();
    let vault = populated(dir.path(), &keys);
    let reopened = Vault::open(dir.path(), &keys).unwrap();
    assert_eq!(reopened.data(), vault.data());
    assert_eq!(reopened.generation(), 2);

    let bytes = std::fs::read(dir.path().join(VAULT_FILE)).unwrap();
    for needle in [
        "rt-secret-value-0001",
        "client-secret-value",
        "sales@contoso.com",
        "Exchange",
    ] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} is readable on disk"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(VAULT_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn every_kind_of_damage_gets_its_own_error_and_the_file_is_untouched() {
    let dir = support::temp_dir();
    let keys = cheap_passphrase("right passphrase");
    populated(dir.path(), &keys);
    let path = dir.path().join(VAULT_FILE);
    let good = std::fs::read(&path).unwrap();

    let check = |bytes: &[u8], keys: &KeySource, expect: fn(&VaultError) -> bool| {
        std::fs::write(&path, bytes).unwrap();
        let error = Vault::open(dir.path(), keys).unwrap_err();
        assert!(expect(&error), "unexpected: {error}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "the file was changed");
        error.to_string()
    };

    let mut flipped = good.clone();
    let at = good.len() - 40;
    flipped[at] ^= 0x01;
    let message = check(&flipped, &keys, |e| matches!(e, VaultError::Corrupt(_)));
    assert!(message.contains("restore-backup"));

    let message = check(&good[..good.len() / 2], &keys, |e| {
        matches!(e, VaultError::Truncated)
    });
    assert!(message.contains("truncated"));

    let message = check(&good, &cheap_passphrase("wrong passphrase"), |e| {
        matches!(e, VaultError::WrongPassphrase)
    });
    assert!(message.contains("Wrong passphrase"));

    let message = check(&good, &mock_keys(), |e| {
        matches!(e, VaultError::PassphraseRequired)
    });
    assert!(message.contains("TOKENDESK_PASSPHRASE"));

    let mut future = good.clone();
    future[8..10].copy_from_slice(&7u16.to_le_bytes());
    let message = check(&future, &keys, |e| {
        matches!(e, VaultError::FutureVersion { found: 7, .. })
    });
    assert!(message.contains("newer tokendesk"));

    let message = check(b"[passwords]\nfoo=bar\n", &keys, |e| {
        matches!(e, VaultError::NotAVaultFile(_))
    });
    assert!(message.contains("not a tokendesk vault"));

    std::fs::write(&path, &good).unwrap();
    Vault::open(dir.path(), &keys).expect("the good file still opens");
}

#[test]
fn wrong_keyring_key_and_missing_key_are_told_apart() {
    let dir = support::temp_dir();
    let keys = mock_keys();
    populated(dir.path(), &keys);
    let other = support::temp_dir();
    populated(other.path(), &keys);
    // The other vault's file under this vault's... key id lookup: a fresh keyring has neither key.
    let error = Vault::open(dir.path(), &mock_keys()).unwrap_err();
    assert!(matches!(error, VaultError::KeyMissing { .. }), "{error}");
    assert!(error.to_string().contains("not in this machine's keyring"));

    // Same key id, different key bytes: the key check tells it is another vault's key.
    let mut swapped = std::fs::read(other.path().join(VAULT_FILE)).unwrap();
    let original = std::fs::read(dir.path().join(VAULT_FILE)).unwrap();
    swapped[11..27].copy_from_slice(&original[11..27]);
    std::fs::write(other.path().join(VAULT_FILE), &swapped).unwrap();
    let error = Vault::open(other.path(), &keys).unwrap_err();
    assert!(matches!(error, VaultError::WrongKey), "{error}");
}

#[test]
fn the_previous_generation_is_kept_and_restorable() {
    let dir = support::temp_dir();
    let keys = mock_keys();
    let mut vault = populated(dir.path(), &keys);
    vault
        .update(|data| data.add_data_source(source("Second")))
        .unwrap();
    assert!(dir.path().join(BACKUP_FILE).exists());

    std::fs::write(dir.path().join(VAULT_FILE), b"TOKENDSK\x01\x00garbage").unwrap();
    assert!(Vault::open(dir.path(), &keys).is_err());
    let (restored, report) =
        Vault::restore_backup(dir.path(), &keys, false, chrono::Utc::now()).unwrap();
    assert_eq!(
        restored.generation(),
        3,
        "the backup (generation 2) written again as a new generation"
    );
    assert_eq!(restored.data().data_sources.len(), 1);
    assert!(!report.current_was_readable);
    let copy = report.damaged_copy.expect("the replaced file is kept");
    assert!(copy.exists() && copy.to_string_lossy().contains(".damaged-"));
    Vault::open(dir.path(), &keys).expect("opens after restore");

    let empty = support::temp_dir();
    assert!(matches!(
        Vault::restore_backup(empty.path(), &keys, true, chrono::Utc::now()),
        Err(VaultError::NoBackup(_))
    ));
}

#[test]
fn clear_token_removes_it_from_the_file() {
    let dir = support::temp_dir();
    let keys = cheap_passphrase("pw");
    let mut vault = populated(dir.path(), &keys);
    let target = TokenTarget::data_source("Exchange");
    vault
        .update(|data| data.clear_token(&target, "admin-jo", Utc::now()))
        .unwrap();
    // A fresh open reads the file, and neither the file nor its decrypted body holds the token.
    let reopened = Vault::open(dir.path(), &keys).unwrap();
    let record = reopened.data().token(&target).unwrap();
    assert!(record.refresh_token.is_none());
    assert_eq!(record.cleared.as_ref().unwrap().by, "admin-jo");
    let body = serde_json::to_string(reopened.data()).unwrap();
    assert!(!body.contains("rt-secret-value-0001"));
}

#[test]
fn passphrase_vault_created_when_a_passphrase_is_given() {
    let dir = support::temp_dir();
    let vault = Vault::open_or_create(dir.path(), &cheap_passphrase("pw")).unwrap();
    assert!(vault.is_passphrase_protected());
    let again = Vault::open_or_create(dir.path(), &cheap_passphrase("pw")).unwrap();
    assert_eq!(again.generation(), 1);
    assert!(matches!(
        Vault::create(dir.path(), &cheap_passphrase("pw"), false),
        Err(VaultError::AlreadyExists(_))
    ));
    assert!(matches!(
        Vault::open(support::temp_dir().path(), &mock_keys()),
        Err(VaultError::NotInitialized(_))
    ));
}

#[test]
fn export_and_import_move_a_vault_between_machines() {
    let from = support::temp_dir();
    let vault = populated(from.path(), &mock_keys());
    let bundle = vault
        .export_bundle(
            &Secret::new("transport pw"),
            KdfParams::with_cost(1024, 1, 1),
        )
        .unwrap();
    assert!(!String::from_utf8_lossy(&bundle).contains("rt-secret-value-0001"));

    assert!(matches!(
        Vault::read_bundle(&bundle, &Secret::new("nope")),
        Err(VaultError::WrongPassphrase)
    ));
    let imported = Vault::read_bundle(&bundle, &Secret::new("transport pw")).unwrap();

    let to = support::temp_dir();
    let keys = mock_keys();
    let mut target = Vault::create(to.path(), &keys, false).unwrap();
    target.import(imported).unwrap();
    let reopened = Vault::open(to.path(), &keys).unwrap();
    assert_eq!(reopened.data().data_sources, vault.data().data_sources);
    assert_eq!(reopened.generation(), 2);
}

#[test]
fn reload_notices_another_writer() {
    let dir = support::temp_dir();
    let keys = mock_keys();
    let mut gui = populated(dir.path(), &keys);
    let mut cli = Vault::open(dir.path(), &keys).unwrap();
    cli.update(|data| data.add_data_source(source("From CLI")))
        .unwrap();
    // The GUI's next change is applied on top of the CLI's, not over it.
    gui.update(|data| data.add_data_source(source("From GUI")))
        .unwrap();
    let names: Vec<String> = gui
        .data()
        .data_sources
        .iter()
        .map(|d| d.name.clone())
        .collect();
    assert_eq!(names, ["Exchange", "From CLI", "From GUI"]);
    assert!(cli.reload().unwrap());
    assert!(!cli.reload().unwrap());
}
