//! `tokendesk serve --windows-service`: the gateway as the Windows service manager
//! starts it. The service manager's Stop and Shutdown end it the way Ctrl+C does:
//! never in the middle of a vault write.

use std::ffi::OsString;
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

use crate::desk::schedule::WINDOWS_SERVICE_NAME;

/// What the service runs, until the stop token is cancelled.
pub type Work = Box<dyn FnOnce(CancellationToken) -> Result<(), String> + Send>;

// The service manager calls `service_main` on its own thread with no way to pass
// it anything, so the work waits here.
static WORK: Mutex<Option<Work>> = Mutex::new(None);
static RESULT: Mutex<Option<Result<(), String>>> = Mutex::new(None);

define_windows_service!(ffi_service_main, service_main);

/// Hands the process to the service manager and returns when the service stopped.
pub fn run(work: Work) -> Result<(), String> {
    *WORK.lock().unwrap_or_else(|e| e.into_inner()) = Some(work);
    service_dispatcher::start(WINDOWS_SERVICE_NAME, ffi_service_main).map_err(|e| {
        format!(
            "--windows-service is for the Windows service manager (tokendesk service install); run `tokendesk serve` without it in a console ({e})."
        )
    })?;
    RESULT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or(Ok(()))
}

fn service_main(_arguments: Vec<OsString>) {
    let stop = CancellationToken::new();
    let on_control = {
        let stop = stop.clone();
        move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                stop.cancel();
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        }
    };
    let Ok(status) = service_control_handler::register(WINDOWS_SERVICE_NAME, on_control) else {
        return;
    };
    let report = |state: ServiceState, accepted: ServiceControlAccept, exit: ServiceExitCode| {
        let _ = status.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accepted,
            exit_code: exit,
            checkpoint: 0,
            // A vault write in progress is finished first; that takes seconds at most.
            wait_hint: Duration::from_secs(30),
            process_id: None,
        });
    };
    report(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        ServiceExitCode::Win32(0),
    );
    let work = WORK.lock().unwrap_or_else(|e| e.into_inner()).take();
    let result = work.map_or(Ok(()), |work| work(stop));
    // `sc query tokendesk-gateway` shows 1 as the service-specific exit code.
    let exit = match &result {
        Ok(()) => ServiceExitCode::Win32(0),
        Err(_) => ServiceExitCode::ServiceSpecific(1),
    };
    *RESULT.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
    report(ServiceState::Stopped, ServiceControlAccept::empty(), exit);
}
