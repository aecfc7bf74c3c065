//! The gateway as a Windows service: created with the service manager, started
//! automatically at boot, running `tokendesk serve --windows-service`.

use std::ffi::OsString;

use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl, ServiceFailureActions,
    ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState, ServiceType,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::ScheduleError;
use super::service::GatewayAddress;
use super::units::Job;

pub const WINDOWS_SERVICE_NAME: &str = "tokendesk-gateway";

fn failed(what: &str, e: windows_service::Error) -> ScheduleError {
    // The crate's own words ("IO error in winapi call") hide the reason: name
    // Windows' error, and what to do for the ones an admin meets.
    let detail = match &e {
        windows_service::Error::Winapi(io) => match io.raw_os_error() {
            Some(5) => {
                "access denied: run it from a command prompt started as Administrator".to_string()
            }
            Some(1072) => format!(
                "{WINDOWS_SERVICE_NAME} is still being removed: it goes once it has stopped (it finishes a vault write first). Try again in a moment."
            ),
            Some(1073) => format!(
                "{WINDOWS_SERVICE_NAME} is already installed: `tokendesk service remove` first to install it with other settings."
            ),
            _ => format!("{io}"),
        },
        other => other.to_string(),
    };
    ScheduleError::Tool {
        command: what.to_string(),
        detail,
    }
}

fn manager(access: ServiceManagerAccess) -> Result<ServiceManager, ScheduleError> {
    ServiceManager::local_computer(None::<&str>, access)
        .map_err(|e| failed("open the service manager", e))
}

pub fn install(job: &Job, address: &GatewayAddress) -> Result<String, ScheduleError> {
    // The service runs as LocalSystem, which cannot read this user's Credential
    // Manager: only a passphrase file opens the vault there.
    if job.passphrase_file.is_none() {
        return Err(ScheduleError::Unsupported(
            "A Windows service runs as LocalSystem, which cannot read your Windows Credential Manager. Protect the vault with a passphrase and install with --passphrase-file FILE (a file only Administrators and SYSTEM can read).".into(),
        ));
    }
    let mut serve = address.serve_arguments();
    serve.push("--windows-service".into());
    let serve: Vec<&str> = serve.iter().map(String::as_str).collect();
    let info = ServiceInfo {
        name: OsString::from(WINDOWS_SERVICE_NAME),
        display_name: OsString::from("tokendesk gateway"),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: job.exe.clone(),
        launch_arguments: job
            .arguments_for(&serve)
            .into_iter()
            .map(OsString::from)
            .collect(),
        dependencies: vec![],
        account_name: None,
        account_password: None,
    };
    let manager = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
    let service = manager
        .create_service(
            &info,
            ServiceAccess::CHANGE_CONFIG | ServiceAccess::START | ServiceAccess::QUERY_STATUS,
        )
        .map_err(|e| failed("create the service", e))?;
    let _ = service.set_description(
        "Keeps refresh tokens alive and hands access tokens to applications (tokendesk serve).",
    );
    // A gateway that ended on an internal error comes back, as systemd's
    // Restart=on-failure does for the Linux service; not a reason to refuse the install.
    let restart = ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: std::time::Duration::from_secs(5),
    };
    if let Err(e) = service.update_failure_actions(ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(std::time::Duration::from_secs(86_400)),
        reboot_msg: None,
        command: None,
        actions: Some(vec![restart.clone(), restart.clone(), restart]),
    }) {
        tracing::warn!(error = %e, "the service will not be restarted after a failure");
    }
    service
        .start(&[] as &[&str])
        .map_err(|e| failed("start the service", e))?;
    Ok(format!(
        "Installed and started the Windows service {WINDOWS_SERVICE_NAME}, listening on {}. It starts with Windows.",
        address.url(address.listen)
    ))
}

/// Stops and deletes the service; removing what is not installed is not an error.
pub fn remove() -> Result<String, ScheduleError> {
    let manager = manager(ServiceManagerAccess::CONNECT)?;
    let Ok(service) = manager.open_service(
        WINDOWS_SERVICE_NAME,
        ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
    ) else {
        return Ok("No gateway service is installed.".into());
    };
    // Deleted now, gone once it has stopped (it finishes a vault write first).
    service
        .delete()
        .map_err(|e| failed("delete the service", e))?;
    if let Ok(status) = service.query_status()
        && status.current_state != ServiceState::Stopped
    {
        let _ = service.stop();
    }
    Ok(format!("Stopped and removed {WINDOWS_SERVICE_NAME}."))
}

pub fn status() -> Result<String, ScheduleError> {
    let manager = manager(ServiceManagerAccess::CONNECT)?;
    let Ok(service) = manager.open_service(
        WINDOWS_SERVICE_NAME,
        ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG,
    ) else {
        return Ok(format!("{WINDOWS_SERVICE_NAME}: not installed"));
    };
    let state = service
        .query_status()
        .map(|s| format!("{:?}", s.current_state).to_lowercase())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let runs = service
        .query_config()
        .map(|c| c.executable_path.display().to_string())
        .unwrap_or_default();
    Ok(format!("{WINDOWS_SERVICE_NAME}: {state}\n  runs: {runs}"))
}
