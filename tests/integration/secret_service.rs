//! The vault key through the real Secret Service (gnome-keyring under
//! dbus-run-session, as scripts/test sets up). Where none runs, keyring_core's
//! in-memory store stands in and the test says it was skipped — unless
//! TOKENDESK_REQUIRE_SECRET_SERVICE=1, which CI sets, turns that into a failure.

use crate::support;

use std::sync::Arc;

use tokendesk::vault::{KeySource, Keyring, Vault};

fn secret_service() -> Result<Keyring, String> {
    let keyring = Keyring::native().map_err(|e| e.to_string())?;
    // The store can be constructed without a daemon; a real write proves one answers.
    let (id, _) = keyring.create_key().map_err(|e| e.to_string())?;
    keyring.delete_key(id).map_err(|e| e.to_string())?;
    Ok(keyring)
}

#[test]
fn vault_key_lives_in_the_secret_service() {
    let (keyring, real) = match secret_service() {
        Ok(keyring) => (keyring, true),
        Err(why) => {
            if std::env::var("TOKENDESK_REQUIRE_SECRET_SERVICE").as_deref() == Ok("1") {
                panic!("TOKENDESK_REQUIRE_SECRET_SERVICE=1 but no Secret Service answered: {why}");
            }
            eprintln!(
                "SKIPPED: no Secret Service ({why}); running against keyring_core::mock instead"
            );
            let store: Arc<keyring_core::CredentialStore> =
                keyring_core::mock::Store::new().unwrap();
            (Keyring::with_store(store), false)
        }
    };
    if real {
        assert!(
            keyring.vendor().to_lowercase().contains("secret"),
            "{}",
            keyring.vendor()
        );
    }
    let dir = support::temp_dir();
    let keys = KeySource::with_keyring(keyring.clone());
    let created = Vault::create(dir.path(), &keys, false).unwrap();
    assert!(!created.is_passphrase_protected());

    // A second handle on the same store (as a second process would have) opens it.
    let reopened = Vault::open(dir.path(), &KeySource::with_keyring(keyring.clone())).unwrap();
    assert_eq!(reopened.generation(), 1);

    // Replacing the vault deletes the old key from the keyring.
    let replaced = Vault::create(dir.path(), &keys, true).unwrap();
    assert_eq!(replaced.generation(), 1);
    let stale = support::temp_dir();
    std::fs::copy(dir.path().join("vault.tdv"), stale.path().join("vault.tdv")).unwrap();
    Vault::open(stale.path(), &keys).expect("the new key is there");
    if real {
        println!("vault key stored in and read from {}", keyring.vendor());
    }
}
