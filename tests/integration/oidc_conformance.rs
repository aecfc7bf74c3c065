//! Against a certified provider nobody here wrote: panva's `oidc-provider` from npm
//! (OpenID Certified), pinned in tests/oidc/package-lock.json and started on
//! 127.0.0.1 by tests/oidc/provider.mjs. The test plays the human through the
//! provider's own HTML pages (user code → confirm → login → consent) with an HTTP
//! client. Where node or the installed package is missing the tests say they were
//! skipped — unless TOKENDESK_REQUIRE_OIDC_PROVIDER is set, as `.ci/run` does.

use crate::support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::desk::{self, run, text};
use tokendesk::Secret;
use tokendesk::identity::{Authority, ProviderConfig, Scopes};
use tokendesk::vault::Vault;
use tokendesk::vault::ops::TokenTarget;
use url::Url;

const USER: &str = "alice";
const ACCOUNT: &str = "alice@contoso.test";

/// A running oidc-provider; stops when dropped (its standard input closes).
pub(crate) struct Op {
    child: Child,
    _stdin: ChildStdin,
    pub(crate) issuer: Url,
    pub(crate) secret: String,
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Starts the provider, or says why the test is skipped.
pub(crate) fn start(test: &str, env: &[(&str, &str)]) -> Option<Op> {
    let dir = package_dir();
    let ready = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && dir.join("node_modules/oidc-provider").is_dir();
    if !ready {
        assert!(
            std::env::var_os("TOKENDESK_REQUIRE_OIDC_PROVIDER").is_none(),
            "{test}: TOKENDESK_REQUIRE_OIDC_PROVIDER is set but node or tests/oidc/node_modules is missing (npm ci --prefix tests/oidc)"
        );
        eprintln!(
            "SKIPPED {test}: node or oidc-provider is not installed (npm ci --prefix tests/oidc)"
        );
        return None;
    }
    let mut child = Command::new("node")
        .arg(dir.join("provider.mjs"))
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start oidc-provider");
    let stdin = child.stdin.take().expect("stdin");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdout
        .read_line(&mut line)
        .expect("oidc-provider says where it listens");
    // Keep the pipe open and drained for as long as the provider runs.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let started: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    Some(Op {
        issuer: Url::parse(started["issuer"].as_str().expect("issuer")).expect("issuer URL"),
        secret: started["secret"].as_str().expect("secret").to_string(),
        child,
        _stdin: stdin,
    })
}

fn config(op: &Op, confidential: bool) -> ProviderConfig {
    ProviderConfig {
        authority: Authority::Issuer {
            url: op.issuer.clone(),
        },
        client_id: if confidential {
            "tokendesk-confidential".into()
        } else {
            "tokendesk".into()
        },
        client_secret: confidential.then(|| Secret::new(op.secret.clone())),
        scopes: Scopes::Custom("openid profile email offline_access".into()),
    }
}

/// A vault in `home` with data source "A" on the provider, configured for alice.
pub(crate) fn vault(home: &Path, op: &Op, confidential: bool) {
    let mut vault = Vault::create(home, &desk::keys(), false).expect("vault");
    let source = tokendesk::vault::DataSource::new("A", config(op, confidential), ACCOUNT);
    vault
        .update(|data| data.add_data_source(source))
        .expect("data source");
}

/// The person at the browser: a cookie jar and the provider's forms.
struct Human {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
    runtime: tokio::runtime::Runtime,
}

impl Human {
    fn new() -> Self {
        tokendesk::identity::http::install_crypto_provider();
        Human {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    /// One request; follows redirects; returns the final page.
    fn visit(&mut self, mut url: Url, mut form: Option<Vec<(String, String)>>) -> String {
        for _ in 0..10 {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let request = match form.take() {
                Some(fields) => self.http.post(url.clone()).form(&fields),
                None => self.http.get(url.clone()),
            }
            .header("cookie", cookie);
            let (status, location, body) = self.runtime.block_on(async {
                let response = request.send().await.expect("the provider answers");
                for value in response.headers().get_all("set-cookie") {
                    let pair = value.to_str().unwrap_or("").split(';').next().unwrap_or("");
                    if let Some((name, value)) = pair.split_once('=') {
                        self.cookies
                            .insert(name.trim().to_string(), value.trim().to_string());
                    }
                }
                let status = response.status().as_u16();
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .map(String::from);
                (status, location, response.text().await.unwrap_or_default())
            });
            match (status, location) {
                (300..=399, Some(location)) => url = url.join(&location).expect("redirect URL"),
                _ => return body,
            }
        }
        panic!("too many redirects");
    }

    /// The browser sign-in: opens the authorization page, signs in and consents,
    /// and follows the provider's redirect to tokendesk's listener, whose page it
    /// returns.
    fn authorize(&mut self, issuer: &Url, page_url: &str) -> String {
        let mut page = self.visit(Url::parse(page_url).expect("page URL"), None);
        for _ in 0..8 {
            if !page.contains("<form") {
                return page;
            }
            let (action, mut fields) = first_form(&page);
            if page.contains("name=\"login\"") {
                // The login_hint pre-fills the field: replace it, do not add a second.
                fields.retain(|(name, _)| name != "login" && name != "password");
                fields.push(("login".into(), USER.into()));
                fields.push(("password".into(), "any".into()));
            }
            page = self.visit(issuer.join(&action).expect("action"), Some(fields));
        }
        page
    }

    /// Enters the user code and goes through confirm, login and consent; with
    /// `abort` the person presses Abort on the confirmation page instead.
    fn approve(&mut self, issuer: &Url, user_code: &str, abort: bool) -> String {
        let mut page = self.visit(
            issuer
                .join(&format!("device?user_code={user_code}"))
                .expect("url"),
            None,
        );
        for _ in 0..8 {
            if page.contains("Sign-in Success") || !page.contains("<form") {
                return page;
            }
            let (action, mut fields) = first_form(&page);
            if page.contains("name=\"login\"") {
                fields.push(("login".into(), USER.into()));
                fields.push(("password".into(), "any".into()));
            }
            if abort && page.contains("Device Login Confirmation") {
                fields.retain(|(k, _)| k != "confirm");
                fields.push(("abort".into(), "yes".into()));
            }
            page = self.visit(issuer.join(&action).expect("action"), Some(fields));
        }
        page
    }
}

/// The action and hidden fields of the page's first form.
fn first_form(page: &str) -> (String, Vec<(String, String)>) {
    let start = page.find("<form").expect("a form");
    let end = page[start..]
        .find("</form>")
        .map_or(page.len(), |e| start + e);
    let form = &page[start..end];
    let attribute = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        tag.find(&key).map(|i| {
            let rest = &tag[i + key.len()..];
            rest[..rest.find('"').unwrap_or(rest.len())].to_string()
        })
    };
    let action = attribute(form, "action").expect("form action");
    let fields = form
        .split("<input")
        .skip(1)
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect();
    (action, fields)
}

/// Runs `sign-in --data-source A`, plays the human once the code is shown, and
/// returns the command's output.
pub(crate) fn sign_in(
    home: &Path,
    op: &Op,
    abort: bool,
    approve: bool,
) -> (std::process::Output, String) {
    let command = desk::command(
        home,
        &[
            "sign-in",
            "--data-source",
            "A",
            "--no-browser",
            "--no-clipboard",
        ],
    );
    sign_in_with(command, op, abort, approve)
}

/// `sign_in` with a `tokendesk sign-in` command made elsewhere (under Wine, say).
pub(crate) fn sign_in_with(
    mut command: Command,
    op: &Op,
    abort: bool,
    approve: bool,
) -> (std::process::Output, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sign-in");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut shown = String::new();
    let started = Instant::now();
    let code = loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            break None;
        }
        shown.push_str(&line);
        if let Some(code) = line.trim().strip_prefix("Code:") {
            break Some(code.trim().to_string());
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no code shown");
    };
    let page = match (&code, approve) {
        (Some(code), true) => Human::new().approve(&op.issuer, code, abort),
        _ => String::new(),
    };
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    shown.push_str(&rest);
    let mut output = child.wait_with_output().expect("sign-in ends");
    output.stdout = shown.into_bytes();
    (output, page)
}

#[test]
fn oidc_provider_device_flow_names_the_account_from_userinfo_and_renewals_rotate_without_replay() {
    let Some(op) = start("oidc_provider device flow", &[]) else {
        return;
    };
    let home = support::temp_dir();
    vault(home.path(), &op, false);
    let (out, page) = sign_in(home.path(), &op, false, true);
    assert!(page.contains("Sign-in Success"), "{page}");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "Signed in as {ACCOUNT} (named by the provider's userinfo endpoint)"
        )),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("the provider did not say how long"),
        "{}",
        text(&out)
    );

    // Rotation on every refresh: renew, Test Connection and token, some at once.
    for args in [
        &["renew", "--data-source", "A"][..],
        &["test", "--data-source", "A"],
        &["renew", "--all"],
    ] {
        let out = run(home.path(), args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let children: Vec<_> = (0..4)
        .map(|_| desk::spawn(home.path(), &["test", "--data-source", "A"]))
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let status = run(home.path(), &["status", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(report["tokens"][0]["state"], "healthy", "{report}");
    assert_eq!(report["tokens"][0]["expiry_basis"], "unknown", "{report}");

    // The provider does revoke the grant on a replay: had tokendesk ever sent a used
    // token, the runs above would have failed. Prove it with the stored token's
    // predecessor is not possible (it is gone); replay the current one twice.
    let vault = Vault::open(home.path(), &desk::keys()).unwrap();
    let current = vault
        .data()
        .token(&TokenTarget::data_source("A"))
        .unwrap()
        .refresh_token
        .clone()
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(support::connect(config(&op, false)));
    let first = runtime.block_on(client.refresh(&current, None, chrono::Utc::now()));
    assert!(first.result.is_ok(), "{:?}", first.result.err());
    let replay = runtime.block_on(client.refresh(&current, None, chrono::Utc::now()));
    assert_eq!(
        replay.result.unwrap_err().error.as_deref(),
        Some("invalid_grant")
    );
    let rotated = first.rotated.expect("rotated");
    let after = runtime.block_on(client.refresh(&rotated, None, chrono::Utc::now()));
    assert!(after.result.is_err(), "the replay revoked the whole grant");
}

#[test]
fn oidc_provider_access_denied_and_expired_codes_end_the_sign_in() {
    let Some(op) = start("oidc_provider denied", &[]) else {
        return;
    };
    let home = support::temp_dir();
    vault(home.path(), &op, false);
    let (out, _) = sign_in(home.path(), &op, true, true);
    assert!(!out.status.success());
    assert!(
        text(&out).to_lowercase().contains("declined"),
        "{}",
        text(&out)
    );

    let Some(short) = start("oidc_provider expired", &[("DEVICE_CODE_TTL", "2")]) else {
        return;
    };
    let home = support::temp_dir();
    vault(home.path(), &short, false);
    let (out, _) = sign_in(home.path(), &short, false, false);
    assert!(!out.status.success());
    assert!(
        text(&out).to_lowercase().contains("expired"),
        "{}",
        text(&out)
    );
}

#[test]
fn oidc_provider_confidential_client_with_client_secret_basic() {
    let Some(op) = start("oidc_provider confidential client", &[]) else {
        return;
    };
    let home = support::temp_dir();
    vault(home.path(), &op, true);
    let (out, page) = sign_in(home.path(), &op, false, true);
    assert!(page.contains("Sign-in Success"), "{page}");
    assert!(out.status.success(), "{}", text(&out));
    let out = run(home.path(), &["renew", "--data-source", "A"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// How often the provider was asked for its discovery document so far.
fn discovery_requests(op: &Op) -> u64 {
    test_count(op, "_test/discovery-count")
}

/// One of the provider's test counters (`_test/discovery-count`, `_test/refresh-count`).
pub(crate) fn test_count(op: &Op, path: &str) -> u64 {
    let url = op.issuer.join(path).expect("url");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let answer: serde_json::Value = reqwest::get(url)
            .await
            .expect("the provider answers")
            .json()
            .await
            .expect("json");
        answer["count"].as_u64().expect("count")
    })
}

#[test]
fn oidc_provider_stated_refresh_lifetime_is_honoured_and_renewals_reuse_discovery() {
    let Some(op) = start("oidc_provider stated lifetime", &[("REFRESH_TTL", "86400")]) else {
        return;
    };
    let home = support::temp_dir();
    vault(home.path(), &op, false);
    let (out, page) = sign_in(home.path(), &op, false, true);
    assert!(page.contains("Sign-in Success"), "{page}");
    assert!(out.status.success(), "{}", text(&out));
    let signed_in = chrono::Utc::now();

    // Five renewals (and one Test Connection) after the sign-in: the discovery the
    // sign-in made is reused from the vault, across processes.
    let before = discovery_requests(&op);
    let refresh_token = |home: &Path| {
        Vault::open(home, &desk::keys())
            .unwrap()
            .data()
            .token(&TokenTarget::data_source("A"))
            .unwrap()
            .refresh_token
            .as_ref()
            .map(|t| t.expose().to_string())
    };
    let mut seen = vec![refresh_token(home.path())];
    for _ in 0..5 {
        let out = run(home.path(), &["renew", "--data-source", "A"]);
        assert!(out.status.success(), "{}", text(&out));
        seen.push(refresh_token(home.path()));
    }
    seen.dedup();
    assert_eq!(
        seen.len(),
        6,
        "every renewal redeemed and stored a rotated token"
    );
    let out = run(home.path(), &["test", "--data-source", "A"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        discovery_requests(&op) - before <= 1,
        "at most one discovery request for five renewals and a test"
    );

    // The lifetime the provider states in each answer, not a guess and not Microsoft's.
    let status = run(home.path(), &["status", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    let token = &report["tokens"][0];
    assert_eq!(token["expiry_basis"], "provider", "{report}");
    let expires_at: chrono::DateTime<chrono::Utc> = token["expires_at"]
        .as_str()
        .expect("a date")
        .parse()
        .expect("RFC 3339");
    let lifetime = expires_at - signed_in;
    assert!(
        lifetime > chrono::Duration::hours(23) && lifetime <= chrono::Duration::hours(25),
        "one day from the last answer, not 90: {expires_at}"
    );
    let table = run(home.path(), &["status"]);
    assert!(!text(&table).contains("90 days"), "{}", text(&table));
}

/// Steps the window until `done` holds; the provider polls at its own interval
/// (5 s), so this waits up to a minute.
fn wait_in_window(
    harness: &mut egui_kittest::Harness<'static, tokendesk::ui::AppState>,
    what: &str,
    done: impl Fn(&egui_kittest::Harness<'static, tokendesk::ui::AppState>) -> bool,
) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        harness.step();
        if done(harness) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{what}: not within 60 s");
}

#[test]
fn oidc_provider_sign_in_from_the_window_names_and_accepts_the_configured_account() {
    use crate::gui::{harness_on, open_data_source, press, tab};
    use egui_kittest::kittest::Queryable;

    let Some(op) = start("oidc_provider window sign-in", &[]) else {
        return;
    };
    let home = support::temp_dir();
    vault(home.path(), &op, false);
    let clock = tokendesk::clock::ManualClock::new(chrono::Utc::now());
    let mut harness = harness_on(
        home.path(),
        &desk::keys(),
        &clock,
        tokendesk::ui::i18n::Lang::En,
    );
    open_data_source(&mut harness, "A");
    tab(&mut harness, "Exchange account");
    press(&mut harness, "Request Refresh Token");
    wait_in_window(&mut harness, "the code is shown", |h| {
        h.state()
            .sign_in
            .as_ref()
            .is_some_and(|d| d.authorization.is_some())
    });
    let code = harness
        .state()
        .sign_in
        .as_ref()
        .and_then(|d| d.authorization.as_ref())
        .map(|a| a.user_code.clone())
        .expect("a user code");
    for microsoft in ["Microsoft login page", "MS365", "Tenant:"] {
        assert!(
            harness
                .query_all_by_label_contains(microsoft)
                .next()
                .is_none(),
            "no Microsoft wording for another provider: {microsoft}"
        );
    }
    assert!(harness.query_by_label("Open the sign-in page").is_some());
    assert!(
        harness
            .query_by_label_contains(&format!(
                "Provider: {}",
                op.issuer.as_str().trim_end_matches('/')
            ))
            .is_some()
    );
    press(&mut harness, "Next");
    let page = Human::new().approve(&op.issuer, &code, false);
    assert!(page.contains("Sign-in Success"), "{page}");
    wait_in_window(&mut harness, "the dialog closes", |h| {
        h.state().sign_in.is_none()
    });
    let stored = || {
        Vault::open(home.path(), &desk::keys())
            .unwrap()
            .data()
            .token(&TokenTarget::data_source("A"))
            .unwrap()
            .clone()
    };
    wait_in_window(&mut harness, "the token is stored", |_| {
        stored().has_refresh_token()
    });
    let identity = stored().identity.expect("the signed-in account");
    assert_eq!(identity.username.as_deref(), Some(ACCOUNT));
    assert_eq!(identity.named_by.as_deref(), Some("userinfo"));
    assert_eq!(identity.sub.as_deref(), Some(USER));
}

#[test]
fn oidc_provider_browser_sign_in_with_pkce_stores_the_named_account() {
    let Some(op) = start("oidc_provider browser sign-in", &[]) else {
        return;
    };
    let home = support::temp_dir();
    vault(home.path(), &op, false);
    {
        let mut vault = Vault::open(home.path(), &desk::keys()).unwrap();
        vault
            .update(|data| {
                data.data_source_mut("A")?.redirect_uri = Some("http://127.0.0.1/callback".into());
                Ok(())
            })
            .unwrap();
    }
    let (child, mut stdout, line) = desk::spawn_until(
        home.path(),
        &["sign-in", "--data-source", "A", "--browser", "--no-browser"],
        "Page:",
    );
    let page_url = line.trim_start_matches("Page:").trim().to_string();
    // A forged answer first (a page that guessed the port, with another state):
    // refused, and the real one still completes.
    let redirect_uri = Url::parse(&page_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("redirect_uri");
    let forged = Human::new().visit(
        Url::parse(&format!("{redirect_uri}?state=forged&code=stolen")).unwrap(),
        None,
    );
    assert!(forged.contains("does not belong"), "{forged}");

    let done = Human::new().authorize(&op.issuer, &page_url);
    assert!(done.contains("You are signed in"), "{done}");
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    let out = child.wait_with_output().expect("sign-in ends");
    assert!(out.status.success(), "{rest}{}", text(&out));
    assert!(
        rest.contains(&format!(
            "Signed in as {ACCOUNT} (named by the provider's userinfo endpoint)"
        )),
        "{rest}"
    );
    // The code flow's refresh token rotates like the device flow's.
    let out = run(home.path(), &["renew", "--data-source", "A"]);
    assert!(out.status.success(), "{}", text(&out));
    let record = Vault::open(home.path(), &desk::keys())
        .unwrap()
        .data()
        .token(&TokenTarget::data_source("A"))
        .unwrap()
        .clone();
    assert_eq!(
        record.identity.and_then(|i| i.username).as_deref(),
        Some(ACCOUNT)
    );
}
