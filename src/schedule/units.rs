//! The keep-alive job as each platform's scheduler wants it written: a systemd user
//! service and timer, a launchd agent, a Task Scheduler task. Pure text, so every
//! platform's file is tested on every platform.

use std::path::{Path, PathBuf};

pub const SYSTEMD_SERVICE: &str = "tokendesk-keepalive.service";
pub const SYSTEMD_TIMER: &str = "tokendesk-keepalive.timer";
pub const LAUNCHD_LABEL: &str = "io.github.tokendesk.keepalive";
pub const WINDOWS_TASK: &str = "tokendesk keep-alive";

/// What the scheduled job runs: `tokendesk [--vault-dir D] [--passphrase-file F] renew --due`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub exe: PathBuf,
    pub vault_dir: Option<PathBuf>,
    pub passphrase_file: Option<PathBuf>,
}

impl Job {
    pub fn arguments(&self) -> Vec<String> {
        self.arguments_for(&["renew", "--due"])
    }

    /// The global options that open this vault, then `command`.
    pub fn arguments_for(&self, command: &[&str]) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(dir) = &self.vault_dir {
            args.push("--vault-dir".to_string());
            args.push(dir.display().to_string());
        }
        if let Some(file) = &self.passphrase_file {
            args.push("--passphrase-file".to_string());
            args.push(file.display().to_string());
        }
        args.extend(command.iter().map(|s| s.to_string()));
        args
    }
}

/// systemd quoting: every word in double quotes, `\` and `"` escaped, and `%`
/// doubled because systemd expands specifiers in ExecStart.
pub(super) fn systemd_word(word: &str) -> String {
    let escaped = word
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%");
    format!("\"{escaped}\"")
}

pub fn systemd_service(job: &Job) -> String {
    let mut command = vec![systemd_word(&job.exe.display().to_string())];
    command.extend(job.arguments().iter().map(|a| systemd_word(a)));
    format!(
        "# Written by `tokendesk schedule install`; `tokendesk schedule remove` deletes it.\n\
         [Unit]\n\
         Description=tokendesk keep-alive: renew Microsoft 365 refresh tokens before they expire\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         # Exit code 1: some renewals failed for now; 2: someone must sign in again.\n\
         # Both leave the unit failed, so `systemctl --user --failed` shows it.\n\
         ExecStart={}\n",
        command.join(" ")
    )
}

pub fn systemd_timer() -> String {
    "# Written by `tokendesk schedule install`.\n\
     [Unit]\n\
     Description=Daily tokendesk keep-alive\n\
     \n\
     [Timer]\n\
     OnCalendar=daily\n\
     RandomizedDelaySec=1h\n\
     # A day missed while the machine was off runs at the next boot.\n\
     Persistent=true\n\
     \n\
     [Install]\n\
     WantedBy=timers.target\n"
        .to_string()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A launchd agent running daily at 03:17 local time (launchd has no random delay;
/// an odd minute keeps it away from the crowd at the full hour).
pub fn launchd_plist(job: &Job, log_dir: &Path) -> String {
    let mut arguments = vec![job.exe.display().to_string()];
    arguments.extend(job.arguments());
    let arguments: String = arguments
        .iter()
        .map(|a| format!("    <string>{}</string>\n", xml_escape(a)))
        .collect();
    let log = xml_escape(&log_dir.join("keepalive.log").display().to_string());
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>{LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
{arguments}  </array>
  <key>StartCalendarInterval</key>
  <dict>
    <key>Hour</key>
    <integer>3</integer>
    <key>Minute</key>
    <integer>17</integer>
  </dict>
  <key>StandardOutPath</key>
  <string>{log}</string>
  <key>StandardErrorPath</key>
  <string>{log}</string>
</dict>
</plist>
"#
    )
}

/// Windows command-line quoting for one argument (the rules CommandLineToArgvW reads).
fn windows_argument(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"']) {
        return arg.to_string();
    }
    let mut quoted = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                quoted.push_str(&"\\".repeat(backslashes * 2 + 1));
                quoted.push('"');
                backslashes = 0;
            }
            other => {
                quoted.push_str(&"\\".repeat(backslashes));
                quoted.push(other);
                backslashes = 0;
            }
        }
    }
    quoted.push_str(&"\\".repeat(backslashes * 2));
    quoted.push('"');
    quoted
}

/// A Task Scheduler task (for `schtasks /Create /XML`): daily, up to an hour of
/// random delay, run as soon as possible after a missed start, only with a network.
pub fn task_scheduler_xml(job: &Job, start_date: chrono::NaiveDate) -> String {
    let arguments: Vec<String> = job
        .arguments()
        .iter()
        .map(|a| windows_argument(a))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>tokendesk keep-alive: renew Microsoft 365 refresh tokens before they expire</Description>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>{start_date}T03:00:00</StartBoundary>
      <RandomDelay>PT1H</RandomDelay>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Settings>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>true</RunOnlyIfNetworkAvailable>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <ExecutionTimeLimit>PT1H</ExecutionTimeLimit>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{}</Command>
      <Arguments>{}</Arguments>
    </Exec>
  </Actions>
</Task>
"#,
        xml_escape(&job.exe.display().to_string()),
        xml_escape(&arguments.join(" "))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            exe: PathBuf::from("/opt/token desk/tokendesk"),
            vault_dir: Some(PathBuf::from("/srv/vault 100%")),
            passphrase_file: None,
        }
    }

    #[test]
    fn the_systemd_service_runs_renew_due_with_the_same_vault() {
        let service = systemd_service(&job());
        assert!(service.contains(
            "ExecStart=\"/opt/token desk/tokendesk\" \"--vault-dir\" \"/srv/vault 100%%\" \"renew\" \"--due\"\n"
        ), "{service}");
        assert!(service.contains("Type=oneshot"));
        let timer = systemd_timer();
        for line in [
            "OnCalendar=daily",
            "RandomizedDelaySec=1h",
            "Persistent=true",
            "WantedBy=timers.target",
        ] {
            assert!(timer.lines().any(|l| l == line), "timer lacks {line}");
        }
    }

    #[test]
    fn the_launchd_agent_escapes_and_lists_every_argument() {
        let mut job = job();
        job.passphrase_file = Some(PathBuf::from("/Users/a&b/pass"));
        let plist = launchd_plist(&job, Path::new("/Users/a/Library/Logs"));
        assert!(plist.contains("<string>/opt/token desk/tokendesk</string>\n    <string>--vault-dir</string>\n    <string>/srv/vault 100%</string>\n    <string>--passphrase-file</string>\n    <string>/Users/a&amp;b/pass</string>\n    <string>renew</string>\n    <string>--due</string>"), "{plist}");
        assert!(plist.contains(&format!("<string>{LAUNCHD_LABEL}</string>")));
    }

    #[test]
    fn the_windows_task_quotes_arguments_the_way_argv_reads_them() {
        assert_eq!(windows_argument("renew"), "renew");
        assert_eq!(
            windows_argument(r"C:\Program Files\x"),
            r#""C:\Program Files\x""#
        );
        assert_eq!(
            windows_argument(r"C:\dir with space\"),
            r#""C:\dir with space\\""#
        );
        assert_eq!(windows_argument(r#"say "hi""#), r#""say \"hi\"""#);
        let job = Job {
            exe: PathBuf::from(r"C:\Program Files\tokendesk\tokendesk.exe"),
            vault_dir: Some(PathBuf::from(r"D:\Vaults\Sales & Co")),
            passphrase_file: None,
        };
        let xml = task_scheduler_xml(&job, chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap());
        assert!(xml.contains(r"<Command>C:\Program Files\tokendesk\tokendesk.exe</Command>"));
        assert!(xml.contains(r#"<Arguments>--vault-dir &quot;D:\Vaults\Sales &amp; Co&quot; renew --due</Arguments>"#), "{xml}");
        assert!(xml.contains("<StartBoundary>2026-11-22T03:00:00</StartBoundary>"));
    }
}
