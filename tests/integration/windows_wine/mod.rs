//! The Windows exe for real: the cross-built `tokendesk.exe` under Wine 10 in the
//! trixie chroot that `scripts/test-windows` makes (TOKENDESK_WINE_ROOT), against
//! the loopback provider on the host (the chroot shares the host's network): the
//! CLI and its vaults (`cli`), the gateway over HTTP and its named pipe
//! (`gateway`), the gateway as a Windows service (`service`) and the MSI
//! (`msi`). Skipped unless TOKENDESK_WINE_ROOT is set, and failing then when
//! TOKENDESK_REQUIRE_WINE says Wine must be there (as `scripts/test-windows`
//! does). Wine runs one program at a time per test: the tests share one prefix
//! and run with --test-threads=1.

mod cli;
mod gateway;
mod msi;
mod oidc;
mod service;
mod window;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::provider::{CLIENT_ID, PollAnswer, TestProvider};

/// The chroot with Wine, and the exe copied into it; each `tokendesk` command
/// gets `--vault-dir` and the passphrase of the vault this handle is for.
#[derive(Clone)]
struct Wine {
    root: PathBuf,
    /// A vault folder other than the default one, as Windows names it.
    vault_dir: Option<String>,
    /// The passphrase handed over in TOKENDESK_PASSPHRASE.
    passphrase: Option<String>,
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
        Some(Wine {
            root,
            vault_dir: None,
            passphrase: None,
        })
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

    /// This handle for the vault in `dir` (a Windows path on drive C:, emptied
    /// first), protected by `passphrase` when given instead of the keyring.
    fn with_vault(&self, dir: &str, passphrase: Option<&str>) -> Wine {
        let _ = std::fs::remove_dir_all(self.drive_c(dir));
        Wine {
            root: self.root.clone(),
            vault_dir: Some(dir.to_string()),
            passphrase: passphrase.map(str::to_string),
        }
    }

    /// This handle without the passphrase: what a program that does not know it sees.
    fn without_passphrase(&self) -> Wine {
        Wine {
            passphrase: None,
            ..self.clone()
        }
    }

    /// `tokendesk.exe ARGS` under Wine; the environment is Wine's, plus `env`.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut all: Vec<&str> = Vec::new();
        if let Some(dir) = &self.vault_dir {
            all.extend(["--vault-dir", dir.as_str()]);
        }
        all.extend_from_slice(args);
        let mut command = self.program(EXE, &all, env);
        if let Some(passphrase) = &self.passphrase {
            command.env("TOKENDESK_PASSPHRASE", passphrase);
        }
        command
    }

    /// Any Windows program of the chroot (an exe path, or `msiexec`, `sc`, ...).
    fn program(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new("/usr/sbin/chroot");
        command
            .arg(&self.root)
            .args(["wine", program])
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

    /// Keeps Wine's server (and with it the service manager) running between
    /// commands, as Windows does; it otherwise ends a few seconds after the last
    /// program, taking every service with it. `flush_registry` ends it.
    fn keep_server_running(&self) {
        let status = Command::new("/usr/sbin/chroot")
            .arg(&self.root)
            .args(["wineserver", "-p"])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("WINEPREFIX", "/root/.wine")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("wineserver");
        assert!(status.success(), "wineserver -p: {status}");
        // The service manager and Wine's other system programs start with the
        // first program and keep its output open: started here on nothing, they
        // never hold the output of a command a test reads to its end.
        // (Wine's `sc query` lists nothing and exits 103; starting is its job.)
        let _ = self
            .program("sc", &["query"], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("wine sc");
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        within(self.command(args, env), Duration::from_secs(180))
    }

    /// The chroot's path of a Windows path on drive C: (`C:\\x\\y` → root/.wine/drive_c/x/y).
    fn drive_c(&self, windows: &str) -> PathBuf {
        let rest = windows
            .trim_start_matches("C:\\")
            .trim_start_matches("c:\\")
            .replace('\\', "/");
        self.root.join("root/.wine/drive_c").join(rest)
    }
}

/// Runs `command` to its end, killing it after `limit`: a Windows program that
/// hangs fails its test instead of holding the run.
fn within(mut command: Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chroot wine");
    // Read on threads that report over channels: a program Wine started on the
    // side may keep the output open after the command ended.
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            let _ = sender.send(bytes);
        });
        receiver
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("{command:?} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let collect = |receiver: std::sync::mpsc::Receiver<Vec<u8>>| {
        receiver
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{command:?} ended but its output stayed open"))
    };
    Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
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
