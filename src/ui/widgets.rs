//! Small pieces shared by the dialogs.

use crate::desk::model::TokenState;
use crate::desk::model::policy::Caveat;

/// A modal opened from inside another modal. It is moved to the top every frame:
/// the click that opened it raised the parent dialog, which would otherwise stay
/// above it and swallow its clicks.
pub fn nested_modal<R>(
    ctx: &egui::Context,
    id: &str,
    content: impl FnOnce(&mut egui::Ui) -> R,
) -> egui::ModalResponse<R> {
    let response = stable_modal(id).show(ctx, content);
    ctx.move_to_top(response.response.layer_id);
    response
}

/// A text field with its label in the grid column before it, labelled for AccessKit
/// (screen readers, and the tests find the field by this label).
pub fn labelled_edit(ui: &mut egui::Ui, label: &str, value: &mut String) -> egui::Response {
    let label = ui.label(label);
    ui.add(egui::TextEdit::singleline(value).desired_width(380.0))
        .labelled_by(label.id)
}

/// A field with a short label and its explanation inside, shown while it is empty:
/// a long label would push every field of its grid to the right.
pub fn hinted_edit(
    ui: &mut egui::Ui,
    label: &str,
    hint: &str,
    value: &mut String,
) -> egui::Response {
    let label = ui.label(label);
    ui.add(
        egui::TextEdit::singleline(value)
            .hint_text(hint)
            .desired_width(380.0),
    )
    .labelled_by(label.id)
}

/// The width of the widest of these labels as `ui` would draw them.
pub fn widest_label(ui: &egui::Ui, labels: &[&str]) -> f32 {
    let font = egui::TextStyle::Body.resolve(ui.style());
    let color = ui.visuals().text_color();
    ui.ctx().fonts_mut(|fonts| {
        labels
            .iter()
            .map(|label| {
                fonts
                    .layout_no_wrap((*label).to_string(), font.clone(), color)
                    .size()
                    .x
            })
            .fold(0.0, f32::max)
    })
}

/// A dialog anchored by its top edge: a validation message appearing or going
/// changes its height, and a centred dialog would move the field under the mouse.
pub fn stable_modal(id: &str) -> egui::Modal {
    let id = egui::Id::unique(id);
    egui::Modal::new(id)
        .area(egui::Modal::default_area(id).anchor(egui::Align2::CENTER_TOP, egui::vec2(0.0, 32.0)))
}

/// The "Days left" cell: a dash when unknown, hours in the last day (a one-day
/// token would read "0" all its life), and 0 once expired (a count of days past
/// expiry is not days left; the state column says "Expired").
pub fn days_left_text(days_left: Option<i64>, hours_left: Option<i64>) -> String {
    match (days_left, hours_left) {
        (None, _) => "–".into(),
        (Some(0), Some(hours)) if hours >= 1 => format!("{hours} h"),
        (Some(0), Some(0)) => "< 1 h".into(),
        (Some(days), _) => days.max(0).to_string(),
    }
}

/// The state cell's words and colour, for every view. A working token whose
/// renewal fails for now, or whose end nobody stated, is not called healthy.
pub fn state_text(state: TokenState, caveat: Caveat) -> (&'static str, Option<egui::Color32>) {
    let warning = Some(crate::ui::main_window::WARNING);
    match caveat {
        Caveat::RenewalFailing if state == TokenState::Healthy => {
            ("works; renewal failing", warning)
        }
        Caveat::ExpiryUnknown if state == TokenState::Healthy => ("works; expiry unknown", warning),
        _ => (state.label(), crate::ui::main_window::state_color(state)),
    }
}

/// What a renewal run did, in the admin's language: only the parts that happened
/// (a "0 need a new sign-in" beside a banner naming one reads as a contradiction;
/// the banner and the rows say what stands now).
pub fn run_summary(
    locale: crate::ui::i18n::Locale,
    counts: &crate::desk::model::RenewCounts,
) -> String {
    let parts: Vec<String> = [
        (counts.renewed, "{count} renewed"),
        (counts.fresh, "{count} not due"),
        (counts.failed, "{count} failed for now"),
        (counts.dead, "{count} need a new sign-in"),
        (counts.busy, "{count} left to another process"),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, template)| locale.fill(template, &[("count", &count.to_string())]))
    .collect();
    if parts.is_empty() {
        locale.tr("no token to look at").to_string()
    } else {
        parts.join(", ")
    }
}

/// A column title on one line: a long German word must widen its column, not be
/// broken in the middle ("Anwendungsbenutz/er").
pub fn column_title(ui: &mut egui::Ui, title: &str) {
    ui.add(egui::Label::new(egui::RichText::new(title).strong()).extend());
}

#[cfg(test)]
mod days_left_tests {
    use super::*;

    #[test]
    fn an_expired_token_has_no_days_left_rather_than_a_negative_count() {
        assert_eq!(days_left_text(None, None), "–");
        assert_eq!(days_left_text(Some(12), Some(290)), "12");
        assert_eq!(days_left_text(Some(-3), Some(-70)), "0");
    }

    #[test]
    fn the_last_day_is_counted_in_hours() {
        assert_eq!(days_left_text(Some(0), Some(23)), "23 h");
        assert_eq!(days_left_text(Some(0), Some(1)), "1 h");
        assert_eq!(days_left_text(Some(0), Some(0)), "< 1 h");
        assert_eq!(days_left_text(Some(1), Some(24)), "1");
    }

    #[test]
    fn a_working_token_without_a_known_end_is_a_warning_not_healthy() {
        let (words, colour) = state_text(TokenState::Healthy, Caveat::ExpiryUnknown);
        assert_eq!(words, "works; expiry unknown");
        assert!(colour.is_some());
        assert_eq!(
            state_text(TokenState::Healthy, Caveat::None),
            ("healthy", None)
        );
        assert_eq!(
            state_text(TokenState::Expired, Caveat::ExpiryUnknown).0,
            "expired"
        );
        assert_eq!(
            state_text(TokenState::Healthy, Caveat::RenewalFailing).0,
            "works; renewal failing"
        );
        // A due renewal says more than "works".
        assert_eq!(
            state_text(TokenState::RenewalForced, Caveat::RenewalFailing).0,
            TokenState::RenewalForced.label()
        );
    }

    #[test]
    fn a_run_summary_names_only_what_happened_in_either_language() {
        let counts = crate::desk::model::RenewCounts {
            renewed: 2,
            fresh: 0,
            failed: 1,
            dead: 0,
            busy: 0,
        };
        let en = crate::ui::i18n::Locale::new(crate::ui::i18n::Lang::En);
        assert_eq!(run_summary(en, &counts), "2 renewed, 1 failed for now");
        let de = crate::ui::i18n::Locale::new(crate::ui::i18n::Lang::De);
        assert_eq!(
            run_summary(de, &counts),
            "2 erneuert, 1 vorerst fehlgeschlagen"
        );
        let nothing = crate::desk::model::RenewCounts {
            renewed: 0,
            fresh: 0,
            failed: 0,
            dead: 0,
            busy: 0,
        };
        assert_eq!(run_summary(de, &nothing), "kein Token zu prüfen");
    }
}
