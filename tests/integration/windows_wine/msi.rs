//! The MSI under Wine's msiexec: installed under Program Files with its
//! Start-menu shortcut, the installed exe runs, an upgrade MSI replaces it (and
//! the older one cannot go back over it), and uninstalling removes the program
//! and leaves the vault as it was.

use std::path::{Path, PathBuf};

use super::{Wine, ok, text};

/// Where `scripts/test-windows` puts this build's MSI, and an upgrade MSI of
/// the next version whose exe ends with UPGRADE_MARK.
const MSI: &str = "Z:\\opt\\tokendesk\\tokendesk.msi";
const UPGRADE_MSI: &str = "Z:\\opt\\tokendesk\\tokendesk-upgrade.msi";
const UPGRADE_MARK: &[u8] = b"tokendesk-upgrade-test";
const INSTALLED: &str = "C:\\Program Files\\tokendesk\\tokendesk.exe";

fn msiexec(wine: &Wine, args: &[&str]) -> std::process::Output {
    super::within(
        wine.program("msiexec", args, &[]),
        std::time::Duration::from_secs(180),
    )
}

fn find_named(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if path.is_dir()
            && let Some(found) = find_named(&path, name)
        {
            return Some(found);
        }
    }
    None
}

/// The products Windows lists as installed under the name tokendesk, with
/// their versions (the uninstall entries in the machine's registry).
fn installed_versions(wine: &Wine) -> Vec<String> {
    wine.flush_registry();
    let registry =
        std::fs::read_to_string(wine.root.join("root/.wine/system.reg")).expect("system.reg");
    registry
        .split("\n\n")
        .filter(|key| key.contains("CurrentVersion\\\\Uninstall\\\\"))
        .filter(|key| key.contains("\"DisplayName\"=\"tokendesk\""))
        .filter_map(|key| {
            key.lines()
                .find_map(|l| l.strip_prefix("\"DisplayVersion\"=\""))
                .map(|v| v.trim_end_matches('"').to_string())
        })
        .collect()
}

#[test]
fn windows_wine_msi_installs_upgrades_and_uninstalls_leaving_the_vault_alone() {
    let Some(wine) = Wine::from_env("windows_wine msi") else {
        return;
    };
    let drive_c = wine.root.join("root/.wine/drive_c");
    let program = wine.drive_c(INSTALLED);
    // An installation left by a run that was cut short goes first.
    for msi in [UPGRADE_MSI, MSI] {
        let _ = msiexec(&wine, &["/x", msi, "/qn"]);
    }
    assert!(!program.exists(), "{} is still there", program.display());

    // The admin's vault, made before the install by the exe they tried first.
    wine.forget_earlier_runs();
    ok(wine.run(&[
        "data-source",
        "add",
        "Kept",
        "--issuer-url",
        "https://login.microsoftonline.com/common/v2.0",
        "--client-id",
        "00000000-0000-0000-0000-000000000001",
        "--account",
        "kept@contoso.com",
    ]));
    let vault = wine
        .profile()
        .join("AppData/Local/tokendesk/data/vault.tdv");
    let vault_before = std::fs::read(&vault).expect("vault");

    let installed = msiexec(&wine, &["/i", MSI, "/qn"]);
    assert!(installed.status.success(), "{}", text(&installed));
    let exe = std::fs::read(&program).expect("the installed exe");
    let built = std::fs::read(wine.root.join("opt/tokendesk/tokendesk.exe")).expect("exe");
    assert!(exe == built, "Program Files holds this build's exe");
    let shortcut = find_named(&drive_c, "tokendesk.lnk").expect("a Start-menu shortcut");
    assert!(
        shortcut.to_string_lossy().contains("Start Menu/Programs"),
        "{}",
        shortcut.display()
    );
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(installed_versions(&wine), [version]);
    // The installed exe runs, and finds the vault that was there.
    let said = ok(super::within(
        wine.program(INSTALLED, &["--version"], &[]),
        std::time::Duration::from_secs(180),
    ));
    assert!(said.contains(version), "{said}");
    let listed = ok(super::within(
        wine.program(INSTALLED, &["data-source", "list"], &[]),
        std::time::Duration::from_secs(180),
    ));
    assert!(listed.contains("Kept"), "{listed}");

    // The upgrade replaces the program; there is one tokendesk installed after it.
    let upgraded = msiexec(&wine, &["/i", UPGRADE_MSI, "/qn"]);
    assert!(upgraded.status.success(), "{}", text(&upgraded));
    let exe = std::fs::read(&program).expect("the upgraded exe");
    assert!(exe.ends_with(UPGRADE_MARK), "the upgrade's exe is in place");
    let versions = installed_versions(&wine);
    assert_eq!(
        versions.len(),
        1,
        "one product after the upgrade: {versions:?}"
    );
    assert_ne!(versions[0], version);
    // The older MSI does not go back over the newer one.
    let downgrade = msiexec(&wine, &["/i", MSI, "/qn"]);
    assert!(!downgrade.status.success(), "{}", text(&downgrade));
    assert!(
        std::fs::read(&program)
            .expect("exe")
            .ends_with(UPGRADE_MARK)
    );

    // Uninstalling removes the program and its shortcut, not the vault.
    let removed = msiexec(&wine, &["/x", UPGRADE_MSI, "/qn"]);
    assert!(removed.status.success(), "{}", text(&removed));
    assert!(!program.exists(), "the exe is gone");
    assert_eq!(
        find_named(&drive_c, "tokendesk.lnk"),
        None,
        "the shortcut is gone"
    );
    assert!(installed_versions(&wine).is_empty());
    assert!(
        std::fs::read(&vault).expect("the vault is still there") == vault_before,
        "the vault is untouched"
    );
}
