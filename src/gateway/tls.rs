//! TLS for a gateway that other machines reach: the admin's certificate and key
//! (PEM files), TLS 1.2 and 1.3 with rustls' safe defaults. Each handshake runs in
//! its connection's task within the header time limit (`conn.rs`), so one slow or
//! silent client cannot hold the others up.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::desk::schedule::TlsFiles;

/// Reads the PEM files into a server configuration, with a message an admin can
/// act on when they are missing, empty or do not belong together.
pub fn load(files: &TlsFiles) -> Result<Arc<ServerConfig>, String> {
    let certs = read_certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        format!(
            "Could not read a private key from {} ({e}). Give a PEM file with one PKCS#8, PKCS#1 or SEC1 key.",
            files.key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS could not be set up: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "The certificate {} and the key {} do not make a usable pair: {e}",
                files.cert.display(),
                files.key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let unreadable = |e: &dyn std::fmt::Display| {
        format!(
            "Could not read a certificate from {} ({e}). Give a PEM file with the server's certificate first, then any intermediates.",
            path.display()
        )
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    if certs.is_empty() {
        return Err(unreadable(&"no CERTIFICATE block in it"));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn missing_or_mismatched_files_are_named_in_the_message() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = TlsFiles {
            cert: dir.path().join("nope.pem"),
            key: dir.path().join("nope.key"),
        };
        let message = load(&missing).expect_err("no files");
        assert!(message.contains("nope.pem"), "{message}");

        let empty = TlsFiles {
            cert: write(dir.path(), "empty.pem", "hello\n"),
            key: dir.path().join("nope.key"),
        };
        let message = load(&empty).expect_err("no certificate");
        assert!(message.contains("no CERTIFICATE block"), "{message}");

        let one = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let mismatched = TlsFiles {
            cert: write(dir.path(), "one.pem", &one.cert.pem()),
            key: write(dir.path(), "other.key", &other.signing_key.serialize_pem()),
        };
        let message = load(&mismatched).expect_err("not a pair");
        assert!(message.contains("usable pair"), "{message}");

        let matching = TlsFiles {
            cert: write(dir.path(), "one2.pem", &one.cert.pem()),
            key: write(dir.path(), "one.key", &one.signing_key.serialize_pem()),
        };
        assert!(load(&matching).is_ok());
    }
}
