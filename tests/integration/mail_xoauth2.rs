//! A mail client that knows XOAUTH2 takes its password from `tokendesk token`
//! (the README's passwordeval): the access token tokendesk keeps alive for alice
//! at oidc-provider sends through Debian's Postfix and reads through Dovecot,
//! both checking it by introspection at the provider; a wrong token is refused.
//! Python's smtplib and imaplib are the mail client.

use std::process::Command;
use std::time::Duration;

use crate::oidc_conformance::{Op, sign_in, start, vault};
use crate::support::desk::{run, text, wait_until};
use crate::support::mail::MailServers;

const CLIENT: &str = r#"
import base64, imaplib, smtplib, sys
smtp_port, imap_port, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
xoauth2 = f"user=alice@contoso.test\x01auth=Bearer {token}\x01\x01"
s = smtplib.SMTP("127.0.0.1", smtp_port, timeout=20)
s.ehlo("erp")
code, said = s.docmd("AUTH", "XOAUTH2 " + base64.b64encode(xoauth2.encode()).decode())
if code == 334:
    # XOAUTH2's error challenge: the client answers with an empty line.
    code, said = s.docmd("")
print("smtp", code)
if code == 235:
    s.sendmail("alice@contoso.test", ["alice@contoso.test"],
               b"Subject: invoice 42\r\n\r\nsent with a token from tokendesk\r\n")
s.quit()
m = imaplib.IMAP4("127.0.0.1", imap_port)
try:
    m.authenticate("XOAUTH2", lambda _: xoauth2.encode())
    print("imap ok")
except imaplib.IMAP4.error as e:
    print("imap refused", e)
"#;

/// oidc-provider, the mail servers checking its tokens, and a home whose data
/// source A is signed in as alice; `None` (skipped) without node or the packages.
pub(crate) fn signed_in_beside_mail_servers(
    test: &str,
) -> Option<(Op, MailServers, tempfile::TempDir)> {
    let op = start(test, &[])?;
    let secret: String = url::form_urlencoded::byte_serialize(op.secret.as_bytes()).collect();
    let introspection = format!(
        "http://tokendesk-confidential:{secret}@{}:{}/token/introspection",
        op.issuer.host_str().unwrap_or("127.0.0.1"),
        op.issuer.port().unwrap_or(80)
    );
    let mail = MailServers::start(&introspection)?;
    let home = crate::support::temp_dir();
    vault(home.path(), &op, false);
    let (out, _) = sign_in(home.path(), &op, false, true);
    assert!(out.status.success(), "{}", text(&out));
    Some((op, mail, home))
}

fn client(mail: &MailServers, token: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            CLIENT,
            &mail.submission_port.to_string(),
            &mail.imap_port.to_string(),
            token,
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tokendesks_access_token_sends_through_postfix_and_reads_through_dovecot() {
    let Some((_op, mail, home)) = signed_in_beside_mail_servers("mail xoauth2") else {
        return;
    };
    let out = run(home.path(), &["token", "--data-source", "A"]);
    assert!(out.status.success(), "{}", text(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();

    let said = client(&mail, &token);
    assert!(said.contains("smtp 235"), "{said}\n{}", mail.logs());
    assert!(said.contains("imap ok"), "{said}");
    wait_until("the mail in alice's inbox", Duration::from_secs(20), || {
        mail.delivered("alice")
            .iter()
            .any(|m| m.contains("invoice 42"))
    });

    let refused = client(&mail, "not-a-token-the-provider-issued");
    assert!(refused.contains("smtp 535"), "{refused}");
    assert!(refused.contains("imap refused"), "{refused}");
}

/// The b64 form of a subject as the notifier encodes it.
fn encoded_subject(title: &str) -> String {
    use base64::Engine;
    format!(
        "Subject: =?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(title)
    )
}

#[test]
fn an_e_mail_notifier_submits_through_the_data_sources_mail_server_with_xoauth2_over_tls() {
    let Some((_op, mail, home)) = signed_in_beside_mail_servers("mail notifier") else {
        return;
    };
    let ca = home.path().join("mail-ca.pem");
    std::fs::write(&ca, &mail.certificate).expect("ca");

    // Without a mail server an OpenID data source has nothing to send through.
    let out = run(
        home.path(),
        &[
            "notify",
            "add",
            "admins",
            "--email",
            "bob@contoso.test",
            "--via",
            "A",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--smtp-upstream HOST:PORT"),
        "{}",
        text(&out)
    );

    let upstream = format!("127.0.0.1:{}", mail.submission_port);
    let out = run(
        home.path(),
        &[
            "data-source",
            "set",
            "A",
            "--smtp-upstream",
            &upstream,
            "--upstream-ca",
            ca.to_str().expect("path"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("SMTP server"), "{}", text(&out));
    let out = run(
        home.path(),
        &[
            "notify",
            "add",
            "admins",
            "--email",
            "bob@contoso.test",
            "--via",
            "A",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(home.path(), &["notify", "test", "admins"]);
    assert!(out.status.success(), "{}\n{}", text(&out), mail.logs());
    wait_until(
        "the test message in bob's inbox",
        Duration::from_secs(20),
        || !mail.delivered("bob").is_empty(),
    );
    let delivered = mail.delivered("bob").join("\n");
    assert!(
        delivered.contains("From: <alice@contoso.test>"),
        "{delivered}"
    );
    assert!(
        delivered.contains(&encoded_subject("tokendesk: test notification")),
        "{delivered}"
    );
    assert!(delivered.contains("Auto-Submitted: auto-generated"));
    assert!(
        mail.logs().contains("sasl_method=XOAUTH2"),
        "authenticated with XOAUTH2: {}",
        mail.logs()
    );

    // The certificate is checked: against the system's store this one fails.
    let out = run(
        home.path(),
        &["data-source", "set", "A", "--no-upstream-ca"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(home.path(), &["notify", "test", "admins"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("TLS failed"), "{}", text(&out));
}
