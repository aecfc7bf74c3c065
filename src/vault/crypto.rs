//! The vault file: a small plain header, then the serialized vault sealed with
//! XChaCha20-Poly1305. The header is authenticated as associated data, so nobody
//! can swap the KDF parameters or key id without the open failing.
//!
//! Layout (integers little-endian):
//! ```text
//! magic "TOKENDSK" | version u16 | key kind u8 | key id [16] | key check [16]
//! | kdf m_cost u32 | t_cost u32 | p_cost u32 | salt [16]      (passphrase only)
//! | nonce [24] | body length u64 | ciphertext (body + 16-byte tag)
//! ```
//! The key check is a Poly1305 tag over nothing, made with the key: it tells a wrong
//! key or passphrase apart from a damaged body without revealing the key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::error::VaultError;

pub const MAGIC: &[u8; 8] = b"TOKENDSK";
pub const FILE_VERSION: u16 = 1;
const TAG_LEN: usize = 16;

/// A 256-bit vault key, zeroed on drop.
pub type VaultKey = Zeroizing<[u8; 32]>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    pub salt: [u8; 16],
}

impl KdfParams {
    /// OWASP's Argon2id recommendation, comfortably above it in memory.
    pub fn recommended() -> Self {
        Self::with_cost(64 * 1024, 3, 1)
    }

    pub fn with_cost(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Self {
        KdfParams {
            m_cost_kib,
            t_cost,
            p_cost,
            salt: rand::random(),
        }
    }

    pub fn derive(&self, passphrase: &str) -> Result<VaultKey, VaultError> {
        let params = argon2::Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| {
                VaultError::Corrupt(format!(
                    "the passphrase settings in the file are invalid ({e})"
                ))
            })?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase.as_bytes(), &self.salt, key.as_mut())
            .map_err(|e| {
                VaultError::Corrupt(format!("the passphrase could not be applied ({e})"))
            })?;
        Ok(key)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// 32 random bytes in the OS keyring.
    Keyring,
    /// Derived from a passphrase with Argon2id.
    Passphrase(KdfParams),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub key_kind: KeyKind,
    pub key_id: Uuid,
    pub key_check: [u8; 16],
}

impl Header {
    pub fn new(key_kind: KeyKind, key_id: Uuid, key: &VaultKey) -> Self {
        Header {
            version: FILE_VERSION,
            key_kind,
            key_id,
            key_check: key_check(key),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        match &self.key_kind {
            KeyKind::Keyring => out.push(1),
            KeyKind::Passphrase(_) => out.push(2),
        }
        out.extend_from_slice(self.key_id.as_bytes());
        out.extend_from_slice(&self.key_check);
        if let KeyKind::Passphrase(kdf) = &self.key_kind {
            out.extend_from_slice(&kdf.m_cost_kib.to_le_bytes());
            out.extend_from_slice(&kdf.t_cost.to_le_bytes());
            out.extend_from_slice(&kdf.p_cost.to_le_bytes());
            out.extend_from_slice(&kdf.salt);
        }
        out
    }
}

fn key_check(key: &VaultKey) -> [u8; 16] {
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let nonce = XNonce::from([0u8; 24]);
    let tag = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: &[],
                aad: b"tokendesk key check",
            },
        )
        .unwrap_or_default();
    let mut out = [0u8; 16];
    out.copy_from_slice(&tag[..16.min(tag.len())]);
    out
}

/// Seals `body` under `key` with a fresh nonce.
pub fn seal(header: &Header, key: &VaultKey, body: &[u8]) -> Result<Vec<u8>, VaultError> {
    let mut out = header.encode();
    let nonce_bytes: [u8; 24] = rand::random();
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&((body.len() + TAG_LEN) as u64).to_le_bytes());
    let aad = out.clone();
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let ciphertext = cipher
        .encrypt(
            &XNonce::from(nonce_bytes),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Corrupt("the vault could not be encrypted".into()))?;
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// The parts of a file before its body, read without any key.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub header: Header,
    aad: &'a [u8],
    nonce: [u8; 24],
    ciphertext: &'a [u8],
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], VaultError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(VaultError::Truncated)?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], VaultError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, VaultError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
}

pub fn parse(bytes: &[u8]) -> Result<Parsed<'_>, VaultError> {
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) {
            VaultError::Truncated
        } else {
            VaultError::NotAVault
        });
    }
    let mut reader = Reader { bytes, at: 0 };
    if reader.take(8)? != MAGIC {
        return Err(VaultError::NotAVault);
    }
    let version = u16::from_le_bytes(reader.array()?);
    if version > FILE_VERSION {
        return Err(VaultError::FutureVersion {
            found: version,
            supported: FILE_VERSION,
        });
    }
    if version == 0 {
        return Err(VaultError::Corrupt(
            "the header names format version 0".into(),
        ));
    }
    let kind = reader.array::<1>()?[0];
    let key_id = Uuid::from_bytes(reader.array()?);
    let key_check = reader.array()?;
    let key_kind = match kind {
        1 => KeyKind::Keyring,
        2 => KeyKind::Passphrase(KdfParams {
            m_cost_kib: reader.u32()?,
            t_cost: reader.u32()?,
            p_cost: reader.u32()?,
            salt: reader.array()?,
        }),
        other => {
            return Err(VaultError::Corrupt(format!(
                "unknown key kind {other} in the header"
            )));
        }
    };
    let nonce = reader.array()?;
    let length = u64::from_le_bytes(reader.array()?);
    let aad_end = reader.at;
    let remaining = (bytes.len() - aad_end) as u64;
    if remaining < length {
        return Err(VaultError::Truncated);
    }
    if remaining > length {
        return Err(VaultError::Corrupt(format!(
            "{} unexpected bytes after the body",
            remaining - length
        )));
    }
    Ok(Parsed {
        header: Header {
            version,
            key_kind,
            key_id,
            key_check,
        },
        aad: &bytes[..aad_end],
        nonce,
        ciphertext: &bytes[aad_end..],
    })
}

impl Parsed<'_> {
    /// Opens the body. A key whose check does not match is the wrong key; a
    /// matching key that cannot open the body means the file was damaged.
    pub fn open(&self, key: &VaultKey) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if key_check(key) != self.header.key_check {
            return Err(match self.header.key_kind {
                KeyKind::Keyring => VaultError::WrongKey,
                KeyKind::Passphrase(_) => VaultError::WrongPassphrase,
            });
        }
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        cipher
            .decrypt(
                &XNonce::from(self.nonce),
                Payload {
                    msg: self.ciphertext,
                    aad: self.aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                VaultError::Corrupt(
                    "the encrypted body failed its integrity check (bytes were changed)".into(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> VaultKey {
        Zeroizing::new([byte; 32])
    }

    #[test]
    fn round_trip_and_each_failure_has_its_own_error() {
        let k = key(7);
        let header = Header::new(KeyKind::Keyring, Uuid::new_v4(), &k);
        let file = seal(&header, &k, b"{\"hello\":1}").unwrap();
        let parsed = parse(&file).unwrap();
        assert_eq!(parsed.header, header);
        assert_eq!(parsed.open(&k).unwrap().as_slice(), b"{\"hello\":1}");

        assert!(matches!(
            parse(&file).unwrap().open(&key(8)),
            Err(VaultError::WrongKey)
        ));

        let mut flipped = file.clone();
        let last = flipped.len() - 5;
        flipped[last] ^= 0x40;
        assert!(matches!(
            parse(&flipped).unwrap().open(&k),
            Err(VaultError::Corrupt(_))
        ));

        assert!(matches!(
            parse(&file[..file.len() - 3]),
            Err(VaultError::Truncated)
        ));
        assert!(matches!(parse(&file[..20]), Err(VaultError::Truncated)));
        assert!(matches!(parse(b"TOKEN"), Err(VaultError::Truncated)));
        assert!(matches!(
            parse(b"{\"json\": true}"),
            Err(VaultError::NotAVault)
        ));

        let mut future = file.clone();
        future[8..10].copy_from_slice(&9u16.to_le_bytes());
        assert!(matches!(
            parse(&future),
            Err(VaultError::FutureVersion { found: 9, .. })
        ));

        // The header is authenticated: changing the key id breaks the body.
        let mut swapped = file.clone();
        swapped[12] ^= 1;
        assert!(matches!(
            parse(&swapped).unwrap().open(&k),
            Err(VaultError::Corrupt(_))
        ));
    }

    #[test]
    fn passphrase_keys_derive_and_mismatch_is_reported_as_passphrase() {
        let kdf = KdfParams::with_cost(1024, 1, 1);
        let k = kdf.derive("correct horse").unwrap();
        let header = Header::new(KeyKind::Passphrase(kdf), Uuid::new_v4(), &k);
        let file = seal(&header, &k, b"body").unwrap();
        let parsed = parse(&file).unwrap();
        let KeyKind::Passphrase(read) = parsed.header.key_kind else {
            panic!("kind")
        };
        assert_eq!(read, kdf);
        assert_eq!(
            parsed
                .open(&read.derive("correct horse").unwrap())
                .unwrap()
                .as_slice(),
            b"body"
        );
        assert!(matches!(
            parsed.open(&read.derive("wrong").unwrap()),
            Err(VaultError::WrongPassphrase)
        ));
    }
}
