//! The device authorization grant (RFC 8628) as a state machine: it decides when to
//! poll and what each answer means, while the caller supplies the clock, the sleeps
//! and the HTTP calls. Tests drive a 15-minute flow in virtual time this way.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use url::Url;

use super::error::{ErrorKind, IdentityError};
use super::http::HttpResponse;
use super::token::{TokenSet, number_or_string};
use crate::secret::Secret;

/// RFC 8628 §3.2: five seconds when the provider names no interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// RFC 8628 §3.5: every `slow_down` adds five seconds for all later polls.
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Network blips in a row tolerated while polling before giving up.
pub const MAX_TRANSIENT_FAILURES: u32 = 5;

/// What the provider handed out for one sign-in.
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    pub device_code: Secret,
    pub user_code: String,
    pub verification_uri: Url,
    pub verification_uri_complete: Option<Url>,
    pub expires_at: DateTime<Utc>,
    pub interval: Duration,
    pub message: Option<String>,
    pub issued_at: DateTime<Utc>,
}

#[derive(Deserialize)]
pub(crate) struct DeviceAuthorizationResponse {
    device_code: Secret,
    user_code: String,
    #[serde(default)]
    verification_uri: Option<String>,
    /// Older Microsoft endpoints and some providers use this spelling.
    #[serde(default)]
    verification_url: Option<String>,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    #[serde(deserialize_with = "number_or_string")]
    expires_in: Option<i64>,
    #[serde(default, deserialize_with = "number_or_string")]
    interval: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

/// The device authorization endpoint's answer, or the error it carries.
pub fn authorization_from(
    response: &HttpResponse,
    now: DateTime<Utc>,
) -> Result<DeviceAuthorization, IdentityError> {
    if !response.is_success() {
        return Err(response.error());
    }
    let parsed: DeviceAuthorizationResponse = response.json("device code answer")?;
    parsed.into_authorization(now)
}

impl DeviceAuthorizationResponse {
    pub(crate) fn into_authorization(
        self,
        now: DateTime<Utc>,
    ) -> Result<DeviceAuthorization, IdentityError> {
        let bad = |why: &str| {
            IdentityError::transient(format!(
                "The provider's device code answer is incomplete: {why}."
            ))
        };
        if self.user_code.trim().is_empty() {
            return Err(bad("no user_code"));
        }
        if self.device_code.is_empty() {
            return Err(bad("no device_code"));
        }
        let uri = self
            .verification_uri
            .or(self.verification_url)
            .ok_or_else(|| bad("no verification_uri"))?;
        let verification_uri =
            parse_page(&uri).ok_or_else(|| bad("the verification_uri is not an http(s) URL"))?;
        // A "complete" page on another host than the one shown would send the user
        // somewhere the terminal never named: such a page is not used.
        let verification_uri_complete = self
            .verification_uri_complete
            .as_deref()
            .and_then(parse_page)
            .filter(|complete| {
                complete.host_str().map(str::to_ascii_lowercase)
                    == verification_uri.host_str().map(str::to_ascii_lowercase)
                    && complete.port_or_known_default() == verification_uri.port_or_known_default()
                    && complete.scheme() == verification_uri.scheme()
            });
        let expires_in = self.expires_in.ok_or_else(|| bad("no expires_in"))?;
        if expires_in <= 0 {
            return Err(bad("expires_in is not positive"));
        }
        let interval = match self.interval {
            Some(seconds) if seconds > 0 => Duration::from_secs(seconds.min(300) as u64),
            _ => DEFAULT_INTERVAL,
        };
        Ok(DeviceAuthorization {
            device_code: self.device_code,
            // Shown large, copied and typed by a person: never raw control characters.
            user_code: crate::text::escape(self.user_code.trim()),
            verification_uri,
            verification_uri_complete,
            expires_at: now + chrono::Duration::seconds(expires_in.min(24 * 3600)),
            interval,
            message: self.message.map(|m| crate::text::escape(&m)),
            issued_at: now,
        })
    }
}

fn parse_page(value: &str) -> Option<Url> {
    Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
}

impl DeviceAuthorization {
    pub fn seconds_left(&self, now: DateTime<Utc>) -> i64 {
        (self.expires_at - now).num_seconds().max(0)
    }

    /// The page to open: the one with the code filled in when the provider offers it.
    pub fn page_to_open(&self) -> &Url {
        self.verification_uri_complete
            .as_ref()
            .unwrap_or(&self.verification_uri)
    }
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollAction {
    /// Sleep this long, then ask again for the next action.
    Wait(Duration),
    /// Send one token request now and feed the answer to [`DevicePoller::on_answer`].
    Poll,
}

/// The outcome of feeding one answer to the poller.
#[derive(Debug)]
pub enum PollStep {
    Continue,
    Done(TokenSet),
    Failed(IdentityError),
}

#[derive(Debug, Clone)]
pub struct DevicePoller {
    interval: Duration,
    expires_at: DateTime<Utc>,
    next_poll_at: DateTime<Utc>,
    transient_failures: u32,
    polls: u32,
}

impl DevicePoller {
    pub fn new(authorization: &DeviceAuthorization) -> Self {
        DevicePoller {
            interval: authorization.interval,
            expires_at: authorization.expires_at,
            next_poll_at: authorization.issued_at + to_chrono(authorization.interval),
            transient_failures: 0,
            polls: 0,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn polls(&self) -> u32 {
        self.polls
    }

    /// The next step at `now`, or the expiry error once the code's lifetime is over.
    pub fn next_action(&self, now: DateTime<Utc>) -> Result<PollAction, IdentityError> {
        if now >= self.expires_at {
            return Err(expired());
        }
        if now >= self.next_poll_at {
            return Ok(PollAction::Poll);
        }
        // Never sleep past the deadline: the expiry must be reported on time.
        let until = self.next_poll_at.min(self.expires_at);
        Ok(PollAction::Wait(
            (until - now).to_std().unwrap_or(Duration::ZERO),
        ))
    }

    pub fn on_answer(
        &mut self,
        answer: Result<TokenSet, IdentityError>,
        now: DateTime<Utc>,
    ) -> PollStep {
        self.polls += 1;
        let error = match answer {
            Ok(tokens) => return PollStep::Done(tokens),
            Err(error) => error,
        };
        match error.error.as_deref() {
            Some("authorization_pending") => {
                self.transient_failures = 0;
                self.schedule(now, self.interval);
                return PollStep::Continue;
            }
            Some("slow_down") => {
                self.transient_failures = 0;
                self.interval += SLOW_DOWN_STEP;
                self.schedule(now, self.interval);
                return PollStep::Continue;
            }
            _ => {}
        }
        if error.kind == ErrorKind::Transient {
            self.transient_failures += 1;
            if self.transient_failures < MAX_TRANSIENT_FAILURES {
                let wait = error
                    .retry_after
                    .map_or(self.interval, |r| r.max(self.interval));
                self.schedule(now, wait);
                return PollStep::Continue;
            }
        }
        PollStep::Failed(error)
    }

    fn schedule(&mut self, now: DateTime<Utc>, wait: Duration) {
        self.next_poll_at = now + to_chrono(wait);
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

fn expired() -> IdentityError {
    let mut error = IdentityError::new(
        ErrorKind::Expired,
        "The sign-in code expired before the sign-in was finished. Request a new code and enter it within its validity.",
    );
    error.error = Some("expired_token".into());
    error
}

/// Progress reported while waiting, for countdowns and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollEvent {
    Waiting {
        seconds_left: i64,
        interval: Duration,
    },
    Polled {
        polls: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorization(now: DateTime<Utc>, interval: u64, expires_in: i64) -> DeviceAuthorization {
        DeviceAuthorization {
            device_code: Secret::new("dc"),
            user_code: "ABCD-EFGH".into(),
            verification_uri: Url::parse("https://microsoft.com/devicelogin").unwrap(),
            verification_uri_complete: None,
            expires_at: now + chrono::Duration::seconds(expires_in),
            interval: Duration::from_secs(interval),
            message: None,
            issued_at: now,
        }
    }

    fn oauth_error(name: &str) -> IdentityError {
        let mut e = IdentityError::new(ErrorKind::AdminAction, name);
        e.error = Some(name.into());
        e
    }

    #[test]
    fn waits_interval_then_polls() {
        let t0 = Utc::now();
        let poller = DevicePoller::new(&authorization(t0, 5, 900));
        assert_eq!(
            poller.next_action(t0).unwrap(),
            PollAction::Wait(Duration::from_secs(5))
        );
        assert_eq!(
            poller
                .next_action(t0 + chrono::Duration::seconds(5))
                .unwrap(),
            PollAction::Poll
        );
    }

    #[test]
    fn slow_down_adds_five_seconds_for_good() {
        let t0 = Utc::now();
        let mut poller = DevicePoller::new(&authorization(t0, 5, 900));
        let t1 = t0 + chrono::Duration::seconds(5);
        assert!(matches!(
            poller.on_answer(Err(oauth_error("slow_down")), t1),
            PollStep::Continue
        ));
        assert_eq!(
            poller.next_action(t1).unwrap(),
            PollAction::Wait(Duration::from_secs(10))
        );
        let t2 = t1 + chrono::Duration::seconds(10);
        assert!(matches!(
            poller.on_answer(Err(oauth_error("authorization_pending")), t2),
            PollStep::Continue
        ));
        assert_eq!(
            poller.next_action(t2).unwrap(),
            PollAction::Wait(Duration::from_secs(10))
        );
    }

    #[test]
    fn deadline_ends_polling() {
        let t0 = Utc::now();
        let poller = DevicePoller::new(&authorization(t0, 5, 7));
        let t1 = t0 + chrono::Duration::seconds(3);
        assert_eq!(
            poller.next_action(t1).unwrap(),
            PollAction::Wait(Duration::from_secs(2))
        );
        assert_eq!(
            poller
                .next_action(t0 + chrono::Duration::seconds(7))
                .unwrap_err()
                .kind,
            ErrorKind::Expired
        );
    }

    #[test]
    fn transient_errors_are_tolerated_a_few_times() {
        let t0 = Utc::now();
        let mut poller = DevicePoller::new(&authorization(t0, 5, 900));
        for _ in 1..MAX_TRANSIENT_FAILURES {
            assert!(matches!(
                poller.on_answer(Err(IdentityError::transient("blip")), t0),
                PollStep::Continue
            ));
        }
        assert!(matches!(
            poller.on_answer(Err(IdentityError::transient("blip")), t0),
            PollStep::Failed(_)
        ));
    }

    #[test]
    fn parses_older_spelling_and_default_interval() {
        let response: DeviceAuthorizationResponse = serde_json::from_str(
            r#"{"device_code":"d","user_code":"U1","verification_url":"https://microsoft.com/devicelogin","expires_in":"900"}"#,
        )
        .unwrap();
        let auth = response.into_authorization(Utc::now()).unwrap();
        assert_eq!(auth.interval, DEFAULT_INTERVAL);
        assert_eq!(
            auth.verification_uri.as_str(),
            "https://microsoft.com/devicelogin"
        );
    }
}
