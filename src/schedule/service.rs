//! The gateway (`tokendesk serve`) as a service the system keeps running: a systemd
//! user service on Linux. Windows and macOS are not built yet and say so.

use std::fs;
use std::net::SocketAddr;

use super::units::{Job, systemd_word};
use super::{Platform, ScheduleError, run_tool, write};

pub const GATEWAY_SERVICE: &str = "tokendesk-gateway.service";

/// The unit: restarted when it fails, stopped with SIGTERM (the gateway finishes
/// the vault write in progress), never killed before 30 s.
pub fn systemd_gateway_service(job: &Job, listen: SocketAddr) -> String {
    let listen = listen.to_string();
    let mut command = vec![systemd_word(&job.exe.display().to_string())];
    command.extend(
        job.arguments_for(&["serve", "--listen", &listen])
            .iter()
            .map(|a| systemd_word(a)),
    );
    format!(
        "# Written by `tokendesk service install`; `tokendesk service remove` deletes it.\n\
         [Unit]\n\
         Description=tokendesk gateway: keeps refresh tokens alive and hands access tokens to applications\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         ExecStart={}\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         KillSignal=SIGTERM\n\
         TimeoutStopSec=30\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        command.join(" ")
    )
}

fn unsupported() -> ScheduleError {
    ScheduleError::Unsupported(
        "tokendesk installs its gateway as a systemd user service; on this system run `tokendesk serve` from the platform's service manager yourself.".into(),
    )
}

pub fn install(
    platform: &Platform,
    job: &Job,
    listen: SocketAddr,
) -> Result<String, ScheduleError> {
    let Platform::Systemd { unit_dir } = platform else {
        return Err(unsupported());
    };
    write(
        &unit_dir.join(GATEWAY_SERVICE),
        systemd_gateway_service(job, listen).as_bytes(),
    )?;
    run_tool("systemctl", &["--user", "daemon-reload"])?;
    run_tool("systemctl", &["--user", "enable", "--now", GATEWAY_SERVICE])?;
    Ok(format!(
        "Installed and started {GATEWAY_SERVICE}, listening on http://{listen}. On a server, also run `loginctl enable-linger $USER` so it runs while nobody is logged in."
    ))
}

/// Stops and deletes the service; removing what is not installed is not an error.
pub fn remove(platform: &Platform) -> Result<String, ScheduleError> {
    let Platform::Systemd { unit_dir } = platform else {
        return Err(unsupported());
    };
    let unit = unit_dir.join(GATEWAY_SERVICE);
    if !unit.exists() {
        return Ok("No gateway service is installed.".into());
    }
    let stopped = run_tool(
        "systemctl",
        &["--user", "disable", "--now", GATEWAY_SERVICE],
    );
    let _ = fs::remove_file(&unit);
    let _ = run_tool("systemctl", &["--user", "daemon-reload"]);
    Ok(match stopped {
        Ok(_) => format!("Stopped and removed {GATEWAY_SERVICE}."),
        Err(e) => format!("Removed the unit file of {GATEWAY_SERVICE} ({e})."),
    })
}

/// Whether it is installed and what systemd says of it.
pub fn status(platform: &Platform) -> Result<String, ScheduleError> {
    let Platform::Systemd { unit_dir } = platform else {
        return Err(unsupported());
    };
    let unit = unit_dir.join(GATEWAY_SERVICE);
    let Ok(text) = fs::read_to_string(&unit) else {
        return Ok("No gateway service is installed (tokendesk service install).".into());
    };
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or("(no ExecStart line)");
    let state = run_tool("systemctl", &["--user", "is-active", GATEWAY_SERVICE])
        .unwrap_or_else(|e| format!("unknown ({e})"));
    Ok(format!("{GATEWAY_SERVICE}: {state}\n  runs: {exec}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_serve_on_the_vault_and_stops_gently() {
        let job = Job {
            exe: "/opt/token desk/tokendesk".into(),
            vault_dir: Some("/srv/vault".into()),
            passphrase_file: Some("/etc/tokendesk/pass".into()),
        };
        let unit = systemd_gateway_service(&job, "127.0.0.1:8470".parse().unwrap());
        assert!(unit.contains(
            "ExecStart=\"/opt/token desk/tokendesk\" \"--vault-dir\" \"/srv/vault\" \"--passphrase-file\" \"/etc/tokendesk/pass\" \"serve\" \"--listen\" \"127.0.0.1:8470\"\n"
        ), "{unit}");
        assert!(unit.contains("Restart=on-failure"));
        assert!(unit.contains("KillSignal=SIGTERM"));
        assert!(unit.contains("WantedBy=default.target"));
    }
}
