//! Keeping every stored token alive without anyone clicking: which tokens are due,
//! and a run that renews them with bounded concurrency.

pub mod due;
pub mod engine;
mod report;
mod workers;

pub use due::{Decision, decide, jitter};
pub use engine::{
    RenewOptions, RenewOutcome, RenewReport, RenewResult, Selection, renew, renew_publishing,
};
