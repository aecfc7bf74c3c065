//! pizauth's `show` beside its own server: the comparison issue 23 names. It runs
//! only when `PIZAUTH` names a pizauth binary, built from its public source
//! (github.com/ltratt/pizauth; no registry this project reaches carries it). The
//! account is authorised against the same loopback provider first, so `show`
//! prints a real access token, as `tokendesk token` does.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::provider::{CLIENT_ID, TestProvider};

pub struct Pizauth {
    bin: PathBuf,
    runtime_dir: PathBuf,
    server: Child,
    _home: tempfile::TempDir,
}

impl Pizauth {
    /// `pizauth show bench`, ready to be timed (its output taken as tokendesk's is).
    pub fn show(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(["show", "bench"])
            .env("XDG_RUNTIME_DIR", &self.runtime_dir);
        command
    }
}

impl Drop for Pizauth {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Starts pizauth's server on a config for `provider` and authorises its account;
/// `None` when `PIZAUTH` is not set.
pub fn start(provider: &TestProvider) -> Option<Pizauth> {
    let bin = PathBuf::from(std::env::var_os("PIZAUTH")?);
    let home = crate::support::temp_dir();
    let runtime_dir = home.path().join("run");
    std::fs::create_dir(&runtime_dir).expect("runtime dir");
    set_private(&runtime_dir);
    let base = provider.base_url();
    let tenant = provider.tenant();
    let base = base.as_str().trim_end_matches('/');
    let config = home.path().join("pizauth.conf");
    std::fs::write(
        &config,
        format!(
            "account \"bench\" {{\n    auth_uri = \"{base}/{tenant}/oauth2/v2.0/authorize\";\n    \
             token_uri = \"{base}/{tenant}/oauth2/v2.0/token\";\n    client_id = \"{CLIENT_ID}\";\n    \
             scopes = [\"https://graph.microsoft.com/Mail.Read\", \"offline_access\"];\n}}\n"
        ),
    )
    .expect("pizauth.conf");
    let server = Command::new(&bin)
        .args(["server", "-d", "-c"])
        .arg(&config)
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pizauth server");
    let pizauth = Pizauth {
        bin,
        runtime_dir,
        server,
        _home: home,
    };
    // The first `show` starts the authorisation and names the page.
    let url = eventually(|| {
        let out = pizauth.show().output().ok()?;
        let said = String::from_utf8_lossy(&out.stderr).to_string();
        said.split_whitespace()
            .find(|word| word.starts_with("http"))
            .map(str::to_string)
    })
    .expect("pizauth names the authorisation page");
    // The browser's part: the provider approves and sends it back to pizauth.
    let back = location(&url).expect("the provider redirects to pizauth");
    let _ = location(&back);
    eventually(|| {
        pizauth
            .show()
            .output()
            .ok()
            .filter(|out| out.status.success() && !out.stdout.is_empty())
            .map(drop)
    })
    .expect("pizauth shows a token after the authorisation");
    Some(pizauth)
}

fn set_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
}

fn eventually<T>(mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Some(value) = attempt() {
            return Some(value);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// A GET on a loopback http URL; the `Location` it answers with, if any.
fn location(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let host = url.host_str()?.trim_matches(['[', ']']).to_string();
    let port = url.port_or_known_default()?;
    let mut stream = TcpStream::connect((host.as_str(), port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("location")
            .then(|| value.trim().to_string())
    })
}
