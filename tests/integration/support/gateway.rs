//! The gateway as a real process: started, asked, killed when dropped.

use std::path::Path;
use std::process::Child;

use super::desk::{self, text};
use super::oidc_config;
use super::provider::TestProvider;
use chrono::Utc;

/// A running gateway; killed when dropped.
pub struct Served {
    pub child: Child,
    pub base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(home: &Path) -> Served {
    serve_every(home, "3600")
}

/// A gateway whose keep-alive looks for due tokens every `seconds`.
pub fn serve_every(home: &Path, seconds: &str) -> Served {
    serve_with(
        home,
        &["--listen", "127.0.0.1:0", "--keepalive-every", seconds],
    )
}

/// A gateway started with these arguments after `serve`.
pub fn serve_with(home: &Path, args: &[&str]) -> Served {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    let (child, mut stdout, line) = desk::spawn_until(home, &all, "listening on http");
    let base = line.rsplit(' ').next().expect("address").to_string();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Served { child, base }
}

/// A gateway started with `args` after `serve`, with `configure` applied to its
/// command first (a lowered open-file limit, say); its stderr goes to
/// `gateway.log` in `home`, so a chatty gateway never blocks on a full pipe.
// `Served` kills and waits for the child when dropped.
#[allow(clippy::zombie_processes)]
pub fn serve_configured(
    home: &Path,
    args: &[&str],
    configure: impl FnOnce(&mut std::process::Command),
) -> Served {
    use std::io::BufRead;
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    let log = std::fs::File::create(home.join("gateway.log")).expect("log");
    let mut command = desk::command(home, &all);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::from(log));
    configure(&mut command);
    let mut child = command.spawn().expect("start the gateway");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let started = std::time::Instant::now();
    loop {
        let mut line = String::new();
        let ended = stdout.read_line(&mut line).unwrap_or(0) == 0;
        if line.contains("listening on http") {
            let base = line.trim().rsplit(' ').next().expect("address").to_string();
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
            return Served { child, base };
        }
        if ended || started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(home.join("gateway.log")).unwrap_or_default();
            panic!("the gateway did not start: {log}");
        }
    }
}

/// The gateway's socket address, from its base URL.
pub fn address(served: &Served) -> std::net::SocketAddr {
    served
        .base
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .parse()
        .expect("address")
}

/// CPU time the process has used so far (user + system), from /proc.
#[cfg(target_os = "linux")]
pub fn cpu_time(pid: u32) -> std::time::Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = stat.rsplit_once(')').expect("stat").1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    std::time::Duration::from_millis(ticks * 1000 / per_second)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokendesk::identity::http::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

pub async fn get(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = client.get(url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// Two data sources on the rotating provider: A with one additional user, B.
pub fn setup() -> (TestProvider, tempfile::TempDir) {
    let provider = TestProvider::oidc();
    let home = super::temp_dir();
    desk::add_source(
        &provider,
        home.path(),
        "A",
        oidc_config(&provider),
        1,
        Utc::now(),
    );
    desk::add_source(
        &provider,
        home.path(),
        "B",
        oidc_config(&provider),
        0,
        Utc::now(),
    );
    (provider, home)
}

pub fn consumer(home: &Path, args: &[&str]) -> String {
    let mut all = vec!["consumer", "add"];
    all.extend_from_slice(args);
    let out = desk::run(home, &all);
    assert!(out.status.success(), "{}", text(&out));
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        key.starts_with("tdk_") && !key.contains('\n'),
        "the key alone: {key}"
    );
    key
}

/// Sends SIGTERM and waits (at most `limit`) for the gateway to exit.
#[cfg(unix)]
pub fn terminate(served: &mut Served, limit: std::time::Duration) -> std::process::ExitStatus {
    // SAFETY: signals a child this test started and still owns.
    unsafe {
        libc::kill(served.child.id() as i32, libc::SIGTERM);
    }
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = served.child.try_wait().expect("wait") {
            return status;
        }
        assert!(started.elapsed() < limit, "SIGTERM stops the gateway");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Every token in the vault is its grant's newest at the provider; returns how
/// many were redeemed at least once.
pub fn assert_every_grant_current(provider: &TestProvider, home: &Path) -> usize {
    let vault = tokendesk::vault::Vault::open(home, &desk::keys()).expect("vault");
    let mut redeemed = 0;
    for owner in vault.data().each_token() {
        let token = owner.record().refresh_token.as_ref().expect("a token");
        assert_eq!(
            provider.grant_state(token.expose()),
            super::provider::GrantState::Current,
            "{}",
            owner.account()
        );
        redeemed += usize::from(owner.record().last_redeemed_at.is_some());
    }
    redeemed
}
