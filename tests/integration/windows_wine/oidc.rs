//! A sign-in under Wine against the certified provider nobody here wrote
//! (panva's oidc-provider on the host): the device code approved in its own
//! pages, then renewals that rotate every refresh token without one replay (the
//! provider would revoke the whole grant).

use super::{Wine, ok, text};
use crate::oidc_conformance::{sign_in_with, start, test_count};

#[test]
fn windows_wine_oidc_provider_sign_in_and_rotating_renewals() {
    let Some(wine) = Wine::from_env("windows_wine oidc-provider") else {
        return;
    };
    let Some(op) = start("windows_wine oidc-provider", &[]) else {
        return;
    };
    let wine = wine.with_vault("C:\\tokendesk-oidc", Some("oidc passphrase"));
    ok(wine.run(&["vault", "init"]));
    ok(wine.run(&[
        "data-source",
        "add",
        "A",
        "--issuer-url",
        op.issuer.as_str(),
        "--client-id",
        "tokendesk",
        "--scopes",
        "openid profile email offline_access",
        "--account",
        "alice@contoso.test",
    ]));
    let command = wine.command(
        &[
            "sign-in",
            "--data-source",
            "A",
            "--no-browser",
            "--no-clipboard",
        ],
        &[],
    );
    let (out, page) = sign_in_with(command, &op, false, true);
    assert!(page.contains("Sign-in Success"), "{page}");
    assert!(out.status.success(), "{}", text(&out));
    for command in ["renew", "test", "renew"] {
        ok(wine.run(&[command, "--data-source", "A"]));
    }
    assert_eq!(
        test_count(&op, "_test/refresh-count"),
        3,
        "three rotations, each stored before the next"
    );
    let status = ok(wine.run(&["status", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(report["tokens"][0]["state"], "healthy", "{report}");
}
