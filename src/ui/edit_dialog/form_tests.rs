//! The form model without a window: what the dialog's fields make of a data source.

use super::*;

fn graph_source() -> DataSource {
    let config = ProviderConfig {
        authority: Authority::microsoft(Cloud::Global, "contoso.onmicrosoft.com"),
        client_id: "7f1b6b3e-9a41-4bb0-8c8c-2a4ad1a7c0de".into(),
        client_secret: None,
        scopes: Scopes::Graph,
    };
    let mut source = DataSource::new("Sales", config, "sales@contoso.com");
    source.account.server = ExchangeServer::Graph;
    source
}

#[test]
fn an_unchanged_form_builds_the_data_source_it_was_opened_with() {
    let source = graph_source();
    let built = EditDialog::edit(&source).build().expect("valid");
    assert_eq!(built.provider, source.provider);
    assert_eq!(built.account, source.account);
    assert_eq!(built.redirect_uri, None);

    // Stored with the Graph API but an EWS server (older vaults): the API decides.
    let mut mixed = graph_source();
    mixed.account.server = ExchangeServer::Office365;
    let built = EditDialog::edit(&mixed).build().expect("valid");
    assert_eq!(built.account.server, ExchangeServer::Graph);
}

#[test]
fn the_api_decides_the_server_and_the_form_checks_what_it_stores() {
    let mut dialog = EditDialog::edit(&graph_source());
    dialog.server = ServerKind::Ews;
    assert_eq!(
        dialog.effective_server(),
        ServerKind::Graph,
        "Graph API: Graph"
    );
    dialog.api = Api::Ews;
    dialog.server = ServerKind::Graph;
    assert_eq!(dialog.effective_server(), ServerKind::Office365);
    dialog.api = Api::Custom;
    dialog.server = ServerKind::Graph;
    assert_eq!(
        dialog.effective_server(),
        ServerKind::Graph,
        "custom scopes: the choice"
    );

    let mut dialog = EditDialog::edit(&graph_source());
    dialog.redirect_uri = "https://example.com/cb".into();
    assert!(dialog.build().unwrap_err().contains("redirect URI"));
    dialog.redirect_uri = "http://127.0.0.1:8400/cb".into();
    assert_eq!(
        dialog.build().unwrap().redirect_uri.as_deref(),
        Some("http://127.0.0.1:8400/cb")
    );
    dialog.email = String::new();
    assert!(
        dialog
            .build()
            .unwrap_err()
            .starts_with("Enter the e-mail address")
    );
    dialog.source.name = " ".into();
    assert_eq!(dialog.build().unwrap_err(), "Give the data source a name.");
}
