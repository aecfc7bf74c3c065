//! The files a packager takes from `assets/`: icons in every size, the Windows .ico, the
//! freedesktop entry and the AppStream metainfo agree with each other and with the binary.

use std::path::Path;

fn asset(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_png_size_decodes_to_its_size() {
    for size in [16u32, 24, 32, 48, 64, 128, 256] {
        let icon =
            eframe::icon_data::from_png_bytes(&asset(&format!("icons/tokendesk-{size}.png")))
                .unwrap_or_else(|e| panic!("{size} px: {e}"));
        assert_eq!(
            (icon.width, icon.height),
            (size, size),
            "tokendesk-{size}.png"
        );
        // A transparent corner and an opaque centre: a real rendering, not an empty file.
        let pixel = |x: u32, y: u32| icon.rgba[((y * size + x) * 4 + 3) as usize];
        assert_eq!(pixel(0, 0), 0, "{size} px: corner should be transparent");
        assert_eq!(
            pixel(size / 2, size / 2),
            255,
            "{size} px: centre should be opaque"
        );
    }
}

#[test]
fn the_ico_holds_the_sizes_windows_asks_for() {
    let ico = asset("tokendesk.ico");
    // ICONDIR: reserved 0, type 1 (icon), count; then 16-byte entries whose first two
    // bytes are width and height (0 meaning 256).
    assert_eq!(&ico[0..4], &[0, 0, 1, 0], "not an icon file");
    let count = u16::from_le_bytes([ico[4], ico[5]]) as usize;
    let sizes: Vec<u32> = (0..count)
        .map(|i| match ico[6 + 16 * i] {
            0 => 256,
            width => u32::from(width),
        })
        .collect();
    for wanted in [16, 32, 48, 256] {
        assert!(
            sizes.contains(&wanted),
            "{wanted} px missing from the .ico: {sizes:?}"
        );
    }
}

#[test]
fn desktop_entry_and_metainfo_point_at_each_other() {
    let desktop = String::from_utf8(asset("io.github.tokendesk.Tokendesk.desktop")).unwrap();
    for line in [
        "[Desktop Entry]",
        "Type=Application",
        "Exec=tokendesk",
        "Icon=tokendesk",
        "StartupWMClass=tokendesk",
    ] {
        assert!(
            desktop.lines().any(|l| l == line),
            "desktop entry lacks {line}"
        );
    }
    let metainfo = String::from_utf8(asset("io.github.tokendesk.Tokendesk.metainfo.xml")).unwrap();
    assert!(metainfo.contains("<id>io.github.tokendesk.Tokendesk</id>"));
    assert!(metainfo.contains(
        r#"<launchable type="desktop-id">io.github.tokendesk.Tokendesk.desktop</launchable>"#
    ));
    assert!(metainfo.contains(&format!(
        r#"<release version="{}""#,
        env!("CARGO_PKG_VERSION")
    )));
}

/// The README's troubleshooting table is the engine's own table: every AADSTS code
/// tokendesk knows, with the exact sentence the admin sees.
#[test]
fn the_readme_explains_every_aadsts_code_as_the_app_does() {
    let readme = String::from_utf8(
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap(),
    )
    .unwrap();
    for code in tokendesk::identity::error::KNOWN_AADSTS_CODES {
        let (_, message) = tokendesk::identity::error::aadsts(code).unwrap();
        let row = readme
            .lines()
            .find(|line| {
                line.starts_with('|')
                    && line.split('|').nth(1).is_some_and(|codes| {
                        codes
                            .split(',')
                            .any(|c| c.trim() == format!("AADSTS{code}"))
                    })
            })
            .unwrap_or_else(|| panic!("README has no row for AADSTS{code}"));
        assert!(
            row.contains(message),
            "README row for AADSTS{code} differs from the app:\n{row}\n{message}"
        );
    }
}
