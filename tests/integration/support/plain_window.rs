//! The window as plain state on a vault in memory, for kittest: the vault is
//! reported open at `now`, and the worker's end is kept for the commands.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use egui_kittest::Harness;
use tokendesk::clock::ManualClock;
use tokendesk::ui::AppState;
use tokendesk::ui::i18n::{Lang, Locale};
use tokendesk::ui::worker::{DetachedWorker, Event};
use tokendesk::vault::VaultData;

pub fn window_on(
    lang: Lang,
    data: VaultData,
    now: DateTime<Utc>,
) -> (Harness<'static, AppState>, DetachedWorker) {
    window_with_clock(lang, data, ManualClock::new(now))
}

/// The same, on a clock the test moves.
pub fn window_with_clock(
    lang: Lang,
    data: VaultData,
    clock: ManualClock,
) -> (Harness<'static, AppState>, DetachedWorker) {
    window_sized(lang, data, clock, egui::vec2(1400.0, 800.0))
}

/// The same, in a window of `size` (layout tests: 900×600, 1400×900).
pub fn window_sized(
    lang: Lang,
    data: VaultData,
    clock: ManualClock,
    size: egui::Vec2,
) -> (Harness<'static, AppState>, DetachedWorker) {
    let (state, end) = AppState::detached(Locale::new(lang), Arc::new(clock));
    end.report(Event::VaultOpened(Ok(data)));
    let mut harness = Harness::builder()
        .with_size(size)
        .build_ui_state(|ui, state: &mut AppState| state.ui(ui), state);
    harness.run_steps(3);
    assert!(harness.state().data().is_some(), "the vault is shown");
    (harness, end)
}
