//! The shared vault's database over TLS, verified as libpq's `verify-full`: a
//! server whose certificate the machine trusts and whose name matches is used;
//! one it does not trust, or one whose certificate names another host, is
//! refused with a message that says why — never used unverified.

use std::path::Path;

use crate::support::PrivateServer;
use crate::support::desk;
use crate::support::provider::TestProvider;
use crate::vault_postgres::{fresh_database, shared_vault};

fn join(home: &Path, url: &str, trusted: Option<&Path>) -> std::process::Output {
    let mut command = desk::command(home, &["vault", "join", url]);
    command
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    if let Some(pem) = trusted {
        command.env("SSL_CERT_FILE", pem);
    }
    command.output().expect("tokendesk")
}

#[test]
fn the_database_is_used_over_tls_only_with_a_trusted_certificate_for_its_name() {
    if fresh_database().is_none() {
        return;
    }
    let Some(server) = PrivateServer::start() else {
        return;
    };
    let provider = TestProvider::oidc();
    let (_vault, _store, _home, _) = shared_vault(&provider, &server.url("tokendesk"), 1);
    let files = crate::support::temp_dir();
    let right = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let right_pem = files.path().join("right.pem");
    std::fs::write(&right_pem, right.cert.pem()).expect("write");
    server.serve_tls(&right.cert.pem(), &right.signing_key.serialize_pem());
    let url = format!(
        "postgresql://postgres@localhost:{}/tokendesk?sslmode=verify-full",
        server.port()
    );

    // Trusted, and for this name: joined over TLS.
    let home = crate::support::temp_dir();
    let out = join(home.path(), &url, Some(&right_pem));
    assert!(out.status.success(), "{}", desk::text(&out));

    // Not trusted by this machine: refused, saying it is the certificate.
    let home = crate::support::temp_dir();
    let out = join(home.path(), &url, None);
    assert!(!out.status.success());
    let said = desk::text(&out).to_lowercase();
    assert!(said.contains("certificate"), "{said}");
    assert!(!home.path().join("shared-vault.json").exists());

    // Trusted, but issued for another host: refused as well.
    let other = rcgen::generate_simple_self_signed(vec!["db.other.test".into()]).expect("cert");
    let other_pem = files.path().join("other.pem");
    std::fs::write(&other_pem, other.cert.pem()).expect("write");
    server.serve_tls(&other.cert.pem(), &other.signing_key.serialize_pem());
    let home = crate::support::temp_dir();
    let out = join(home.path(), &url, Some(&other_pem));
    assert!(!out.status.success());
    let said = desk::text(&out).to_lowercase();
    assert!(said.contains("certificate"), "{said}");
}
