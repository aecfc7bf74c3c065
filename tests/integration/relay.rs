//! The mail relay with real mail servers: a printer stand-in (Python's smtplib
//! and imaplib, AUTH PLAIN/LOGIN and LOGIN only) logs in to `tokendesk serve
//! --smtp/--imap` with a mailbox and its relay key; the relay logs in to Postfix
//! and Dovecot with XOAUTH2 and the mailbox's token from oidc-provider (checked
//! there by introspection), and the mail lands in the mailbox and is listed
//! back. Then what must not work: wrong keys, another mailbox's key, garbage,
//! silence, too much, plain text where TLS is required, and what happens when
//! the mail server refuses a token or is down.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::mail_xoauth2::signed_in_beside_mail_servers;
use crate::support::desk::{run, text, wait_until};
use crate::support::gateway::{consumer, serve_with};
use crate::support::mail::MailServers;

/// The device: `send` (AUTH PLAIN, or LOGIN with "login"), `list` (the
/// subjects in the INBOX), each printing what happened, refusals included.
const DEVICE: &str = r#"
import imaplib, smtplib, ssl, sys
what, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
extra = sys.argv[5] if len(sys.argv) > 5 else ""
ca = sys.argv[6] if len(sys.argv) > 6 else None
if what.startswith("send"):
    if "ssl" in extra:
        s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=60, context=ssl.create_default_context(cafile=ca))
    else:
        s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    s.ehlo("printer-2")
    if "starttls" in extra:
        s.starttls(context=ssl.create_default_context(cafile=ca))
        s.ehlo("printer-2")
    print("auth offered", s.has_extn("auth"))
    try:
        if "login" in extra:
            s.user, s.password = user, password
            code, said = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        else:
            code, said = s.login(user, password)
        print("auth", code)
    except smtplib.SMTPAuthenticationError as e:
        print("auth refused", e.smtp_code, e.smtp_error.decode())
        sys.exit(0)
    except smtplib.SMTPNotSupportedError as e:
        print("auth not offered", e)
        sys.exit(0)
    size = int(extra.split("size=")[1].split(",")[0]) if "size=" in extra else 0
    body = b"Subject: scan 7\r\n\r\nscanned page\r\n" + b"x" * size + b"\r\n"
    try:
        s.sendmail(user, [user], body)
        print("sent")
        s.quit()
    except (smtplib.SMTPException, OSError) as e:
        print("send failed", e)
else:
    if "starttls" in extra:
        m = imaplib.IMAP4("127.0.0.1", port)
        m.starttls(ssl_context=ssl.create_default_context(cafile=ca))
    elif "ssl" in extra:
        m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ssl.create_default_context(cafile=ca))
    else:
        m = imaplib.IMAP4("127.0.0.1", port)
    try:
        m.login(user, password)
    except imaplib.IMAP4.error as e:
        print("login refused", e)
        sys.exit(0)
    m.select("INBOX")
    typ, data = m.search(None, "ALL")
    for num in data[0].split():
        typ, msg = m.fetch(num, "(BODY[HEADER.FIELDS (SUBJECT)])")
        print("listed", msg[0][1].decode().strip())
    m.logout()
"#;

fn device(args: &[&str]) -> String {
    let out = Command::new("python3")
        .args(["-c", DEVICE])
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Points data source A at the test's mail servers (their CA), adds bob as a
/// mapped user and relay keys for alice (the data-source user) and for bob.
fn relay_setup(home: &Path, mail: &MailServers) -> (String, String) {
    let ca = home.join("mail-ca.pem");
    std::fs::write(&ca, &mail.certificate).expect("ca");
    let out = run(
        home,
        &[
            "data-source",
            "set",
            "A",
            "--smtp-upstream",
            &format!("127.0.0.1:{}", mail.submission_port),
            "--imap-upstream",
            &format!("imaps://127.0.0.1:{}", mail.imaps_port),
            "--upstream-ca",
            ca.to_str().expect("path"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("IMAP server"), "{}", text(&out));
    let out = run(
        home,
        &[
            "user",
            "add",
            "USER/bob",
            "--data-source",
            "A",
            "--exchange-user",
            "bob@contoso.test",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let alice = consumer(home, &["printer-2", "--data-source", "A", "--relay"]);
    let bob = consumer(
        home,
        &[
            "scanner-bob",
            "--data-source",
            "A",
            "--user",
            "USER/bob",
            "--relay",
        ],
    );
    let out = run(home, &["consumer", "list"]);
    assert!(
        text(&out).contains("mail relay device, logs in as alice@contoso.test"),
        "{}",
        text(&out)
    );
    (alice, bob)
}

fn audit(home: &Path) -> String {
    std::fs::read_to_string(home.join("audit.jsonl")).unwrap_or_default()
}

fn postfix_connections(mail: &MailServers) -> usize {
    mail.logs().matches("connect from").count()
}

#[test]
fn a_printer_that_knows_only_a_password_sends_and_reads_through_the_relay() {
    let Some((_op, mail, home)) = signed_in_beside_mail_servers("relay printer") else {
        return;
    };
    let (alice, bob) = relay_setup(home.path(), &mail);
    let (smtp, imap) = (free_port().to_string(), free_port().to_string());
    let _served = serve_with(
        home.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--smtp",
            &format!("127.0.0.1:{smtp}"),
            "--imap",
            &format!("127.0.0.1:{imap}"),
        ],
    );

    let said = device(&["send", &smtp, "alice@contoso.test", &alice]);
    assert!(
        said.contains("auth 235") && said.contains("sent"),
        "{said}\n{}",
        mail.logs()
    );
    let said = device(&["send", &smtp, "alice@contoso.test", &alice, "login"]);
    assert!(said.contains("auth 235") && said.contains("sent"), "{said}");
    wait_until(
        "two scans in alice's inbox",
        Duration::from_secs(20),
        || {
            mail.delivered("alice")
                .iter()
                .filter(|m| m.contains("scan 7"))
                .count()
                == 2
        },
    );
    // Postfix took them only with XOAUTH2, checked at the provider.
    assert!(
        mail.logs().contains("sasl_method=XOAUTH2"),
        "{}",
        mail.logs()
    );
    let said = device(&["list", &imap, "alice@contoso.test", &alice]);
    assert_eq!(said.matches("listed Subject: scan 7").count(), 2, "{said}");
    // AUTHENTICATE PLAIN with its initial response, and a command sent along
    // with it (it goes to Dovecot once the relay logged in); LOGIN with literals.
    use base64::Engine;
    let plain =
        base64::engine::general_purpose::STANDARD.encode(format!("\0alice@contoso.test\0{alice}"));
    let (said, _) = raw(
        &imap,
        &[format!("a1 AUTHENTICATE PLAIN {plain}\r\na2 LOGOUT\r\n").as_bytes()],
    );
    assert!(said.contains("a1 OK") && said.contains("a2 OK"), "{said}");
    let login = format!(
        "b1 LOGIN {{18}}\r\nalice@contoso.test {{{}+}}\r\n{alice}\r\nb2 LOGOUT\r\n",
        alice.len()
    );
    let (said, _) = raw(&imap, &[login.as_bytes()]);
    assert!(said.contains("+ Ready") && said.contains("b1 OK"), "{said}");

    // Wrong keys, and a key of another mailbox: refused, and nothing upstream.
    let before = postfix_connections(&mail);
    for (user, key) in [
        ("alice@contoso.test", "tdk_not-a-key"),
        ("alice@contoso.test", bob.as_str()),
        ("bob@contoso.test", alice.as_str()),
    ] {
        let said = device(&["send", &smtp, user, key]);
        assert!(said.contains("auth refused 535"), "{user}: {said}");
        let said = device(&["list", &imap, user, key]);
        assert!(
            said.contains("login refused") && said.contains("AUTHENTICATIONFAILED"),
            "{user}: {said}"
        );
    }
    assert_eq!(postfix_connections(&mail), before, "nothing went upstream");

    let log = audit(home.path());
    assert!(
        log.contains("SMTP session of device 'printer-2' for alice@contoso.test from 127.0.0.1"),
        "{log}"
    );
    assert!(log.contains("IMAP session of device 'printer-2'"), "{log}");
    assert!(
        !log.contains(&alice) && !log.contains("scanned page"),
        "no key, no content"
    );
}

/// Talks raw SMTP: sends `lines` (each with CRLF), returns all the relay said
/// until it closed, and how long it took to close.
fn raw(port: &str, lines: &[&[u8]]) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    for line in lines {
        if stream.write_all(line).is_err() {
            break;
        }
    }
    let mut said = Vec::new();
    let _ = stream.read_to_end(&mut said);
    (
        String::from_utf8_lossy(&said).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn garbage_silence_too_much_and_a_mail_server_that_is_down_are_bounded() {
    let Some((_op, mail, home)) = signed_in_beside_mail_servers("relay faults") else {
        return;
    };
    let (alice, _) = relay_setup(home.path(), &mail);
    let smtp = free_port().to_string();
    let _served = serve_with(
        home.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--header-timeout",
            "1",
            "--smtp",
            &format!("127.0.0.1:{smtp}"),
        ],
    );

    // Nothing at all: let go after the line time, not held open.
    let (said, took) = raw(&smtp, &[]);
    assert!(
        said.starts_with("220 ") && said.contains("421 4.4.2"),
        "{said}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Garbage: refused, then let go.
    let garbage: Vec<&[u8]> = vec![b"\x00\xff\xfe hello\r\n"; 12];
    let (said, _) = raw(&smtp, &garbage);
    assert!(
        said.contains("500 5.5.2") && said.contains("421 4.7.0"),
        "{said}"
    );
    let long = vec![b'A'; 100_000];
    let (said, _) = raw(&smtp, &[&long]);
    assert!(said.contains("500 5.5.6"), "{said}");
    // Mail before a login goes nowhere.
    let (said, _) = raw(&smtp, &[b"EHLO x\r\nMAIL FROM:<a@b>\r\nQUIT\r\n"]);
    assert!(said.contains("530 5.7.0"), "{said}");

    // 50 MB: cut at the relay's bound (35 MiB), and the next device is served.
    let said = device(&["send", &smtp, "alice@contoso.test", &alice, "size=50000000"]);
    assert!(
        said.contains("auth 235") && said.contains("send failed"),
        "{said}"
    );
    let said = device(&["send", &smtp, "alice@contoso.test", &alice]);
    assert!(said.contains("sent"), "{said}");
    assert!(
        audit(home.path()).contains("more than a session may carry"),
        "{}",
        audit(home.path())
    );

    // The mail server down: the device hears it, with the server's address.
    let closed = format!("127.0.0.1:{}", free_port());
    let out = run(
        home.path(),
        &["data-source", "set", "A", "--smtp-upstream", &closed],
    );
    assert!(out.status.success(), "{}", text(&out));
    wait_until(
        "the gateway to see the change",
        Duration::from_secs(20),
        || device(&["send", &smtp, "alice@contoso.test", &alice]).contains("454 4.4.1"),
    );
    let said = device(&["send", &smtp, "alice@contoso.test", &alice]);
    assert!(
        said.contains(&closed) && said.contains("could not connect"),
        "{said}"
    );
}

#[test]
fn with_a_certificate_passwords_travel_only_inside_tls() {
    let Some((_op, mail, home)) = signed_in_beside_mail_servers("relay tls") else {
        return;
    };
    let (alice, _) = relay_setup(home.path(), &mail);
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("certificate");
    let (cert, key) = (home.path().join("relay.pem"), home.path().join("relay.key"));
    std::fs::write(&cert, certified.cert.pem()).expect("cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("key");
    let (cert, key) = (cert.to_str().expect("path"), key.to_str().expect("path"));

    // Plain text beyond loopback is refused at the start.
    let out = run(
        home.path(),
        &["serve", "--listen", "127.0.0.1:0", "--smtp", "0.0.0.0:0"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--tls-cert FILE --tls-key FILE"),
        "{}",
        text(&out)
    );

    // Dovecot's STARTTLS this time, not its implicit TLS.
    let upstream = format!("127.0.0.1:{}", mail.imap_port);
    let out = run(
        home.path(),
        &["data-source", "set", "A", "--imap-upstream", &upstream],
    );
    assert!(out.status.success(), "{}", text(&out));
    let (smtp, imap) = (free_port().to_string(), free_port().to_string());
    let (smtps, imaps) = (free_port().to_string(), free_port().to_string());
    let _served = serve_with(
        home.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "--smtp",
            &format!("127.0.0.1:{smtp}"),
            "--imap",
            &format!("127.0.0.1:{imap}"),
            "--smtps",
            &format!("127.0.0.1:{smtps}"),
            "--imaps",
            &format!("127.0.0.1:{imaps}"),
        ],
    );
    let (said, _) = raw(
        &smtp,
        &[b"EHLO x\r\nAUTH PLAIN AGFsaWNlQGNvbnRvc28udGVzdAB4\r\nQUIT\r\n"],
    );
    assert!(
        said.contains("STARTTLS") && !said.contains("AUTH PLAIN LOGIN"),
        "{said}"
    );
    assert!(said.contains("538 5.7.11"), "{said}");
    let said = device(&["send", &smtp, "alice@contoso.test", &alice]);
    assert!(said.contains("auth not offered"), "{said}");
    let ca = home.path().join("relay.pem");
    let ca = ca.to_str().expect("path");
    let said = device(&["send", &smtp, "alice@contoso.test", &alice, "starttls", ca]);
    assert!(said.contains("auth 235") && said.contains("sent"), "{said}");
    let said = device(&["list", &imap, "alice@contoso.test", &alice]);
    assert!(said.contains("login refused"), "{said}");
    let said = device(&["list", &imap, "alice@contoso.test", &alice, "starttls", ca]);
    assert!(said.contains("listed Subject: scan 7"), "{said}");
    // TLS from the first byte, 465- and 993-style.
    let said = device(&["send", &smtps, "alice@contoso.test", &alice, "ssl", ca]);
    assert!(said.contains("auth 235") && said.contains("sent"), "{said}");
    wait_until(
        "both scans listed over implicit TLS",
        Duration::from_secs(20),
        || {
            device(&["list", &imaps, "alice@contoso.test", &alice, "ssl", ca])
                .matches("listed Subject: scan 7")
                .count()
                == 2
        },
    );
}

/// Revokes `token` at oidc-provider (RFC 7009, as the public client).
fn revoke(op: &crate::oidc_conformance::Op, token: &str) {
    let url = op.issuer.join("token/revocation").expect("url");
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.parse, urllib.request\n\
             body = urllib.parse.urlencode({'token': sys.argv[2], 'client_id': 'tokendesk'}).encode()\n\
             print(urllib.request.urlopen(sys.argv[1], body, timeout=10).status)",
            url.as_str(),
            token,
        ])
        .output()
        .expect("python3");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("200"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_token_revoked_mid_session_gets_one_fresh_one_and_a_dead_grant_a_clear_answer() {
    let Some((op, mail, home)) = signed_in_beside_mail_servers("relay refused") else {
        return;
    };
    let (alice, _) = relay_setup(home.path(), &mail);
    let smtp = free_port().to_string();
    let _served = serve_with(
        home.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--smtp",
            &format!("127.0.0.1:{smtp}"),
        ],
    );
    let said = device(&["send", &smtp, "alice@contoso.test", &alice]);
    assert!(said.contains("sent"), "{said}");

    // The cached access token stops working before its time (as a revoked one
    // does; oidc-provider would revoke the whole grant with it, so the vault's
    // copy is spoiled instead): the mail server refuses it, the relay gets a
    // fresh one through the guarded path and the device never notices.
    {
        let mut vault = tokendesk::vault::Vault::open(home.path(), &crate::support::desk::keys())
            .expect("vault");
        vault
            .update(|data| {
                let access = data.data_sources[0]
                    .token
                    .access
                    .as_mut()
                    .expect("a cached access token");
                access.token = tokendesk::Secret::new("revoked-before-its-time");
                Ok(())
            })
            .expect("spoil");
    }
    // The gateway sees the vault change (its watcher).
    std::thread::sleep(Duration::from_secs(3));
    let said = device(&["send", &smtp, "alice@contoso.test", &alice]);
    assert!(
        said.contains("auth 235") && said.contains("sent"),
        "{said}\n{}",
        mail.logs()
    );
    assert!(
        audit(home.path()).contains("a fresh one worked"),
        "{}",
        audit(home.path())
    );

    // The whole grant revoked: the fresh token is refused by the provider too,
    // and the device hears that someone must sign in again.
    let vault =
        tokendesk::vault::Vault::open(home.path(), &crate::support::desk::keys()).expect("vault");
    let refresh = vault.data().data_sources[0]
        .token
        .refresh_token
        .as_ref()
        .expect("a refresh token")
        .expose()
        .to_string();
    drop(vault);
    revoke(&op, &refresh);
    let said = device(&["send", &smtp, "alice@contoso.test", &alice]);
    assert!(said.contains("auth refused 454 4.7.0"), "{said}");
    assert!(said.contains("sign it in again"), "{said}");
    let log = audit(home.path());
    assert!(
        log.lines()
            .any(|l| l.contains("\"relay\"") && l.contains("\"failed\"")),
        "{log}"
    );
}
