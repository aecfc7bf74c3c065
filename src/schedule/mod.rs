//! `tokendesk schedule`: the keep-alive as the platform's own scheduler runs it — a
//! systemd user timer on Linux, a launchd agent on macOS, a Task Scheduler task on
//! Windows — each running `tokendesk renew --due` once a day.

pub mod service;
#[cfg(windows)]
pub mod service_windows;
pub mod units;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use units::Job;
use units::{LAUNCHD_LABEL, SYSTEMD_SERVICE, SYSTEMD_TIMER, WINDOWS_TASK};

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0}")]
    Unsupported(String),
    #[error("Could not write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{command}` could not be run: {detail}")]
    Tool { command: String, detail: String },
}

/// Where this platform keeps scheduled jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platform {
    Systemd {
        unit_dir: PathBuf,
    },
    Launchd {
        agent_dir: PathBuf,
        log_dir: PathBuf,
    },
    TaskScheduler {
        scratch_dir: PathBuf,
    },
}

impl Platform {
    pub fn detect() -> Result<Platform, ScheduleError> {
        let dirs = directories::BaseDirs::new().ok_or_else(|| {
            ScheduleError::Unsupported("The home directory of this user is unknown.".into())
        })?;
        if cfg!(target_os = "windows") {
            Ok(Platform::TaskScheduler {
                scratch_dir: std::env::temp_dir(),
            })
        } else if cfg!(target_os = "macos") {
            Ok(Platform::Launchd {
                agent_dir: dirs.home_dir().join("Library/LaunchAgents"),
                log_dir: dirs.home_dir().join("Library/Logs/tokendesk"),
            })
        } else if cfg!(target_os = "linux") {
            Ok(Platform::Systemd {
                unit_dir: dirs.config_dir().join("systemd/user"),
            })
        } else {
            Err(ScheduleError::Unsupported(
                "tokendesk schedules its keep-alive with systemd, launchd or the Windows Task Scheduler; on this system, run `tokendesk renew --due` daily from cron.".into(),
            ))
        }
    }
}

fn run_tool(program: &str, args: &[&str]) -> Result<String, ScheduleError> {
    let command = format!("{program} {}", args.join(" "));
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| ScheduleError::Tool {
            command: command.clone(),
            detail: if e.kind() == std::io::ErrorKind::NotFound {
                format!("{program} is not installed or not on PATH")
            } else {
                e.to_string()
            },
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_string();
    if output.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        Err(ScheduleError::Tool {
            command,
            detail: if stderr.is_empty() {
                format!("it exited with {}", output.status)
            } else {
                stderr
            },
        })
    }
}

fn write(path: &Path, contents: &[u8]) -> Result<(), ScheduleError> {
    let fail = |source| ScheduleError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(fail)?;
    }
    fs::write(path, contents).map_err(fail)
}

/// Writes and activates the daily job. Returns what an admin should read.
pub fn install(platform: &Platform, job: &Job) -> Result<String, ScheduleError> {
    match platform {
        Platform::Systemd { unit_dir } => {
            let service = unit_dir.join(SYSTEMD_SERVICE);
            write(&service, units::systemd_service(job).as_bytes())?;
            write(
                &unit_dir.join(SYSTEMD_TIMER),
                units::systemd_timer().as_bytes(),
            )?;
            run_tool("systemctl", &["--user", "daemon-reload"])?;
            run_tool("systemctl", &["--user", "enable", "--now", SYSTEMD_TIMER])?;
            Ok(format!(
                "Installed {SYSTEMD_TIMER} (daily, up to 1 h random delay) running:\n  {}\nOn a server, also run `loginctl enable-linger $USER` so it runs while nobody is logged in.",
                command_line(job)
            ))
        }
        Platform::Launchd { agent_dir, log_dir } => {
            let plist = agent_dir.join(format!("{LAUNCHD_LABEL}.plist"));
            fs::create_dir_all(log_dir).map_err(|source| ScheduleError::Write {
                path: log_dir.clone(),
                source,
            })?;
            write(&plist, units::launchd_plist(job, log_dir).as_bytes())?;
            let path = plist.display().to_string();
            // Reinstalling: unload the old agent first; failing to is fine.
            let _ = run_tool("launchctl", &["unload", &path]);
            run_tool("launchctl", &["load", "-w", &path])?;
            Ok(format!(
                "Installed the launchd agent {LAUNCHD_LABEL} (daily at 03:17) running:\n  {}\nIts output goes to {}.",
                command_line(job),
                log_dir.join("keepalive.log").display()
            ))
        }
        Platform::TaskScheduler { scratch_dir } => {
            let xml = units::task_scheduler_xml(job, chrono::Local::now().date_naive());
            // schtasks reads the task XML as UTF-16 with a byte-order mark.
            let mut bytes = vec![0xFF, 0xFE];
            bytes.extend(xml.encode_utf16().flat_map(u16::to_le_bytes));
            let file = scratch_dir.join("tokendesk-keepalive.xml");
            write(&file, &bytes)?;
            let result = run_tool(
                "schtasks",
                &[
                    "/Create",
                    "/TN",
                    WINDOWS_TASK,
                    "/XML",
                    &file.display().to_string(),
                    "/F",
                ],
            );
            let _ = fs::remove_file(&file);
            result?;
            Ok(format!(
                "Installed the scheduled task \"{WINDOWS_TASK}\" (daily, up to 1 h random delay) running:\n  {}",
                command_line(job)
            ))
        }
    }
}

/// Deactivates and deletes the job. Removing what is not installed is not an error.
pub fn remove(platform: &Platform) -> Result<String, ScheduleError> {
    match platform {
        Platform::Systemd { unit_dir } => {
            let timer = unit_dir.join(SYSTEMD_TIMER);
            if !timer.exists() && !unit_dir.join(SYSTEMD_SERVICE).exists() {
                return Ok("No keep-alive schedule is installed.".into());
            }
            // Disabling a timer systemd never loaded fails; the files go regardless.
            let disabled = run_tool("systemctl", &["--user", "disable", "--now", SYSTEMD_TIMER]);
            let _ = fs::remove_file(&timer);
            let _ = fs::remove_file(unit_dir.join(SYSTEMD_SERVICE));
            let _ = run_tool("systemctl", &["--user", "daemon-reload"]);
            Ok(match disabled {
                Ok(_) => format!("Removed {SYSTEMD_TIMER}."),
                Err(e) => format!("Removed the unit files of {SYSTEMD_TIMER} ({e})."),
            })
        }
        Platform::Launchd { agent_dir, .. } => {
            let plist = agent_dir.join(format!("{LAUNCHD_LABEL}.plist"));
            if !plist.exists() {
                return Ok("No keep-alive schedule is installed.".into());
            }
            let _ = run_tool("launchctl", &["unload", "-w", &plist.display().to_string()]);
            fs::remove_file(&plist).map_err(|source| ScheduleError::Write {
                path: plist.clone(),
                source,
            })?;
            Ok(format!("Removed the launchd agent {LAUNCHD_LABEL}."))
        }
        Platform::TaskScheduler { .. } => {
            if run_tool("schtasks", &["/Query", "/TN", WINDOWS_TASK]).is_err() {
                return Ok("No keep-alive schedule is installed.".into());
            }
            run_tool("schtasks", &["/Delete", "/TN", WINDOWS_TASK, "/F"])?;
            Ok(format!("Removed the scheduled task \"{WINDOWS_TASK}\"."))
        }
    }
}

/// What is installed, and when the scheduler runs it next.
pub fn show(platform: &Platform) -> Result<String, ScheduleError> {
    match platform {
        Platform::Systemd { unit_dir } => {
            let service = unit_dir.join(SYSTEMD_SERVICE);
            let Ok(text) = fs::read_to_string(&service) else {
                return Ok(not_installed());
            };
            let exec = text
                .lines()
                .find_map(|l| l.strip_prefix("ExecStart="))
                .unwrap_or("(no ExecStart line)");
            let next = run_tool(
                "systemctl",
                &[
                    "--user",
                    "list-timers",
                    "--all",
                    "--no-pager",
                    SYSTEMD_TIMER,
                ],
            )
            .unwrap_or_else(|e| format!("Next run unknown: {e}"));
            Ok(format!(
                "Installed: {}\nRuns: {exec}\n{next}",
                unit_dir.join(SYSTEMD_TIMER).display()
            ))
        }
        Platform::Launchd { agent_dir, .. } => {
            let plist = agent_dir.join(format!("{LAUNCHD_LABEL}.plist"));
            if !plist.exists() {
                return Ok(not_installed());
            }
            let state = run_tool("launchctl", &["list", LAUNCHD_LABEL])
                .map(|_| "loaded".to_string())
                .unwrap_or_else(|e| format!("not loaded ({e})"));
            Ok(format!(
                "Installed: {}\nState: {state}\nNext run: daily at 03:17 local time.",
                plist.display()
            ))
        }
        Platform::TaskScheduler { .. } => {
            match run_tool(
                "schtasks",
                &["/Query", "/TN", WINDOWS_TASK, "/V", "/FO", "LIST"],
            ) {
                Ok(details) => Ok(details
                    .lines()
                    .filter(|l| {
                        [
                            "TaskName",
                            "Next Run Time",
                            "Status",
                            "Task To Run",
                            "Last Run Time",
                        ]
                        .iter()
                        .any(|k| l.trim_start().starts_with(k))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")),
                Err(_) => Ok(not_installed()),
            }
        }
    }
}

fn not_installed() -> String {
    "No keep-alive schedule is installed. Install one with: tokendesk schedule install".into()
}

fn command_line(job: &Job) -> String {
    let mut words = vec![job.exe.display().to_string()];
    words.extend(job.arguments());
    words
        .iter()
        .map(|w| {
            if w.contains(' ') {
                format!("\"{w}\"")
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
