//! The real binary in a real window under X: it must reach its first frame, and a
//! screenshot of it is saved for the README. Where Xvfb is installed the test
//! starts its own server; otherwise it uses DISPLAY. Without either the test says
//! it skipped — unless TOKENDESK_REQUIRE_DISPLAY=1 (set by .ci/run).

use crate::support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tool(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_window_opens_and_is_photographed() {
    let server =
        support::xvfb::Xvfb::available().then(|| support::xvfb::Xvfb::start("1280x800x24"));
    let display = match &server {
        Some(server) => server.display.clone(),
        None => std::env::var("DISPLAY").unwrap_or_default(),
    };
    let required = std::env::var("TOKENDESK_REQUIRE_DISPLAY").as_deref() == Ok("1");
    if display.is_empty() || !tool("xdotool") || !tool("import") {
        assert!(
            !required,
            "TOKENDESK_REQUIRE_DISPLAY=1 but DISPLAY, xdotool or ImageMagick is missing"
        );
        eprintln!("SKIPPED: no X display with xdotool and ImageMagick");
        return;
    }
    let home = support::temp_dir();
    let add = Command::new(support::bin())
        .args([
            "data-source",
            "add",
            "Exchange",
            "--tenant",
            "contoso.onmicrosoft.com",
        ])
        .args([
            "--client-id",
            "11111111-2222-3333-4444-555555555555",
            "--preset",
            "graph",
            "--account",
            "sales@contoso.com",
        ])
        .env("TOKENDESK_HOME", home.path())
        .env("TOKENDESK_PASSPHRASE", "window test")
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );

    let started = Instant::now();
    let launch = || {
        Command::new(support::bin())
            .env("TOKENDESK_HOME", home.path())
            .env("TOKENDESK_PASSPHRASE", "window test")
            .env("TOKENDESK_LANG", "en-GB")
            .env("DISPLAY", &display)
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_CONFIG_HOME", home.path())
            .env("XDG_DATA_HOME", home.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Beside 240 other tests the app twice ended before its window: once on CI
    // ("Failed to open connection to X server", on xvfb-run's display), once in three
    // local full runs (its words not kept); never alone, nor under a CPU hog. What it
    // says is printed, and it is started again, up to three times in all.
    let mut app = launch();
    let mut exits = Vec::new();
    let mut window = None;
    while started.elapsed() < Duration::from_secs(30) {
        let found = Command::new("xdotool")
            .env("DISPLAY", &display)
            .args(["search", "--onlyvisible", "--name", "^tokendesk"])
            .output()
            .unwrap();
        let id = String::from_utf8_lossy(&found.stdout)
            .lines()
            .next()
            .map(String::from);
        if id.is_some() {
            window = id;
            break;
        }
        if let Ok(Some(status)) = app.try_wait() {
            let mut stderr = String::new();
            use std::io::Read;
            app.stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            let said = format!("the app exited with {status} before showing a window: {stderr}");
            eprintln!("{said}");
            exits.push(said);
            assert!(exits.len() < 3, "{exits:#?}");
            app = launch();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let window = window.expect("a window titled tokendesk appeared within 30 s");
    let name = Command::new("xdotool")
        .env("DISPLAY", &display)
        .args(["getwindowname", &window])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&name.stdout).starts_with("tokendesk"));
    // The app icon from assets/ is on the window (the taskbar reads the same property).
    let icon = Command::new("xprop")
        .env("DISPLAY", &display)
        // Only the first two numbers, the size; the pixels are 256 KiB.
        .args(["-len", "8", "-id", &window, "_NET_WM_ICON"])
        .output()
        .unwrap();
    let icon = String::from_utf8_lossy(&icon.stdout);
    assert!(
        icon.contains("Icon (256 x 256)"),
        "no 256 px icon on the window: {}",
        icon.chars().take(200).collect::<String>()
    );
    // Give the vault a moment to open (Argon2) and the frame to be drawn.
    std::thread::sleep(Duration::from_secs(3));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("main-window.png");
    let shot = Command::new("import")
        .env("DISPLAY", &display)
        .args(["-window", "root"])
        .arg(&out)
        .status()
        .unwrap();
    let _ = app.kill();
    let _ = app.wait();
    assert!(shot.success());
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(
        size > 10_000,
        "the screenshot is suspiciously small ({size} bytes)"
    );
    println!(
        "window after {:?}; screenshot at {}",
        started.elapsed(),
        out.display()
    );
}
