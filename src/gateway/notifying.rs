//! The gateway tells the admins: a notification pass every little while, at once
//! after a keep-alive run, a refused redemption or a change another process made,
//! and a message of its own when the store cannot be reached and when it can again.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Gateway;
use crate::desk::model::{SystemClock, VaultData};
use crate::desk::notify::pass::{self, PassReport};

/// Notification counts for `/metrics`.
#[derive(Default)]
pub struct NotifyTotals {
    sent: AtomicU64,
    failed: AtomicU64,
}

impl NotifyTotals {
    fn add(&self, report: &PassReport) {
        self.sent.fetch_add(report.sent as u64, Ordering::Relaxed);
        self.failed
            .fetch_add(report.failed.len() as u64, Ordering::Relaxed);
    }

    pub fn render(&self, out: &mut String, data: &VaultData) {
        out.push_str("# HELP tokendesk_notifications_total Notifications this gateway tried to deliver, by result.\n# TYPE tokendesk_notifications_total counter\n");
        let _ = writeln!(
            out,
            "tokendesk_notifications_total{{result=\"sent\"}} {}\ntokendesk_notifications_total{{result=\"failed\"}} {}",
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed)
        );
        out.push_str("# HELP tokendesk_notifier_failing Whether a notifier's last delivery failed (by any gateway or keep-alive).\n# TYPE tokendesk_notifier_failing gauge\n");
        for notifier in &data.notifiers {
            let _ = writeln!(
                out,
                "tokendesk_notifier_failing{{notifier=\"{}\"}} {}",
                super::metrics::label(&notifier.name),
                u8::from(notifier.failing.is_some())
            );
        }
    }
}

impl Gateway {
    /// Asks the notification loop to look now.
    pub(super) fn wake_notifier(&self) {
        self.notify_wake.notify_one();
    }

    async fn notify_pass(&self) {
        let _writing = self.writes.clone().read_owned().await;
        let mut handle = self.vault.lock().await.another_handle();
        if handle.data().notifiers.is_empty() {
            return;
        }
        let problem = self
            .store_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let announced = self
            .store_announced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if problem != announced {
            let report = pass::announce_store(&mut handle, problem.as_deref(), &SystemClock).await;
            self.notify_totals.add(&report);
            // Tried once per change, delivered or not: a channel that is down is
            // counted in /metrics, not asked again every pass.
            *self
                .store_announced
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = problem.clone();
        }
        if problem.is_some() {
            // Nothing can be remembered in a store that cannot be reached.
            return;
        }
        match pass::run(&mut handle, &SystemClock).await {
            Ok(report) => {
                self.notify_totals.add(&report);
                for (name, error) in &report.failed {
                    tracing::warn!(notifier = %name, error = %error, "a notification was not delivered");
                }
            }
            Err(e) => tracing::warn!(error = %e, "the notification pass failed"),
        }
        self.publish(handle.shared_data());
        self.vault.lock().await.adopt(&handle);
    }
}

pub(super) async fn notify_loop(gateway: Arc<Gateway>, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
            _ = gateway.notify_wake.notified() => {}
        }
        // A shutdown does not wait for a slow channel: what was delivered and not
        // yet remembered is told again by the next pass, never lost.
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = gateway.notify_pass() => {}
        }
    }
}
