//! `tokendesk schedule` on Linux: the systemd user units are written where systemd
//! looks for them and switched on with systemctl. CI containers run no systemd user
//! instance, so a `systemctl` on PATH records what it was asked and answers as
//! systemd would; the unit files themselves are the real output.
#![cfg(target_os = "linux")]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::support;

fn systemctl_stand_in(bin: &Path, log: &Path) {
    let script = bin.join("systemctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\ncase \"$*\" in\n  *list-timers*) echo 'NEXT                        LEFT     LAST PASSED UNIT                     ACTIVATES'; echo 'Mon 2026-11-23 00:41:07 UTC 16h left -    -      tokendesk-keepalive.timer tokendesk-keepalive.service';;\nesac\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn schedule(home: &Path, path: &str, action: &str) -> Output {
    Command::new(support::bin())
        .args([
            "--vault-dir",
            &home.join("vault dir").display().to_string(),
            "schedule",
            action,
        ])
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("PATH", path)
        .env_remove("TOKENDESK_HOME")
        .output()
        .expect("run tokendesk")
}

#[test]
fn install_show_and_remove_the_systemd_timer() {
    let home = support::temp_dir();
    let home = home.path();
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = home.join("systemctl.log");
    systemctl_stand_in(&bin, &log);
    let path = format!("{}:/usr/bin:/bin", bin.display());

    let installed = schedule(home, &path, "install");
    let out = String::from_utf8_lossy(&installed.stdout);
    assert!(
        installed.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    assert!(out.contains("loginctl enable-linger"), "{out}");
    let units = home.join("config/systemd/user");
    let service = std::fs::read_to_string(units.join("tokendesk-keepalive.service")).unwrap();
    let exec = format!(
        "ExecStart=\"{}\" \"--vault-dir\" \"{}\" \"renew\" \"--due\"",
        support::bin().display(),
        home.join("vault dir").display()
    );
    assert!(service.lines().any(|l| l == exec), "{service}");
    assert!(units.join("tokendesk-keepalive.timer").exists());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "--user daemon-reload\n--user enable --now tokendesk-keepalive.timer\n"
    );

    let shown = schedule(home, &path, "show");
    let out = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success());
    assert!(out.contains("Mon 2026-11-23 00:41:07 UTC"), "{out}");
    assert!(out.contains("renew"), "{out}");

    let removed = schedule(home, &path, "remove");
    assert!(removed.status.success());
    assert!(!units.join("tokendesk-keepalive.timer").exists());
    assert!(!units.join("tokendesk-keepalive.service").exists());
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("--user disable --now tokendesk-keepalive.timer\n")
    );
    let shown = schedule(home, &path, "show");
    assert!(String::from_utf8_lossy(&shown.stdout).contains("No keep-alive schedule is installed"));
}

#[test]
fn without_systemctl_install_says_so() {
    let home = support::temp_dir();
    let empty = home.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let failed = schedule(home.path(), &empty.display().to_string(), "install");
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("systemctl is not installed or not on PATH"),
        "{err}"
    );
}

#[test]
fn show_warns_when_a_daily_job_cannot_keep_a_short_window_alive() {
    use crate::support::desk;
    let home = support::temp_dir();
    let home = home.path();
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    systemctl_stand_in(&bin, &home.join("systemctl.log"));
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let vault_dir = home.join("vault dir");
    let provider = crate::support::provider::TestProvider::oidc();
    desk::add_source(
        &provider,
        &vault_dir,
        "Portal",
        crate::support::oidc_config(&provider),
        0,
        chrono::Utc::now(),
    );
    let mut vault = tokendesk::vault::Vault::open(&vault_dir, &desk::keys()).unwrap();
    vault
        .update(|data| {
            data.data_source_mut("Portal")?.refresh_rule = Some(tokendesk::vault::RefreshRule {
                days: 1,
                counted_from: tokendesk::vault::RuleStart::LastUse,
            });
            Ok(())
        })
        .unwrap();
    let shown = Command::new(support::bin())
        .args([
            "--vault-dir",
            &vault_dir.display().to_string(),
            "schedule",
            "show",
        ])
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("PATH", path)
        .env("TOKENDESK_PASSPHRASE", desk::PASSPHRASE)
        .env_remove("TOKENDESK_HOME")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&shown.stdout);
    assert!(
        out.contains("'Portal' die after 24 hours without use: a daily job cannot keep them alive"),
        "{out}{}",
        String::from_utf8_lossy(&shown.stderr)
    );
}

#[test]
fn the_gateway_is_installed_as_a_systemd_user_service_and_removed() {
    let home = support::temp_dir();
    let home = home.path();
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = home.join("systemctl.log");
    systemctl_stand_in(&bin, &log);
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let service = |args: &[&str]| {
        Command::new(support::bin())
            .args([
                "--vault-dir",
                &home.join("vault dir").display().to_string(),
                "service",
            ])
            .args(args)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("PATH", &path)
            .env_remove("TOKENDESK_HOME")
            .output()
            .expect("run tokendesk")
    };

    let refused = service(&["install", "--listen", "0.0.0.0:8470"]);
    assert!(!refused.status.success(), "plain HTTP only on loopback");
    let installed = service(&["install", "--listen", "127.0.0.1:8471"]);
    let out = String::from_utf8_lossy(&installed.stdout);
    assert!(
        installed.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let unit = std::fs::read_to_string(home.join("config/systemd/user/tokendesk-gateway.service"))
        .expect("the unit");
    let exec = format!(
        "ExecStart=\"{}\" \"--vault-dir\" \"{}\" \"serve\" \"--listen\" \"127.0.0.1:8471\"",
        support::bin().display(),
        home.join("vault dir").display()
    );
    assert!(unit.lines().any(|l| l == exec), "{unit}");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .ends_with("--user daemon-reload\n--user enable --now tokendesk-gateway.service\n")
    );
    let status = service(&["status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("serve"));
    let removed = service(&["remove"]);
    assert!(removed.status.success());
    assert!(
        !home
            .join("config/systemd/user/tokendesk-gateway.service")
            .exists()
    );
    let status = service(&["status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("No gateway service is installed"));
}

#[test]
fn the_gateway_is_installed_as_a_system_service_running_as_this_user() {
    let home = support::temp_dir();
    let home = home.path();
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = home.join("systemctl.log");
    systemctl_stand_in(&bin, &log);
    let system_dir = home.join("etc-systemd-system");
    std::fs::create_dir_all(&system_dir).unwrap();
    let passphrase = home.join("pass");
    std::fs::write(&passphrase, "system service passphrase\n").unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let service = |global: &[&str], args: &[&str]| {
        Command::new(support::bin())
            .args(["--vault-dir", &home.join("vault dir").display().to_string()])
            .args(global)
            .arg("service")
            .args(args)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("TOKENDESK_SYSTEMD_SYSTEM_DIR", &system_dir)
            .env("PATH", &path)
            .env_remove("TOKENDESK_HOME")
            .env_remove("TOKENDESK_PASSPHRASE")
            .output()
            .expect("run tokendesk")
    };
    // Without a passphrase file a system service could not open the vault.
    let refused = service(&[], &["install", "--system"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--passphrase-file"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let file = passphrase.display().to_string();
    let installed = service(&["--passphrase-file", &file], &["install", "--system"]);
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let unit = std::fs::read_to_string(system_dir.join("tokendesk-gateway.service")).unwrap();
    assert!(
        unit.contains(&format!("User=\"{}\"", whoami::username())),
        "{unit}"
    );
    assert!(unit.contains("WantedBy=multi-user.target"), "{unit}");
    assert!(unit.contains("\"--passphrase-file\""), "{unit}");
    assert!(
        !home
            .join("config/systemd/user/tokendesk-gateway.service")
            .exists()
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.ends_with("daemon-reload\nenable --now tokendesk-gateway.service\n"),
        "systemctl without --user: {calls}"
    );
    let status = service(&[], &["status", "--system"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("serve"));
    assert!(service(&[], &["remove", "--system"]).status.success());
    assert!(!system_dir.join("tokendesk-gateway.service").exists());
}
