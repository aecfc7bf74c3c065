//! A vault in a scratch folder on a rotating, replay-detecting provider, and the real
//! `tokendesk` binary run against it: the setting of the grant-safety and chaos tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokendesk::Secret;
use tokendesk::identity::ProviderConfig;
use tokendesk::vault::crypto::KdfParams;
use tokendesk::vault::{AppUser, DataSource, KeySource, Keyring, UserMapping, Vault};

use super::provider::TestProvider;

pub const PASSPHRASE: &str = "grant safety passphrase";
pub const ACCOUNT: &str = "sales@contoso.com";
pub const OIDC_GRANT: &str = "openid profile email offline_access";

/// The keys the tests and the child processes share: a passphrase with a cheap KDF
/// (recorded in the vault header, so children open it quickly).
pub fn keys() -> KeySource {
    let store: Arc<keyring_core::CredentialStore> =
        keyring_core::mock::Store::new().expect("mock keyring");
    KeySource::with_keyring(Keyring::with_store(store))
        .with_passphrase(Secret::new(PASSPHRASE))
        .with_kdf(KdfParams::with_cost(64, 1, 1))
}

/// Creates a vault in `dir` with data source `name` on `config`, whose account and
/// `users` mapped users signed in at the provider at `at`.
pub fn add_source(
    provider: &TestProvider,
    dir: &Path,
    name: &str,
    config: ProviderConfig,
    users: usize,
    at: DateTime<Utc>,
) {
    let mut vault = match Vault::open(dir, &keys()) {
        Ok(vault) => vault,
        Err(_) => Vault::create(dir, &keys(), false).expect("create vault"),
    };
    let mut source = DataSource::new(name, config, ACCOUNT);
    source.token.refresh_token = Some(Secret::new(provider.issue_grant(ACCOUNT, OIDC_GRANT, at)));
    source.token.obtained_at = Some(at);
    for n in 0..users {
        let upn = format!("user{n}@contoso.com");
        let mut mapping = UserMapping::new(
            AppUser {
                login: format!("USER/{n}"),
                display_name: format!("User {n}"),
                email: upn.clone(),
            },
            upn.clone(),
        );
        mapping.token.refresh_token = Some(Secret::new(provider.issue_grant(&upn, OIDC_GRANT, at)));
        mapping.token.obtained_at = Some(at);
        source.push_user(mapping);
    }
    vault
        .update(|data| data.add_data_source(source))
        .expect("store data source");
}

pub fn command(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(super::bin());
    command
        .args(args)
        .env("TOKENDESK_HOME", home)
        .env("TOKENDESK_PASSPHRASE", PASSPHRASE)
        .env("TOKENDESK_LOG", "warn")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null());
    command
}

pub fn run(home: &Path, args: &[&str]) -> Output {
    command(home, args).output().expect("run tokendesk")
}

pub fn spawn(home: &Path, args: &[&str]) -> Child {
    command(home, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tokendesk")
}

pub fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Waits (bounded) until `ready` holds.
pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a write reservation (space held before the provider is asked) exists.
pub fn reservation_exists(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".vault.reserve.")
            })
        })
        .unwrap_or(false)
}

pub fn rescue_files(dir: &Path) -> Vec<PathBuf> {
    tokendesk::vault::rescue::list(dir)
}

/// A small tmpfs mounted for one test, unmounted when dropped; `None` (and a line
/// saying the test is skipped) where this machine cannot mount one.
pub struct Tmpfs {
    pub path: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(bytes: u64, test: &str) -> Option<Tmpfs> {
        let parent = super::temp_dir();
        let path = parent.path().join("disk");
        std::fs::create_dir(&path).ok()?;
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .stderr(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED {test}: this machine cannot mount a tmpfs (needs root)");
            if std::env::var_os("TOKENDESK_REQUIRE_TMPFS").is_some() {
                panic!("{test}: TOKENDESK_REQUIRE_TMPFS is set but no tmpfs could be mounted");
            }
            return None;
        }
        Some(Tmpfs {
            path,
            _parent: parent,
        })
    }

    /// Fills the file system until a write fails; returns the filler's path.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0xA5u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.flush();
        filler
    }

    pub fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .status()
            .expect("remount");
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Starts `tokendesk ARGS` with stdout piped and reads its output until a line
/// containing `marker` (at most 30 s); returns the process, the rest of its
/// stdout, and that line. The process is killed if the line never comes.
// The child goes back to the caller, which waits for it.
#[allow(clippy::zombie_processes)]
pub fn spawn_until(
    home: &Path,
    args: &[&str],
    marker: &str,
) -> (Child, std::io::BufReader<std::process::ChildStdout>, String) {
    use std::io::BufRead;
    let mut child = command(home, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tokendesk");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let started = Instant::now();
    loop {
        let mut line = String::new();
        let ended = stdout.read_line(&mut line).unwrap_or(0) == 0;
        if line.contains(marker) {
            return (child, stdout, line.trim().to_string());
        }
        if ended || started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("ends");
            panic!("no line with '{marker}' from {args:?}: {}", text(&out));
        }
    }
}
