//! Time as a parameter: every expiry and polling decision reads "now" from a
//! [`Clock`] and waits through a [`Sleeper`], so tests can run a year in a millisecond.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub trait Sleeper: Send + Sync {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Any clock behind an `Arc`, for code that needs a `Clone + 'static` clock (the
/// keep-alive's workers) while the app holds whichever clock it was started with.
#[derive(Clone)]
pub struct SharedClock(pub Arc<dyn Clock>);

impl Clock for SharedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

/// A clock that only moves when told to. Its [`Sleeper`] side advances the clock
/// instead of waiting and remembers every wait, so a test can assert the intervals.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualClockState>>,
}

#[derive(Debug)]
struct ManualClockState {
    now: DateTime<Utc>,
    waits: Vec<Duration>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            inner: Arc::new(Mutex::new(ManualClockState {
                now: start,
                waits: Vec::new(),
            })),
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut state = self.lock();
        state.now += by;
    }

    pub fn set(&self, now: DateTime<Utc>) {
        self.lock().now = now;
    }

    /// Every duration slept through this clock, in order.
    pub fn waits(&self) -> Vec<Duration> {
        self.lock().waits.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualClockState> {
        // A poisoned clock only means another test thread panicked; the time is still valid.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.lock().now
    }
}

impl Sleeper for ManualClock {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        {
            let mut state = self.lock();
            state.waits.push(duration);
            state.now += chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        }
        // Yield so that a cancellation raised meanwhile is seen, as with a real sleep.
        tokio::task::yield_now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}
