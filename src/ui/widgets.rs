//! Small pieces shared by the dialogs.

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

/// A dialog anchored by its top edge: a validation message appearing or going
/// changes its height, and a centred dialog would move the field under the mouse.
pub fn stable_modal(id: &str) -> egui::Modal {
    let id = egui::Id::unique(id);
    egui::Modal::new(id)
        .area(egui::Modal::default_area(id).anchor(egui::Align2::CENTER_TOP, egui::vec2(0.0, 32.0)))
}

/// The "Days left" cell: a dash when unknown, and 0 once expired (a count of days
/// past expiry is not days left; the state column says "Expired").
pub fn days_left_text(days_left: Option<i64>) -> String {
    match days_left {
        None => "–".into(),
        Some(days) => days.max(0).to_string(),
    }
}

#[cfg(test)]
mod days_left_tests {
    use super::days_left_text;

    #[test]
    fn an_expired_token_has_no_days_left_rather_than_a_negative_count() {
        assert_eq!(days_left_text(None), "–");
        assert_eq!(days_left_text(Some(12)), "12");
        assert_eq!(days_left_text(Some(0)), "0");
        assert_eq!(days_left_text(Some(-3)), "0");
    }
}
