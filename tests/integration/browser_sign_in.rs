//! `tokendesk sign-in --browser` against the loopback provider: the test plays the
//! browser (asks the authorization endpoint, follows its redirect to tokendesk's
//! listener) and a forger (calls the listener with the wrong state, iss or none).

use crate::support;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Output};
use std::time::{Duration, Instant};

use crate::support::desk::{self, ACCOUNT, text};
use crate::support::provider::{BrowserAnswer, Endpoint, Fault, TestProvider};
use tokendesk::identity::{Authority, ProviderConfig, Scopes};
use tokendesk::vault::ops::TokenTarget;
use tokendesk::vault::{DataSource, Vault};

/// A vault with data source "A" on `provider`, configured for ACCOUNT.
fn vault(home: &Path, provider: &TestProvider, redirect_uri: Option<&str>) {
    let config = match provider.profile() {
        support::provider::Profile::Microsoft => support::microsoft_config(provider, Scopes::Graph),
        support::provider::Profile::Oidc => ProviderConfig {
            authority: Authority::Issuer {
                url: provider.issuer_url(),
            },
            client_id: support::provider::CLIENT_ID.into(),
            client_secret: None,
            scopes: Scopes::Custom(desk::OIDC_GRANT.into()),
        },
    };
    let mut vault = Vault::create(home, &desk::keys(), false).expect("vault");
    let mut source = DataSource::new("A", config, ACCOUNT);
    source.redirect_uri = redirect_uri.map(String::from);
    source.account.api_root = Some(provider.base_url());
    vault
        .update(|data| data.add_data_source(source))
        .expect("data source");
}

/// `sign-in --data-source A --browser --no-browser` started; returns the child and
/// the authorization URL it printed.
fn start(home: &Path, extra: &[&str]) -> (Child, BufReader<ChildStdout>, String) {
    let mut args = vec!["sign-in", "--data-source", "A", "--browser", "--no-browser"];
    args.extend_from_slice(extra);
    let (child, stdout, line) = desk::spawn_until(home, &args, "Page:");
    let page = line.trim_start_matches("Page:").trim().to_string();
    (child, stdout, page)
}

fn finish(child: Child, mut stdout: BufReader<ChildStdout>) -> Output {
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    let mut out = child.wait_with_output().expect("sign-in ends");
    out.stdout = rest.into_bytes();
    out
}

/// A GET to tokendesk's listener as a browser sends it; the page's status and text.
fn call(url: &str) -> std::io::Result<(u16, String)> {
    let url = url::Url::parse(url).expect("listener URL");
    let host = url.host_str().expect("host");
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    let mut stream = TcpStream::connect((host, url.port().expect("port")))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    write!(stream, "GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, answer))
}

/// `url` with its query parameter `name` set to `value` (or removed for None).
fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut url = url::Url::parse(url).expect("url");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != name)
        .collect();
    {
        let mut query = url.query_pairs_mut();
        query.clear();
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    url.to_string()
}

fn stored(home: &Path) -> tokendesk::vault::TokenRecord {
    Vault::open(home, &desk::keys())
        .unwrap()
        .data()
        .token(&TokenTarget::data_source("A"))
        .unwrap()
        .clone()
}

#[test]
fn the_browser_sign_in_stores_the_token_and_refuses_a_forged_answer_first() {
    let provider = TestProvider::microsoft();
    let home = support::temp_dir();
    vault(home.path(), &provider, None);
    let (child, stdout, page) = start(home.path(), &[]);

    // What tokendesk asked the provider for.
    let query: std::collections::HashMap<String, String> = url::Url::parse(&page)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["login_hint"], ACCOUNT);
    assert_eq!(query["prompt"], "select_account");
    assert!(
        query["redirect_uri"].starts_with("http://localhost:"),
        "{query:?}"
    );
    assert_eq!(query["state"].len(), 43);

    let callback = TestProvider::browser_redirect(&page);
    // A forged call first: wrong state. Refused with a page; tokendesk keeps waiting.
    let (status, forged) = call(&with_param(&callback, "state", Some("forged"))).unwrap();
    assert_eq!(status, 400, "{forged}");
    assert!(
        forged.contains("does not belong to the sign-in"),
        "{forged}"
    );
    let (status, done) = call(&callback).unwrap();
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("You are signed in"), "{done}");

    let out = finish(child, stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("Signed in as {ACCOUNT}")),
        "{}",
        text(&out)
    );
    let record = stored(home.path());
    assert_eq!(
        record
            .refresh_token
            .as_ref()
            .map(|t| t.expose().to_string()),
        provider.current_refresh_token_of(ACCOUNT)
    );
    // The code was redeemed with the verifier (the provider checked S256) and the
    // listener is gone: a second answer finds nobody.
    let redeemed = provider.requests_to(Endpoint::Token);
    assert_eq!(redeemed.len(), 1);
    assert_eq!(redeemed[0].form["grant_type"], "authorization_code");
    assert!(
        call(&callback).is_err(),
        "the listener closed after the answer"
    );
}

#[test]
fn wrong_iss_and_missing_code_are_refused_until_the_real_answer_arrives() {
    let provider = TestProvider::oidc();
    let home = support::temp_dir();
    vault(home.path(), &provider, Some("http://127.0.0.1/callback"));
    let (child, stdout, page) = start(home.path(), &[]);
    let query: std::collections::HashMap<String, String> = url::Url::parse(&page)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(query["prompt"], "consent", "offline_access needs consent");
    assert!(
        query["redirect_uri"].starts_with("http://127.0.0.1:")
            && query["redirect_uri"].ends_with("/callback"),
        "the path is sent as configured: {query:?}"
    );
    let callback = TestProvider::browser_redirect(&page);
    for forged in [
        with_param(&callback, "iss", Some("http://evil.example")),
        with_param(&callback, "iss", None),
        with_param(&callback, "code", None),
    ] {
        let (status, body) = call(&forged).unwrap();
        assert_eq!(status, 400, "{forged}: {body}");
    }
    let other_path = callback.replace("/callback", "/other");
    assert_eq!(call(&other_path).unwrap().0, 404);
    let (status, _) = call(&callback).unwrap();
    assert_eq!(status, 200);
    let out = finish(child, stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stored(home.path()).has_refresh_token());
}

#[test]
fn a_refusal_in_the_browser_ends_the_sign_in_and_stores_nothing() {
    let provider = TestProvider::oidc();
    provider.set_browser_answer(BrowserAnswer::Deny);
    let home = support::temp_dir();
    vault(home.path(), &provider, None);
    let (child, stdout, page) = start(home.path(), &[]);
    let callback = TestProvider::browser_redirect(&page);
    let (status, body) = call(&callback).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("did not succeed"), "{body}");
    let out = finish(child, stdout);
    assert!(!out.status.success());
    assert!(text(&out).contains("declined"), "{}", text(&out));
    assert!(!stored(home.path()).has_refresh_token());
}

#[test]
fn a_malformed_or_oversized_code_answer_is_said_clearly_and_stores_nothing() {
    for (fault, words) in [
        (Fault::Malformed, "could not read"),
        (Fault::Oversized(8 * 1024 * 1024), "stopped reading it"),
    ] {
        let provider = TestProvider::oidc();
        provider.fail_next(Endpoint::Token, fault.clone());
        let home = support::temp_dir();
        vault(home.path(), &provider, None);
        let (child, stdout, page) = start(home.path(), &[]);
        call(&TestProvider::browser_redirect(&page)).unwrap();
        let out = finish(child, stdout);
        assert!(!out.status.success(), "{fault:?}");
        assert!(
            text(&out).to_lowercase().contains(words),
            "{fault:?}: {}",
            text(&out)
        );
        assert!(!stored(home.path()).has_refresh_token());
    }
}

#[test]
fn on_a_full_disk_the_sign_in_is_refused_before_the_provider_is_asked() {
    let Some(disk) = desk::Tmpfs::mount(2 * 1024 * 1024, "sign-in full disk") else {
        return;
    };
    let provider = TestProvider::oidc();
    vault(&disk.path, &provider, None);
    let filler = disk.fill();
    let out = desk::run(
        &disk.path,
        &["sign-in", "--data-source", "A", "--browser", "--no-browser"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("Nothing was asked of the provider"),
        "{}",
        text(&out)
    );
    assert!(provider.requests().is_empty(), "not even discovery");
    std::fs::remove_file(filler).expect("room");
    assert!(!stored(&disk.path).has_refresh_token());
}

#[test]
fn a_provider_that_ignores_offline_access_is_said_clearly() {
    let provider = TestProvider::microsoft();
    provider.fail_next(Endpoint::Token, Fault::NoRefreshToken);
    let home = support::temp_dir();
    vault(home.path(), &provider, None);
    let (child, stdout, page) = start(home.path(), &[]);
    call(&TestProvider::browser_redirect(&page)).unwrap();
    let out = finish(child, stdout);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("issued no refresh token"),
        "{}",
        text(&out)
    );
    assert!(!stored(home.path()).has_refresh_token());
}

#[test]
fn a_busy_port_a_time_limit_and_a_cancel_end_the_sign_in_cleanly() {
    let provider = TestProvider::oidc();
    let home = support::temp_dir();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    vault(
        home.path(),
        &provider,
        Some(&format!("http://127.0.0.1:{port}/cb")),
    );
    let out = desk::run(
        home.path(),
        &["sign-in", "--data-source", "A", "--browser", "--no-browser"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("port {port}")) && text(&out).contains("redirect URI"),
        "{}",
        text(&out)
    );
    drop(busy);

    // Nobody answers within the limit.
    let started = Instant::now();
    let (child, stdout, _) = start(home.path(), &["--time-limit", "2"]);
    let out = finish(child, stdout);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not finished within 2 seconds"),
        "{}",
        text(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    // Ctrl+C while waiting: cancelled, nothing stored, the listener gone.
    let (child, stdout, page) = start(home.path(), &[]);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = finish(child, stdout);
    assert!(!out.status.success());
    assert!(text(&out).contains("cancelled"), "{}", text(&out));
    let callback = TestProvider::browser_redirect(&page);
    assert!(call(&callback).is_err(), "no listener after a cancel");
    assert!(!stored(home.path()).has_refresh_token());
}
