//! The gateway's numbers in the Prometheus text format: tokens by state, seconds
//! until each refresh token ends, hand-outs, redemptions and keep-alive results,
//! requests by status and a latency histogram.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::desk::model::RenewCounts;
use crate::desk::status::TokenRow;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0,
];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<std::collections::BTreeMap<u16, u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_micros: AtomicU64,
    hand_outs: AtomicU64,
    cache_hits: AtomicU64,
    from_memory: AtomicU64,
    redemptions_ok: AtomicU64,
    redemptions_failed: AtomicU64,
    keepalive: Mutex<KeepAliveTotals>,
}

#[derive(Default)]
struct KeepAliveTotals {
    runs: u64,
    renewed: u64,
    failed: u64,
    dead: u64,
    last: Option<DateTime<Utc>>,
}

impl Metrics {
    pub fn request(&self, status: u16, took: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(status)
            .or_insert(0) += 1;
        let seconds = took.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn hand_out(&self) {
        self.hand_outs.fetch_add(1, Ordering::Relaxed);
    }

    /// A request for a token that needs a sign-in, or is held after a failure,
    /// answered without asking the provider.
    pub fn answered_from_memory(&self) {
        self.from_memory.fetch_add(1, Ordering::Relaxed);
    }

    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn redemption(&self, ok: bool) {
        let counter = if ok {
            &self.redemptions_ok
        } else {
            &self.redemptions_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn keepalive_finished(&self, counts: Option<RenewCounts>) {
        let mut totals = self.keepalive.lock().unwrap_or_else(|e| e.into_inner());
        totals.runs += 1;
        totals.last = Some(Utc::now());
        match counts {
            Some(counts) => {
                totals.renewed += counts.renewed as u64;
                totals.failed += counts.failed as u64;
                totals.dead += counts.dead as u64;
            }
            None => totals.failed += 1,
        }
    }

    /// The whole exposition, with the token gauges computed from `rows` now.
    /// The connection table's numbers.
    pub fn render_connections(out: &mut String, open: usize, refused: u64, accept_errors: u64) {
        let _ = writeln!(
            out,
            "# HELP tokendesk_connections Client connections open now.\n# TYPE tokendesk_connections gauge\ntokendesk_connections {open}"
        );
        let _ = writeln!(
            out,
            "# HELP tokendesk_connections_refused_total Connections closed at once because the table was full (in all or for their address).\n# TYPE tokendesk_connections_refused_total counter\ntokendesk_connections_refused_total {refused}"
        );
        let _ = writeln!(
            out,
            "# HELP tokendesk_accept_errors_total Connections the system could not hand over (out of file descriptors and the like).\n# TYPE tokendesk_accept_errors_total counter\ntokendesk_accept_errors_total {accept_errors}"
        );
    }

    pub fn render(&self, rows: &[TokenRow], next_keepalive: Option<DateTime<Utc>>) -> String {
        let mut out = String::new();
        let now = Utc::now();
        out.push_str("# HELP tokendesk_tokens Tokens by state.\n# TYPE tokendesk_tokens gauge\n");
        let mut by_state = std::collections::BTreeMap::new();
        for row in rows {
            *by_state.entry(row.state.label()).or_insert(0u64) += 1;
        }
        for (state, count) in by_state {
            let _ = writeln!(
                out,
                "tokendesk_tokens{{state=\"{}\"}} {count}",
                label(state)
            );
        }
        out.push_str("# HELP tokendesk_token_expiry_seconds Seconds until a refresh token ends (absent when nobody said).\n# TYPE tokendesk_token_expiry_seconds gauge\n");
        for row in rows {
            if let Some(at) = row.expires_at {
                let _ = writeln!(
                    out,
                    "tokendesk_token_expiry_seconds{{data_source=\"{}\",user=\"{}\"}} {}",
                    label(&row.target.data_source),
                    label(row.target.app_user.as_deref().unwrap_or("")),
                    (at - now).num_seconds()
                );
            }
        }
        let simple = [
            (
                "tokendesk_hand_outs_total",
                "Access tokens handed to consumers.",
                self.hand_outs.load(Ordering::Relaxed),
            ),
            (
                "tokendesk_cache_hits_total",
                "Requests answered from the cached access token.",
                self.cache_hits.load(Ordering::Relaxed),
            ),
            (
                "tokendesk_answered_from_memory_total",
                "Requests for a token that needs a sign-in or is held after a failure, answered without asking the provider.",
                self.from_memory.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in simple {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        out.push_str("# HELP tokendesk_redemptions_total Refresh tokens redeemed for consumers, by outcome.\n# TYPE tokendesk_redemptions_total counter\n");
        let _ = writeln!(
            out,
            "tokendesk_redemptions_total{{outcome=\"ok\"}} {}",
            self.redemptions_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "tokendesk_redemptions_total{{outcome=\"failed\"}} {}",
            self.redemptions_failed.load(Ordering::Relaxed)
        );
        {
            let totals = self.keepalive.lock().unwrap_or_else(|e| e.into_inner());
            out.push_str("# HELP tokendesk_keepalive_runs_total Keep-alive runs.\n# TYPE tokendesk_keepalive_runs_total counter\n");
            let _ = writeln!(out, "tokendesk_keepalive_runs_total {}", totals.runs);
            out.push_str("# HELP tokendesk_renewals_total Keep-alive renewals by result.\n# TYPE tokendesk_renewals_total counter\n");
            for (kind, value) in [
                ("renewed", totals.renewed),
                ("failed", totals.failed),
                ("needs_sign_in", totals.dead),
            ] {
                let _ = writeln!(out, "tokendesk_renewals_total{{result=\"{kind}\"}} {value}");
            }
            out.push_str("# HELP tokendesk_keepalive_last_run_timestamp_seconds When the last keep-alive run ended.\n# TYPE tokendesk_keepalive_last_run_timestamp_seconds gauge\n");
            let _ = writeln!(
                out,
                "tokendesk_keepalive_last_run_timestamp_seconds {}",
                totals.last.map_or(0, |t| t.timestamp())
            );
        }
        out.push_str("# HELP tokendesk_keepalive_next_run_timestamp_seconds When the next keep-alive run starts.\n# TYPE tokendesk_keepalive_next_run_timestamp_seconds gauge\n");
        let _ = writeln!(
            out,
            "tokendesk_keepalive_next_run_timestamp_seconds {}",
            next_keepalive.map_or(0, |t| t.timestamp())
        );
        out.push_str("# HELP tokendesk_requests_total HTTP requests by status.\n# TYPE tokendesk_requests_total counter\n");
        for (status, count) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "tokendesk_requests_total{{status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP tokendesk_request_duration_seconds Time to answer a request.\n# TYPE tokendesk_request_duration_seconds histogram\n");
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "tokendesk_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "tokendesk_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "tokendesk_request_duration_seconds_sum {}",
            self.latency_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "tokendesk_request_duration_seconds_count {count}");
        out
    }
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
pub(super) fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
