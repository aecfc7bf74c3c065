//! The gateway under Wine: `serve` hands a token to an application over HTTP,
//! `tokendesk token` gets one through the named pipe without the vault's
//! passphrase, the pipe's ACL read back from the pipe admits only its user,
//! /metrics parses, and a second gateway on the same vault is refused.

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::{Wine, add_source, ok, sign_in, text};
use crate::support::gateway::{get, runtime};
use crate::support::provider::{Endpoint, TestProvider};

/// Where `scripts/test-windows` puts the ACL reader (tests/windows-probe).
const PIPE_ACL: &str = "/opt/tokendesk/windows_pipe_acl.exe";

/// A gateway under Wine, killed when dropped.
struct Served {
    child: Child,
    base: String,
    pipe: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tokendesk serve ARGS` under Wine, once it says where it listens.
fn serve(wine: &Wine, args: &[&str]) -> Served {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    let mut child = wine
        .command(&all, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wine");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let started = Instant::now();
    let (mut base, mut pipe) = (None, None);
    while pipe.is_none() {
        let mut line = String::new();
        let ended = stdout.read_line(&mut line).unwrap_or(0) == 0;
        if line.contains("listening on http") {
            base = line.trim().rsplit(' ').next().map(str::to_string);
        }
        if let Some(name) = line.trim().strip_prefix("local programs: ") {
            pipe = Some(name.to_string());
        }
        if ended || started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!(
                "the gateway did not start: {}",
                text(&child.wait_with_output().expect("ends"))
            );
        }
    }
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Served {
        child,
        base: base.expect("the address"),
        pipe: pipe.expect("the pipe"),
    }
}

/// Checks the pipe's descriptor: owned by, and open to, exactly the user the
/// gateway runs as, with no inherited entries. Wine runs every process as one
/// user, so no second user can be made to try it; this is the ACL that
/// refuses one.
pub(super) fn assert_pipe_admits_only_its_user(wine: &Wine, pipe: &str) {
    let out = super::within(
        wine.program(PIPE_ACL, &[pipe], &[]),
        std::time::Duration::from_secs(180),
    );
    let said = ok(out);
    let field = |name: &str| {
        said.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {said}"))
    };
    let (sddl, user) = (field("sddl "), field("user "));
    assert!(user.starts_with("S-1-5-"), "{said}");
    let dacl = &sddl[sddl.find("D:").unwrap_or_else(|| panic!("no DACL: {sddl}"))..];
    // Windows shows the generic right it was given (GA) as the file rights it
    // maps to (FA); Wine keeps GA. Either is all access, and the only entry.
    assert!(
        [
            format!("D:P(A;;FA;;;{user})"),
            format!("D:P(A;;GA;;;{user})")
        ]
        .iter()
        .any(|expected| dacl == expected),
        "one entry, full access for the gateway's user alone, protected: {sddl}"
    );
}

#[test]
fn windows_wine_gateway_hands_tokens_over_http_and_its_user_only_pipe() {
    let Some(wine) = Wine::from_env("windows_wine gateway") else {
        return;
    };
    // A passphrase vault: `token` without the passphrase can only have its token
    // from the gateway, through the pipe.
    let wine = wine.with_vault("C:\\tokendesk-gateway", Some("gateway passphrase"));
    ok(wine.run(&["vault", "init"]));
    let provider = TestProvider::oidc();
    provider.set_interval(Some(1));
    add_source(&wine, &provider);
    sign_in(&wine, &provider);
    let key = ok(wine.run(&["consumer", "add", "Portal", "--data-source", "A"]))
        .trim()
        .to_string();
    assert!(key.starts_with("tdk_"), "{key}");

    let served = serve(
        &wine,
        &["--listen", "127.0.0.1:0", "--keepalive-every", "3600"],
    );
    assert!(served.pipe.starts_with("\\\\.\\pipe\\"), "{}", served.pipe);
    let runtime = runtime();
    let client = reqwest::Client::new();
    let (status, body) = runtime.block_on(get(
        &client,
        &format!("{}/v1/token?data_source=A", served.base),
        Some(&key),
    ));
    assert_eq!(status, 200, "{body}");
    let handed = body["access_token"].as_str().expect("token").to_string();
    assert!(provider.issued_access_tokens().contains(&handed));
    let unknown = runtime.block_on(get(
        &client,
        &format!("{}/v1/token?data_source=A", served.base),
        Some("tdk_wrong"),
    ));
    assert_eq!(unknown.0, 401);

    // Through the pipe: the gateway's cached token, no redemption, no passphrase.
    let redemptions = provider.requests_to(Endpoint::Token).len();
    let piped = ok(wine
        .without_passphrase()
        .run(&["token", "--data-source", "A"]));
    assert_eq!(
        piped.trim(),
        handed,
        "the gateway's token, through the pipe"
    );
    assert_eq!(provider.requests_to(Endpoint::Token).len(), redemptions);
    assert_pipe_admits_only_its_user(&wine, &served.pipe);

    // Monitoring: /metrics as Prometheus reads it.
    let metrics = runtime.block_on(async {
        client
            .get(format!("{}/metrics", served.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    });
    let scrape = prometheus_parse::Scrape::parse(metrics.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text format");
    let hand_outs = scrape
        .samples
        .iter()
        .find(|s| s.metric == "tokendesk_hand_outs_total")
        .unwrap_or_else(|| panic!("no hand-out count: {metrics}"));
    assert!(
        matches!(hand_outs.value, prometheus_parse::Value::Counter(n) if n >= 2.0),
        "{metrics}"
    );

    // One gateway per vault: a second is refused and the first keeps serving.
    let second = wine.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("A gateway already serves"),
        "{}",
        text(&second)
    );
    let again = ok(wine
        .without_passphrase()
        .run(&["token", "--data-source", "A"]));
    assert_eq!(again.trim(), handed);
    assert_eq!(provider.replays(), 0);
}
