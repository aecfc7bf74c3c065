//! Entry points for the fuzz targets in `fuzz/`: everything tokendesk reads from the
//! network, from files or from an admin, fed arbitrary bytes. Each function must
//! return (with an error, usually) and never panic; the fuzzers check that, and
//! `cargo test` replays the seed corpus and every crash ever found through them.

use chrono::{DateTime, TimeZone, Utc};
use url::Url;

use crate::identity::http::HttpResponse;
use crate::identity::{device, discovery, token};
use crate::vault::crypto::{self, Header, KeyKind, VaultKey};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0)
        .single()
        .unwrap_or_else(Utc::now)
}

/// A provider answer: the first byte picks the HTTP status, the rest is the body.
fn response(data: &[u8]) -> HttpResponse {
    let status = match data.first() {
        Some(b) if b % 4 == 0 => 400,
        Some(b) if b % 4 == 1 => 401,
        Some(b) if b % 4 == 2 => 503,
        _ => 200,
    };
    HttpResponse {
        status,
        headers: Default::default(),
        body: data.get(1..).unwrap_or_default().to_vec(),
        url: Url::parse("https://login.microsoftonline.com/contoso/oauth2/v2.0/token")
            .expect("a fixed URL parses"),
    }
}

/// The token endpoint's answer (refresh, device-code redemption), with id_token.
pub fn token_response(data: &[u8]) {
    let _ = token::token_set_from(&response(data), now());
    // The salvage of a rotated refresh token reads any body, however broken.
    let _ = token::refresh_answer_from(&response(data), now(), 64 * 1024);
}

/// The device authorization endpoint's answer.
pub fn device_authorization(data: &[u8]) {
    let _ = device::authorization_from(&response(data), now());
}

/// An OpenID discovery document.
pub fn discovery_document(data: &[u8]) {
    let _ = discovery::endpoints_from(&response(data));
}

/// The claims of an id_token (no signature check: tokendesk reads only who signed in).
pub fn id_token(data: &[u8]) {
    let _ = token::read_id_token(&String::from_utf8_lossy(data));
}

/// The user directory CSV import.
pub fn csv_users(data: &[u8]) {
    let _ = crate::vault::csv_import::parse_users(data);
}

/// What a gateway client sends that the gateway reads itself (the HTTP framing is
/// hyper's): the local socket's question line, the key headers, the token query.
/// Lines: the question, an Authorization value, an X-API-Key value, the query.
pub fn gateway_request(data: &[u8]) {
    crate::gateway::read_client_input(data);
}

/// A vault file: header parsing, and the body opened with a fixed key, so damaged
/// files of every shape go through the same checks as real ones.
pub fn vault_file(data: &[u8]) {
    let Ok(parsed) = crypto::parse(data) else {
        return;
    };
    let _ = parsed.open(&fuzz_key());
}

/// A well-formed vault sealed with the fuzzing key, a seed for [`vault_file`].
pub fn sealed_vault_example() -> Vec<u8> {
    let key = fuzz_key();
    let header = Header::new(KeyKind::Keyring, uuid::Uuid::from_u128(7), &key);
    crypto::seal(&header, &key, br#"{"format_version":1,"generation":3}"#).unwrap_or_default()
}

fn fuzz_key() -> VaultKey {
    zeroize::Zeroizing::new([7; 32])
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every seed and every input that once crashed a fuzz target, through the same
    /// functions the fuzzers call.
    #[test]
    fn the_corpus_and_past_crashes_go_through_without_a_panic() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        type Target = fn(&[u8]);
        let targets: [(&str, Target); 7] = [
            ("token_response", super::token_response),
            ("device_authorization", super::device_authorization),
            ("discovery_document", super::discovery_document),
            ("id_token", super::id_token),
            ("csv_users", super::csv_users),
            ("vault_file", super::vault_file),
            ("gateway_request", super::gateway_request),
        ];
        let mut inputs = 0;
        for (name, target) in targets {
            for folder in ["seeds", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(folder).join(name)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let data = std::fs::read(entry.path()).expect("read input");
                    target(&data);
                    inputs += 1;
                }
            }
        }
        assert!(
            inputs >= 12,
            "only {inputs} corpus inputs found under fuzz/"
        );
        super::vault_file(&super::sealed_vault_example());
    }

    /// Writes the vault seed (run once with --ignored after a format change).
    #[test]
    #[ignore = "writes fuzz/seeds/vault_file/sealed"]
    fn write_vault_seed() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/vault_file/sealed");
        std::fs::write(path, super::sealed_vault_example()).expect("write seed");
    }
}
