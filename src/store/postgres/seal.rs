//! Nothing secret in plaintext in the database: every row is sealed with the
//! vault's data key (XChaCha20-Poly1305), and the seal is bound to the vault, the
//! row's kind and id and its revision, so a row copied into another place, another
//! vault or over a newer revision fails to open. The data key itself is stored
//! only wrapped: under the passphrase (Argon2id) and under each machine's keyring
//! key.

use chacha20::cipher::consts::U10;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

use crate::vault::VaultError;
use crate::vault::crypto::VaultKey;

const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;

/// What a row's seal is bound to.
fn row_binding(vault: Uuid, kind: &str, id: &str, revision: i64) -> Vec<u8> {
    let mut aad = b"tokendesk-row\0".to_vec();
    aad.extend_from_slice(vault.as_bytes());
    aad.extend_from_slice(kind.as_bytes());
    aad.push(0);
    aad.extend_from_slice(id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&revision.to_be_bytes());
    aad
}

/// XChaCha20-Poly1305 as its draft defines it: HChaCha20 turns the key and the
/// nonce's first 16 bytes into a subkey for ChaCha20-Poly1305 (RFC 8439) with
/// four zero bytes and the nonce's last 8. The construction is the one the
/// `chacha20poly1305` crate seals with (a test holds them together), but the
/// per-row work is ring's assembly: opening 20,000 rows was a fifth of a
/// `status` on 10,000 mappings with the Rust implementation in a size-optimised
/// build.
fn row_cipher(key: &VaultKey, nonce: &[u8; NONCE_BYTES]) -> Option<(LessSafeKey, Nonce)> {
    let (head, tail) = nonce.split_at(16);
    let mut derived = chacha20::hchacha::<U10>(key.as_ref().into(), head.into());
    let cipher = UnboundKey::new(&CHACHA20_POLY1305, derived.as_slice()).ok();
    derived.as_mut_slice().zeroize();
    let cipher = LessSafeKey::new(cipher?);
    let mut inner = [0u8; 12];
    inner[4..].copy_from_slice(tail);
    Some((cipher, Nonce::assume_unique_for_key(inner)))
}

fn seal(key: &VaultKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, VaultError> {
    let nonce: [u8; NONCE_BYTES] = rand::random();
    let failed = || VaultError::Invalid("A record could not be sealed.".into());
    let (cipher, inner) = row_cipher(key, &nonce).ok_or_else(failed)?;
    let mut out = Vec::with_capacity(NONCE_BYTES + plain.len() + TAG_BYTES);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plain);
    let tag = cipher
        .seal_in_place_separate_tag(inner, Aad::from(aad), &mut out[NONCE_BYTES..])
        .map_err(|_| failed())?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

fn open(key: &VaultKey, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_BYTES + TAG_BYTES {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_BYTES);
    let (cipher, inner) = row_cipher(key, nonce.try_into().ok()?)?;
    let mut plain = Zeroizing::new(body.to_vec());
    let length = cipher
        .open_in_place(inner, Aad::from(aad), &mut plain)
        .ok()?
        .len();
    plain.truncate(length);
    Some(plain)
}

/// Seals one row's JSON for its place and revision.
pub fn seal_row(
    key: &VaultKey,
    vault: Uuid,
    kind: &str,
    id: &str,
    revision: i64,
    plain: &[u8],
) -> Result<Vec<u8>, VaultError> {
    seal(key, &row_binding(vault, kind, id, revision), plain)
}

/// Opens a row sealed for exactly this place and revision; `None` for a row that
/// was tampered with, copied or swapped.
pub fn open_row(
    key: &VaultKey,
    vault: Uuid,
    kind: &str,
    id: &str,
    revision: i64,
    sealed: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    open(key, &row_binding(vault, kind, id, revision), sealed)
}

/// What a key's wrapping is bound to: the vault, the holder and the key's version
/// (the first version's wrappings, made before there were versions, name none).
fn key_binding(vault: Uuid, holder: &str, version: i32) -> Vec<u8> {
    let mut aad = b"tokendesk-key\0".to_vec();
    aad.extend_from_slice(vault.as_bytes());
    aad.extend_from_slice(holder.as_bytes());
    if version != 1 {
        aad.push(0);
        aad.extend_from_slice(&version.to_be_bytes());
    }
    aad
}

/// Version `version` of the data key wrapped under `wrapping` for `holder` (the
/// passphrase, a machine, the previous or the next key).
pub fn wrap_key(
    wrapping: &VaultKey,
    vault: Uuid,
    holder: &str,
    version: i32,
    data_key: &VaultKey,
) -> Result<Vec<u8>, VaultError> {
    seal(
        wrapping,
        &key_binding(vault, holder, version),
        data_key.as_ref(),
    )
}

/// The data key back, or `None` when `wrapping` is not the key it was wrapped with.
pub fn unwrap_key(
    wrapping: &VaultKey,
    vault: Uuid,
    holder: &str,
    version: i32,
    wrapped: &[u8],
) -> Option<VaultKey> {
    let plain = open(wrapping, &key_binding(vault, holder, version), wrapped)?;
    let bytes: [u8; 32] = plain.as_slice().try_into().ok()?;
    Some(Zeroizing::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_opens_only_in_its_own_place_and_revision() {
        let key = Zeroizing::new([9u8; 32]);
        let vault = Uuid::from_u128(1);
        let sealed = seal_row(&key, vault, "token", "a", 3, b"{\"rt\":1}").expect("seal");
        assert!(!sealed.windows(6).any(|w| w == b"\"rt\":1"));
        assert_eq!(
            open_row(&key, vault, "token", "a", 3, &sealed)
                .as_deref()
                .map(Vec::as_slice),
            Some(&b"{\"rt\":1}"[..])
        );
        assert!(
            open_row(&key, vault, "token", "b", 3, &sealed).is_none(),
            "another row"
        );
        assert!(
            open_row(&key, vault, "token", "a", 4, &sealed).is_none(),
            "another revision"
        );
        assert!(open_row(&key, Uuid::from_u128(2), "token", "a", 3, &sealed).is_none());
        let other = Zeroizing::new([8u8; 32]);
        assert!(
            open_row(&other, vault, "token", "a", 3, &sealed).is_none(),
            "another key"
        );
    }

    /// The rows already in databases were sealed by the `chacha20poly1305` crate:
    /// each construction opens the other's seals.
    #[test]
    fn seals_are_the_xchacha20_poly1305_of_the_chacha20poly1305_crate() {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        use chacha20poly1305::{XChaCha20Poly1305, XNonce};
        let key = Zeroizing::new([7u8; 32]);
        let crate_cipher = XChaCha20Poly1305::new(key.as_ref().into());
        for length in [0usize, 1, 63, 64, 65, 300, 5000] {
            let plain: Vec<u8> = (0..length).map(|i| (i * 31 % 251) as u8).collect();
            let aad = format!("aad-{length}");
            let ours = seal(&key, aad.as_bytes(), &plain).expect("seal");
            let (nonce, body) = ours.split_at(NONCE_BYTES);
            let opened = crate_cipher
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: body,
                        aad: aad.as_bytes(),
                    },
                )
                .expect("the crate opens our seal");
            assert_eq!(opened, plain);
            let nonce: [u8; NONCE_BYTES] = rand::random();
            let mut theirs = nonce.to_vec();
            theirs.extend(
                crate_cipher
                    .encrypt(
                        XNonce::from_slice(&nonce),
                        Payload {
                            msg: &plain,
                            aad: aad.as_bytes(),
                        },
                    )
                    .expect("crate seal"),
            );
            assert_eq!(
                open(&key, aad.as_bytes(), &theirs).as_deref(),
                Some(&plain),
                "{length} bytes"
            );
            let mut flipped = theirs.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            assert!(open(&key, aad.as_bytes(), &flipped).is_none());
            assert!(open(&key, b"other", &theirs).is_none());
        }
        assert!(open(&key, b"", &[0u8; 39]).is_none(), "shorter than a tag");
    }

    #[test]
    fn a_wrapped_key_unwraps_only_with_its_wrapping_key_and_holder() {
        let data = Zeroizing::new([5u8; 32]);
        let pass = Zeroizing::new([6u8; 32]);
        let vault = Uuid::from_u128(3);
        let wrapped = wrap_key(&pass, vault, "passphrase", 2, &data).expect("wrap");
        assert_eq!(
            unwrap_key(&pass, vault, "passphrase", 2, &wrapped).as_deref(),
            Some(&[5u8; 32])
        );
        assert!(unwrap_key(&pass, vault, "machine:x", 2, &wrapped).is_none());
        assert!(unwrap_key(&data, vault, "passphrase", 2, &wrapped).is_none());
        assert!(
            unwrap_key(&pass, vault, "passphrase", 1, &wrapped).is_none(),
            "another version"
        );
    }
}
