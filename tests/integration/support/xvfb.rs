//! A private X server for one test: Xvfb on a display number it picks itself
//! (`-displayfd`), so no two servers race for one number, and ready when it says
//! its number. A test that owns its server does not depend on one started long
//! before (xvfb-run's lives through the whole build; once on CI it was gone when
//! the window test ran).

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Xvfb {
    child: Child,
    /// What the server says; a file, so a chatty server never blocks on a pipe.
    _log: tempfile::NamedTempFile,
    /// ":N", for DISPLAY.
    pub display: String,
}

impl Xvfb {
    /// Whether Xvfb is installed here.
    pub fn available() -> bool {
        Command::new("sh")
            .args(["-c", "command -v Xvfb"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts a server with one screen of `geometry` ("1280x800x24"); panics with
    /// what Xvfb said when it is not ready within 20 s.
    pub fn start(geometry: &str) -> Xvfb {
        let log = tempfile::NamedTempFile::new().expect("Xvfb's log");
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                geometry,
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("Xvfb's log"))
            .spawn()
            .expect("Xvfb");
        let mut stdout = child.stdout.take().expect("Xvfb's stdout");
        // Xvfb writes the number, then a newline, once it accepts connections; a
        // reader thread keeps the wait bounded.
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut said = Vec::new();
            let mut byte = [0u8; 1];
            while let Ok(1) = stdout.read(&mut byte) {
                if byte[0] == b'\n' {
                    break;
                }
                said.push(byte[0]);
            }
            let _ = sender.send(String::from_utf8_lossy(&said).trim().to_string());
        });
        let started = Instant::now();
        let number = receiver.recv_timeout(Duration::from_secs(20));
        let mut server = Xvfb {
            child,
            _log: log,
            display: String::new(),
        };
        match number {
            Ok(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                server.display = format!(":{n}");
                server
            }
            other => {
                let _ = server.child.kill();
                let _ = server.child.wait();
                let stderr = std::fs::read_to_string(server._log.path()).unwrap_or_default();
                panic!(
                    "Xvfb was not ready after {:?} ({other:?}): {stderr}",
                    started.elapsed()
                );
            }
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
