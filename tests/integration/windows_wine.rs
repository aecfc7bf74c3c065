//! The Windows exe for real: the cross-built `tokendesk.exe` under Wine 10 in the
//! trixie chroot that `scripts/test-windows` makes (TOKENDESK_WINE_ROOT), against
//! the loopback provider on the host (the chroot shares the host's network). The
//! vault lands under %LOCALAPPDATA%, its key in Wine's Credential Manager; every
//! rotation is stored; two `token` processes at once make one redemption through
//! the per-token lock. Skipped unless TOKENDESK_WINE_ROOT is set, and failing then
//! when TOKENDESK_REQUIRE_WINE says Wine must be there (as `scripts/test-windows`
//! does).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::provider::{CLIENT_ID, Endpoint, PollAnswer, TestProvider};

/// The chroot with Wine, and the exe copied into it.
struct Wine {
    root: PathBuf,
}

/// Where the exe is inside the chroot.
const EXE: &str = "/opt/tokendesk/tokendesk.exe";

impl Wine {
    fn from_env(test: &str) -> Option<Wine> {
        let Some(root) = std::env::var_os("TOKENDESK_WINE_ROOT").map(PathBuf::from) else {
            assert!(
                std::env::var_os("TOKENDESK_REQUIRE_WINE").is_none(),
                "{test}: TOKENDESK_REQUIRE_WINE is set but TOKENDESK_WINE_ROOT is not"
            );
            eprintln!("SKIPPED {test}: no Wine chroot (run scripts/test-windows)");
            return None;
        };
        assert!(
            root.join(EXE.trim_start_matches('/')).is_file(),
            "{test}: {EXE} is not in {}",
            root.display()
        );
        Some(Wine { root })
    }

    /// The Windows profile of the chroot's Wine prefix.
    fn profile(&self) -> PathBuf {
        self.root.join("root/.wine/drive_c/users/root")
    }

    /// A fresh start: no vault, no stored credential of an earlier run.
    fn forget_earlier_runs(&self) {
        let _ = std::fs::remove_dir_all(self.profile().join("AppData/Local/tokendesk"));
        let _ = self.run(&["vault", "init", "--force"]);
    }

    /// `tokendesk.exe ARGS` under Wine; the environment is Wine's, plus `env`.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new("/usr/sbin/chroot");
        command
            .arg(&self.root)
            .args(["wine", EXE])
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", "/root")
            .env("WINEPREFIX", "/root/.wine")
            .env("WINEDEBUG", "-all")
            .env("XDG_RUNTIME_DIR", "/tmp")
            .env("TOKENDESK_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        command
    }

    /// Ends Wine's server, which writes the registry (the Credential Manager's
    /// store) to the prefix's files as it goes; the next command starts another.
    fn flush_registry(&self) {
        for args in [["wineserver", "-k"], ["wineserver", "-w"]] {
            let _ = Command::new("/usr/sbin/chroot")
                .arg(&self.root)
                .args(args)
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("WINEPREFIX", "/root/.wine")
                .status();
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env).output().expect("chroot wine")
    }
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn add_source(wine: &Wine, provider: &TestProvider) {
    ok(wine.run(&[
        "data-source",
        "add",
        "A",
        "--issuer-url",
        provider.issuer_url().as_str(),
        "--client-id",
        CLIENT_ID,
        "--scopes",
        "openid profile email offline_access",
        "--account",
        "sales@contoso.com",
    ]));
}

fn sign_in(wine: &Wine, provider: &TestProvider) {
    provider.script_polls(&[PollAnswer::Approve]);
    let said = ok(wine.run(&[
        "sign-in",
        "--data-source",
        "A",
        "--no-browser",
        "--no-clipboard",
    ]));
    assert!(said.contains("Signed in as"), "{said}");
}

fn file_containing(dir: &Path, needle: &[u8]) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = file_containing(&path, needle) {
                return Some(found);
            }
        } else if std::fs::read(&path)
            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        {
            return Some(path);
        }
    }
    None
}

#[test]
fn windows_wine_cli_keeps_the_vault_under_localappdata_with_its_key_in_credential_manager() {
    let Some(wine) = Wine::from_env("windows_wine cli") else {
        return;
    };
    wine.forget_earlier_runs();
    let provider = TestProvider::oidc();
    provider.set_interval(Some(1));
    add_source(&wine, &provider);
    sign_in(&wine, &provider);
    let vault = wine
        .profile()
        .join("AppData/Local/tokendesk/data/vault.tdv");
    assert!(vault.is_file(), "no vault at {}", vault.display());

    // The key is in Wine's Credential Manager (its registry), in no file of the
    // vault's folder; the refresh token is in no file in plain text.
    wine.flush_registry();
    let registry =
        std::fs::read_to_string(wine.root.join("root/.wine/user.reg")).expect("user.reg");
    assert!(
        registry.contains("Credential Manager"),
        "no credential stored in Wine's Credential Manager"
    );
    for refresh in provider.issued_refresh_tokens() {
        assert_eq!(
            file_containing(&wine.profile(), refresh.as_bytes()),
            None,
            "a refresh token in plain text"
        );
    }

    // Every rotation stored: renew and test, each against the replay-detecting
    // provider, then token and status.
    ok(wine.run(&["renew", "--data-source", "A"]));
    ok(wine.run(&["test", "--data-source", "A"]));
    let token = ok(wine.run(&["token", "--data-source", "A"]));
    assert!(!token.trim().is_empty());
    let status = ok(wine.run(&["status", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(report["tokens"][0]["state"], "healthy", "{report}");
    assert_eq!(provider.replays(), 0);
    // Four rotations (sign-in, renew, test, token), the newest stored each time:
    // the provider's one current token is the vault's, and none was replayed.
    let current: Vec<String> = provider
        .issued_refresh_tokens()
        .into_iter()
        .filter(|t| provider.grant_state(t) == crate::support::provider::GrantState::Current)
        .collect();
    assert_eq!(current.len(), 1, "one live token of the one grant");
}

#[test]
fn windows_wine_two_token_processes_at_once_make_one_redemption() {
    let Some(wine) = Wine::from_env("windows_wine lock") else {
        return;
    };
    wine.forget_earlier_runs();
    let provider = TestProvider::oidc();
    provider.set_interval(Some(1));
    provider.set_access_lifetime(1);
    add_source(&wine, &provider);
    sign_in(&wine, &provider);
    // The access token from the sign-in is gone in a second; the next one lives an
    // hour, and the provider takes two seconds to answer, so the second process
    // finds the first one's lock and then its fresh token.
    std::thread::sleep(Duration::from_secs(2));
    provider.set_access_lifetime(3600);
    provider.set_token_latency(Duration::from_secs(2));
    let before = provider.requests_to(Endpoint::Token).len();
    let children: Vec<_> = (0..2)
        .map(|_| {
            wine.command(&["token", "--data-source", "A"], &[])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("wine")
        })
        .collect();
    let mut handed = Vec::new();
    for child in children {
        handed.push(
            ok(child.wait_with_output().expect("token"))
                .trim()
                .to_string(),
        );
    }
    let redemptions = provider.requests_to(Endpoint::Token).len() - before;
    assert_eq!(redemptions, 1, "one redemption for both processes");
    assert_eq!(handed[0], handed[1], "both got the one fresh token");
    assert_eq!(provider.replays(), 0);
}
