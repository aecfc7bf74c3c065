//! The window under Wine: tokendesk.exe on an Xvfb display of the host, through
//! Wine's X11 driver with OpenGL from Mesa's llvmpipe inside the chroot (egui's
//! glow renderer). It opens, draws the data sources, and opens the Edit data
//! source dialog on a click; both are photographed into target/wine-shots (the
//! README shows them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Wine, ok};
use crate::support::xvfb::Xvfb;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn on_display(display: &str, program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// The screen as a PNG.
fn photograph(display: &str, path: &Path) {
    let out = on_display(
        display,
        "import",
        &["-window", "root", path.to_str().expect("path")],
    );
    assert!(out.status.success(), "{}", super::text(&out));
}

/// How many pixels differ between two photographs.
fn pixels_changed(a: &Path, b: &Path) -> u64 {
    let out = Command::new("compare")
        .args(["-metric", "AE"])
        .arg(a)
        .arg(b)
        .arg("null:")
        .output()
        .expect("compare");
    // compare prints the count on stderr and exits 1 when the images differ.
    String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("compare: {}", super::text(&out))) as u64
}

/// The number of colours in a photograph: a window that drew nothing has one.
fn colours(path: &Path) -> u64 {
    let out = Command::new("identify")
        .args(["-format", "%k"])
        .arg(path)
        .output()
        .expect("identify");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("identify: {}", super::text(&out)))
}

#[test]
fn windows_wine_window_draws_the_data_sources_and_opens_the_edit_dialog() {
    let Some(wine) = Wine::from_env("windows_wine window") else {
        return;
    };
    if !wine.root.join("tmp/.X11-unix").is_dir() {
        panic!("the chroot has no /tmp/.X11-unix (scripts/test-windows binds the host's)");
    }
    wine.forget_earlier_runs();
    ok(wine.run(&[
        "data-source",
        "add",
        "Intrexx Portal",
        "--issuer-url",
        "https://login.microsoftonline.com/common/v2.0",
        "--client-id",
        "00000000-0000-0000-0000-000000000001",
        "--account",
        "portal@contoso.com",
    ]));
    // Its socket is in the host's /tmp/.X11-unix, which the chroot binds.
    let xvfb = Xvfb::start("1280x860x24");
    let display = xvfb.display.clone();
    let started = Instant::now();
    let window = Killed(
        wine.command(&[], &[("DISPLAY", &display)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wine"),
    );
    // The window appears once Wine and the GL context are up.
    let id = loop {
        let found = on_display(
            &display,
            "xdotool",
            &["search", "--onlyvisible", "--name", "tokendesk"],
        );
        let id = String::from_utf8_lossy(&found.stdout)
            .lines()
            .next()
            .map(str::to_string);
        if let Some(id) = id {
            break id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no tokendesk window on {display}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/wine-shots");
    std::fs::create_dir_all(&shots).expect("shots folder");
    let main = shots.join("windows-main-window.png");
    // The first frames follow the window; wait until two photographs agree.
    let mut previous = shots.join("previous.png");
    photograph(&display, &previous);
    loop {
        std::thread::sleep(Duration::from_secs(2));
        photograph(&display, &main);
        if pixels_changed(&previous, &main) == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the window never settles"
        );
        std::fs::copy(&main, &previous).expect("copy");
    }
    previous = main.clone();
    assert!(
        colours(&main) > 50,
        "the window drew nothing (OpenGL through Mesa under Wine)"
    );

    // The data source's row, then Edit: positions in the window as egui lays
    // them out at this size (its fonts are its own, not the system's).
    let click = |x: &str, y: &str| {
        let out = on_display(
            &display,
            "xdotool",
            &["mousemove", "--window", &id, x, y, "click", "1"],
        );
        assert!(out.status.success(), "{}", super::text(&out));
        std::thread::sleep(Duration::from_secs(1));
    };
    click("230", "99");
    click("341", "42");
    std::thread::sleep(Duration::from_secs(2));
    let dialog = shots.join("windows-edit-data-source.png");
    photograph(&display, &dialog);
    let changed = pixels_changed(&previous, &dialog);
    assert!(
        changed > 100_000,
        "the Edit data source dialog did not open ({changed} pixels changed)"
    );
    // The README's copies: the window alone, as Windows users see it.
    for shot in [&main, &dialog] {
        crop_to_window(&display, &id, shot);
    }
    drop(window);
    wine.flush_registry();
}

/// Cuts a photograph of the screen down to the window `id`.
fn crop_to_window(display: &str, id: &str, shot: &Path) {
    let out = on_display(display, "xdotool", &["getwindowgeometry", "--shell", id]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = |name: &str| {
        said.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {said}"))
            .to_string()
    };
    let geometry = format!(
        "{}x{}+{}+{}",
        value("WIDTH="),
        value("HEIGHT="),
        value("X="),
        value("Y=")
    );
    let out = Command::new("convert")
        .arg(shot)
        .args(["-crop", &geometry, "+repage"])
        .arg(shot)
        .output()
        .expect("convert");
    assert!(out.status.success(), "{}", super::text(&out));
}
