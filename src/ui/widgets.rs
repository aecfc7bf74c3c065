//! Small pieces shared by the dialogs.

/// A modal opened from inside another modal. It is moved to the top every frame:
/// the click that opened it raised the parent dialog, which would otherwise stay
/// above it and swallow its clicks.
pub fn nested_modal<R>(
    ctx: &egui::Context,
    id: &str,
    content: impl FnOnce(&mut egui::Ui) -> R,
) -> egui::ModalResponse<R> {
    let response = egui::Modal::new(egui::Id::unique(id)).show(ctx, content);
    ctx.move_to_top(response.response.layer_id);
    response
}
