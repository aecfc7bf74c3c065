//! The gateway (`tokendesk serve`) as a service the system keeps running: a systemd
//! user service on Linux (or, with `--system`, a system service running as this
//! user), a Windows service on Windows (`service_windows`). macOS is not built yet
//! and says so.

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::units::{Job, systemd_word};
use super::{Platform, ScheduleError, run_tool, write};

pub const GATEWAY_SERVICE: &str = "tokendesk-gateway.service";

/// Which systemd instance runs the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceScope {
    /// This user's systemd (`systemctl --user`): runs while the user is logged in,
    /// or always with `loginctl enable-linger`.
    User,
    /// The system's systemd, with `User=` this user: starts at boot; needs root to
    /// install.
    System,
}

impl ServiceScope {
    fn systemctl<'a>(self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = Vec::with_capacity(args.len() + 1);
        if self == ServiceScope::User {
            all.push("--user");
        }
        all.extend_from_slice(args);
        all
    }

    /// Where the unit goes: the user's unit folder, or the system's
    /// (`TOKENDESK_SYSTEMD_SYSTEM_DIR` replaces /etc/systemd/system, for tests).
    fn unit_dir(self, user_dir: &std::path::Path) -> PathBuf {
        match self {
            ServiceScope::User => user_dir.to_path_buf(),
            ServiceScope::System => std::env::var_os("TOKENDESK_SYSTEMD_SYSTEM_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/etc/systemd/system")),
        }
    }
}

/// Where the gateway listens, and the TLS certificate it presents there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayAddress {
    pub listen: SocketAddr,
    pub tls: Option<TlsFiles>,
    /// The mail relay's `serve` arguments (`--smtp ADDR` …), checked where they
    /// were parsed and passed on as they are.
    pub relay: Vec<String>,
}

/// The PEM files of the certificate (chain) and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl GatewayAddress {
    /// Plain HTTP only where no other machine can listen in.
    pub fn check(&self) -> Result<(), String> {
        if self.tls.is_none() && !self.listen.ip().is_loopback() {
            return Err(format!(
                "{} is not a loopback address. Plain HTTP is safe only on 127.0.0.1 or [::1]; to serve other machines give the certificate and key: --tls-cert FILE --tls-key FILE.",
                self.listen
            ));
        }
        Ok(())
    }

    /// Whether consumers must show a key for `/metrics` as well: anyone who can
    /// reach a non-loopback address could read the data sources' names there.
    pub fn is_public(&self) -> bool {
        !self.listen.ip().is_loopback()
    }

    pub fn url(&self, listen: SocketAddr) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{listen}")
    }

    /// `serve`'s arguments for this address, with the files' absolute paths.
    pub fn serve_arguments(&self) -> Vec<String> {
        let mut arguments = vec![
            "serve".to_string(),
            "--listen".into(),
            self.listen.to_string(),
        ];
        if let Some(tls) = &self.tls {
            let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
            arguments.push("--tls-cert".into());
            arguments.push(absolute(&tls.cert).display().to_string());
            arguments.push("--tls-key".into());
            arguments.push(absolute(&tls.key).display().to_string());
        }
        arguments.extend(self.relay.iter().cloned());
        arguments
    }
}

/// The unit: restarted when it fails, stopped with SIGTERM (the gateway finishes
/// the vault write in progress), never killed before 30 s.
pub fn systemd_gateway_service(job: &Job, address: &GatewayAddress, scope: ServiceScope) -> String {
    let serve = address.serve_arguments();
    let serve: Vec<&str> = serve.iter().map(String::as_str).collect();
    let mut command = vec![systemd_word(&job.exe.display().to_string())];
    command.extend(job.arguments_for(&serve).iter().map(|a| systemd_word(a)));
    // A system service runs as the user who owns the vault (its files are 0600).
    let (user, wanted_by) = match scope {
        ServiceScope::User => (String::new(), "default.target"),
        ServiceScope::System => (
            format!("User={}\n", systemd_word(&whoami::username())),
            "multi-user.target",
        ),
    };
    format!(
        "# Written by `tokendesk service install`; `tokendesk service remove` deletes it.\n\
         [Unit]\n\
         Description=tokendesk gateway: keeps refresh tokens alive and hands access tokens to applications\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         {user}ExecStart={}\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         KillSignal=SIGTERM\n\
         TimeoutStopSec=30\n\
         \n\
         [Install]\n\
         WantedBy={wanted_by}\n",
        command.join(" ")
    )
}

fn unsupported() -> ScheduleError {
    ScheduleError::Unsupported(
        "tokendesk installs its gateway as a systemd service or a Windows service; on this system run `tokendesk serve` from the platform's service manager yourself.".into(),
    )
}

pub fn install(
    platform: &Platform,
    job: &Job,
    address: &GatewayAddress,
    scope: ServiceScope,
) -> Result<String, ScheduleError> {
    #[cfg(windows)]
    if let Platform::TaskScheduler { .. } = platform {
        return super::service_windows::install(job, address);
    }
    let Platform::Systemd { unit_dir } = platform else {
        return Err(unsupported());
    };
    // A system service has no login session, so no Secret Service to ask.
    if scope == ServiceScope::System && job.passphrase_file.is_none() {
        return Err(ScheduleError::Unsupported(
            "A system service has no login session and so cannot reach your keyring. Protect the vault with a passphrase and install with --passphrase-file FILE (readable only by you), or install the user service (without --system).".into(),
        ));
    }
    write(
        &scope.unit_dir(unit_dir).join(GATEWAY_SERVICE),
        systemd_gateway_service(job, address, scope).as_bytes(),
    )?;
    run_tool("systemctl", &scope.systemctl(&["daemon-reload"]))?;
    run_tool(
        "systemctl",
        &scope.systemctl(&["enable", "--now", GATEWAY_SERVICE]),
    )?;
    let linger = match scope {
        ServiceScope::User => {
            " On a server, also run `loginctl enable-linger $USER` so it runs while nobody is logged in."
        }
        ServiceScope::System => " It starts at boot.",
    };
    Ok(format!(
        "Installed and started {GATEWAY_SERVICE}, listening on {}.{linger}",
        address.url(address.listen)
    ))
}

/// Stops and deletes the service; removing what is not installed is not an error.
pub fn remove(platform: &Platform, scope: ServiceScope) -> Result<String, ScheduleError> {
    #[cfg(windows)]
    if let Platform::TaskScheduler { .. } = platform {
        return super::service_windows::remove();
    }
    let Platform::Systemd { unit_dir } = platform else {
        return Err(unsupported());
    };
    let unit = scope.unit_dir(unit_dir).join(GATEWAY_SERVICE);
    if !unit.exists() {
        return Ok("No gateway service is installed.".into());
    }
    let stopped = run_tool(
        "systemctl",
        &scope.systemctl(&["disable", "--now", GATEWAY_SERVICE]),
    );
    let _ = fs::remove_file(&unit);
    let _ = run_tool("systemctl", &scope.systemctl(&["daemon-reload"]));
    Ok(match stopped {
        Ok(_) => format!("Stopped and removed {GATEWAY_SERVICE}."),
        Err(e) => format!("Removed the unit file of {GATEWAY_SERVICE} ({e})."),
    })
}

/// Whether it is installed and what systemd says of it.
pub fn status(platform: &Platform, scope: ServiceScope) -> Result<String, ScheduleError> {
    #[cfg(windows)]
    if let Platform::TaskScheduler { .. } = platform {
        return super::service_windows::status();
    }
    let Platform::Systemd { unit_dir } = platform else {
        return Err(unsupported());
    };
    let unit = scope.unit_dir(unit_dir).join(GATEWAY_SERVICE);
    let Ok(text) = fs::read_to_string(&unit) else {
        return Ok("No gateway service is installed (tokendesk service install).".into());
    };
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or("(no ExecStart line)");
    let state = run_tool(
        "systemctl",
        &scope.systemctl(&["is-active", GATEWAY_SERVICE]),
    )
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
        let address = GatewayAddress {
            listen: "127.0.0.1:8470".parse().unwrap(),
            tls: None,
            relay: Vec::new(),
        };
        let unit = systemd_gateway_service(&job, &address, ServiceScope::User);
        assert!(unit.contains(
            "ExecStart=\"/opt/token desk/tokendesk\" \"--vault-dir\" \"/srv/vault\" \"--passphrase-file\" \"/etc/tokendesk/pass\" \"serve\" \"--listen\" \"127.0.0.1:8470\"\n"
        ), "{unit}");
        assert!(unit.contains("Restart=on-failure"));
        assert!(unit.contains("KillSignal=SIGTERM"));
        assert!(unit.contains("WantedBy=default.target"));
    }

    #[test]
    fn plain_http_only_on_loopback_and_tls_files_go_into_the_unit() {
        let public = GatewayAddress {
            listen: "0.0.0.0:8443".parse().unwrap(),
            tls: None,
            relay: vec!["--smtp".into(), "0.0.0.0:587".into()],
        };
        let message = public.check().expect_err("plain HTTP for everyone");
        assert!(message.contains("--tls-cert"), "{message}");
        let with_tls = GatewayAddress {
            tls: Some(TlsFiles {
                cert: "/etc/tokendesk/gw.pem".into(),
                key: "/etc/tokendesk/gw.key".into(),
            }),
            ..public
        };
        assert!(with_tls.check().is_ok() && with_tls.is_public());
        assert_eq!(with_tls.url(with_tls.listen), "https://0.0.0.0:8443");
        let job = Job {
            exe: "/usr/bin/tokendesk".into(),
            vault_dir: None,
            passphrase_file: None,
        };
        let unit = systemd_gateway_service(&job, &with_tls, ServiceScope::System);
        assert!(unit.contains("\nUser=\"") && unit.contains("WantedBy=multi-user.target"));
        assert!(
            unit.contains(
                "\"--tls-cert\" \"/etc/tokendesk/gw.pem\" \"--tls-key\" \"/etc/tokendesk/gw.key\" \"--smtp\" \"0.0.0.0:587\""
            ),
            "{unit}"
        );
    }
}
