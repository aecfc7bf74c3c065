//! German for the sentences the rules write with values in them (validation of
//! what an admin types). Each template is the English sentence with `{}` where a
//! value stands; the values are carried over into the German sentence in order.

/// (English, German) with `{}` for each value, in the same order in both.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "Enter the tenant: its directory (tenant) ID, a verified domain such as contoso.onmicrosoft.com, or organizations, common or consumers.",
        "Geben Sie den Mandanten an: seine Verzeichnis-ID (Mandanten-ID), eine verifizierte Domäne wie contoso.onmicrosoft.com oder organizations, common bzw. consumers.",
    ),
    (
        "'{}' is not a valid tenant ID: a directory ID has the form 00000000-0000-0000-0000-000000000000 (Entra admin center › Overview › Tenant ID).",
        "„{}“ ist keine gültige Mandanten-ID: Eine Verzeichnis-ID hat die Form 00000000-0000-0000-0000-000000000000 (Entra Admin Center › Übersicht › Mandanten-ID).",
    ),
    (
        "'{}' is not a tenant: use the directory (tenant) ID, a verified domain such as contoso.onmicrosoft.com, or organizations, common or consumers.",
        "„{}“ ist kein Mandant: Verwenden Sie die Verzeichnis-ID (Mandanten-ID), eine verifizierte Domäne wie contoso.onmicrosoft.com oder organizations, common bzw. consumers.",
    ),
    (
        "Enter the client ID (Application ID) of the app registration.",
        "Geben Sie die Client-ID (Anwendungs-ID) der App-Registrierung an.",
    ),
    (
        "'{}' is not an Application (client) ID: Microsoft shows it on the app registration's overview as 00000000-0000-0000-0000-000000000000.",
        "„{}“ ist keine Anwendungs-ID (Client-ID): Microsoft zeigt sie in der Übersicht der App-Registrierung in der Form 00000000-0000-0000-0000-000000000000.",
    ),
    (
        "{} uses plain http: tokens would cross the network unencrypted. Use https (http is accepted only for 127.0.0.1, ::1 and localhost).",
        "{} verwendet unverschlüsseltes http: Token würden unverschlüsselt durch das Netz gehen. Verwenden Sie https (http gilt nur für 127.0.0.1, ::1 und localhost).",
    ),
    (
        "{} is not a web address (scheme '{}'): use an https URL.",
        "{} ist keine Webadresse (Schema „{}“): Verwenden Sie eine https-URL.",
    ),
    (
        "Enter at least one scope, and offline_access.",
        "Geben Sie mindestens einen Bereich (Scope) an, und offline_access.",
    ),
    (
        "Add offline_access to the scopes: without it the provider issues no refresh token and the connection dies with the first access token (about an hour).",
        "Fügen Sie offline_access zu den Bereichen hinzu: Ohne es stellt der Anbieter kein Aktualisierungstoken aus, und die Verbindung endet mit dem ersten Zugriffstoken (nach etwa einer Stunde).",
    ),
    (
        "These scopes name {} different APIs ({}); one token can only be for one API (AADSTS700022). Keep the scopes of one API, plus offline_access, openid and profile.",
        "Diese Bereiche nennen {} verschiedene APIs ({}); ein Token gilt nur für eine API (AADSTS700022). Behalten Sie die Bereiche einer API, dazu offline_access, openid und profile.",
    ),
    (
        "Enter the issuer URL of the OpenID provider, e.g. https://id.example.org/realms/main.",
        "Geben Sie die Issuer-URL des OpenID-Anbieters an, z. B. https://id.example.org/realms/main.",
    ),
    (
        "The issuer URL is not a URL ({}).",
        "Die Issuer-URL ist keine URL ({}).",
    ),
    (
        "The EWS URL is not a URL ({}).",
        "Die EWS-URL ist keine URL ({}).",
    ),
    (
        "The API root is not a URL ({}).",
        "Der API-Stamm ist keine URL ({}).",
    ),
    (
        "The server URL is not a URL ({}).",
        "Die Server-URL ist keine URL ({}).",
    ),
    (
        "'{}' is not a number of days from 1 to 3650; leave the field empty when the lifetime is unknown.",
        "„{}“ ist keine Zahl von Tagen zwischen 1 und 3650; lassen Sie das Feld leer, wenn die Lebensdauer unbekannt ist.",
    ),
    (
        "Give the data source a name.",
        "Geben Sie der Datenquelle einen Namen.",
    ),
    (
        "A data source named '{}' already exists.",
        "Eine Datenquelle namens „{}“ gibt es bereits.",
    ),
    (
        "Choose the application user to map.",
        "Wählen Sie den Anwendungsbenutzer, der zugeordnet werden soll.",
    ),
    (
        "The application user '{}' is already mapped in '{}'; edit that mapping instead.",
        "Der Anwendungsbenutzer „{}“ ist in „{}“ bereits zugeordnet; bearbeiten Sie stattdessen diese Zuordnung.",
    ),
    (
        "Enter the e-mail address or user principal name (like jane.doe@contoso.com).",
        "Geben Sie die E-Mail-Adresse oder den Benutzerprinzipalnamen an (wie jane.doe@contoso.com).",
    ),
    (
        "'{}' is not HOST:PORT (like smtp.office365.com:587).",
        "„{}“ ist nicht HOST:PORT (wie smtp.office365.com:587).",
    ),
    (
        "'{}' is not an e-mail address or user principal name (like jane.doe@contoso.com).",
        "„{}“ ist keine E-Mail-Adresse und kein Benutzerprinzipalname (wie jane.doe@contoso.com).",
    ),
    (
        "The redirect URI '{}' is not an http:// loopback address: use http://127.0.0.1[:port]/path or http://localhost[:port]/path.",
        "Die Weiterleitungs-URI „{}“ ist keine http://-Loopback-Adresse: Verwenden Sie http://127.0.0.1[:Port]/Pfad oder http://localhost[:Port]/Pfad.",
    ),
    (
        "The redirect URI '{}' has a query or fragment: use http://127.0.0.1[:port]/path or http://localhost[:port]/path.",
        "Die Weiterleitungs-URI „{}“ hat eine Abfrage oder ein Fragment: Verwenden Sie http://127.0.0.1[:Port]/Pfad oder http://localhost[:Port]/Pfad.",
    ),
    (
        "The redirect URI '{}' is not on this machine's loopback address: use http://127.0.0.1[:port]/path or http://localhost[:port]/path.",
        "Die Weiterleitungs-URI „{}“ liegt nicht auf der Loopback-Adresse dieses Rechners: Verwenden Sie http://127.0.0.1[:Port]/Pfad oder http://localhost[:Port]/Pfad.",
    ),
    (
        "The redirect URI '{}' has an invalid port: use http://127.0.0.1[:port]/path or http://localhost[:port]/path.",
        "Die Weiterleitungs-URI „{}“ hat einen ungültigen Port: Verwenden Sie http://127.0.0.1[:Port]/Pfad oder http://localhost[:Port]/Pfad.",
    ),
    (
        "The redirect URI '{}' has spaces in its path: use http://127.0.0.1[:port]/path or http://localhost[:port]/path.",
        "Die Weiterleitungs-URI „{}“ hat Leerzeichen im Pfad: Verwenden Sie http://127.0.0.1[:Port]/Pfad oder http://localhost[:Port]/Pfad.",
    ),
    (
        "The consumer name '{}' contains the invisible character U+{}; names may hold only visible characters.",
        "Der Name der Anwendung „{}“ enthält das unsichtbare Zeichen U+{}; Namen dürfen nur sichtbare Zeichen enthalten.",
    ),
    (
        "The data source name '{}' contains the invisible character U+{}; names may hold only visible characters.",
        "Der Name der Datenquelle „{}“ enthält das unsichtbare Zeichen U+{}; Namen dürfen nur sichtbare Zeichen enthalten.",
    ),
    (
        "The login '{}' contains the invisible character U+{}; names may hold only visible characters.",
        "Die Anmeldung „{}“ enthält das unsichtbare Zeichen U+{}; Namen dürfen nur sichtbare Zeichen enthalten.",
    ),
    (
        "The display name '{}' contains the invisible character U+{}; names may hold only visible characters.",
        "Der Anzeigename „{}“ enthält das unsichtbare Zeichen U+{}; Namen dürfen nur sichtbare Zeichen enthalten.",
    ),
    (
        "A consumer named '{}' already exists; remove it first to issue a new key.",
        "Eine Anwendung namens „{}“ gibt es bereits; entfernen Sie sie zuerst, um einen neuen Schlüssel auszustellen.",
    ),
    (
        "The inactivity window must be between 1 and 365 days.",
        "Das Inaktivitätsfenster muss zwischen 1 und 365 Tagen liegen.",
    ),
    (
        "Forced renewal needs at least 1 day.",
        "Die erzwungene Erneuerung braucht mindestens 1 Tag.",
    ),
    (
        "Reminders must start earlier than forced renewal (more days before expiry).",
        "Erinnerungen müssen früher beginnen als die erzwungene Erneuerung (mehr Tage vor dem Ablauf).",
    ),
    (
        "Reminders must start inside the inactivity window.",
        "Erinnerungen müssen innerhalb des Inaktivitätsfensters beginnen.",
    ),
    (
        "The keep-alive age must be 1 to 60 days and shorter than the inactivity window.",
        "Das Keep-alive-Alter muss 1 bis 60 Tage betragen und kürzer als das Inaktivitätsfenster sein.",
    ),
    (
        "The keep-alive runs every 1 to 24 hours.",
        "Das Keep-alive läuft alle 1 bis 24 Stunden.",
    ),
    (
        "Consumers need a status message to show.",
        "Anwendungen brauchen eine Statusmeldung, die sie zeigen können.",
    ),
    (
        "{}: enter a whole number.",
        "{}: Geben Sie eine ganze Zahl ein.",
    ),
];

/// The reasons the URL parser gives, inside the sentences above.
const URL_REASONS: &[(&str, &str)] = &[
    ("empty host", "kein Host"),
    (
        "invalid international domain name",
        "ungültiger internationaler Domänenname",
    ),
    ("invalid port number", "ungültige Portnummer"),
    ("invalid IPv4 address", "ungültige IPv4-Adresse"),
    ("invalid IPv6 address", "ungültige IPv6-Adresse"),
    (
        "invalid domain character",
        "ungültiges Zeichen im Domänennamen",
    ),
    ("relative URL without a base", "relative URL ohne Basis"),
];

/// The German of a sentence in [`TEMPLATES`], with its values.
pub fn german(english: &str) -> Option<String> {
    TEMPLATES.iter().find_map(|(en, de)| {
        let values = values_in(en, english)?;
        let mut out = String::new();
        let mut parts = de.split("{}");
        out.push_str(parts.next().unwrap_or_default());
        for (value, part) in values.iter().zip(parts) {
            // A value may be a parser's reason or one of the window's own labels
            // (a settings field named in its problem); both have German.
            let reason = URL_REASONS
                .iter()
                .find(|(en, _)| en == value)
                .map(|(_, de)| *de)
                .or_else(|| super::i18n_de::german(value))
                .unwrap_or(value);
            out.push_str(reason);
            out.push_str(part);
        }
        Some(out)
    })
}

/// The values that fill `template`'s `{}` to give `text`, if it has that form.
fn values_in<'a>(template: &str, text: &'a str) -> Option<Vec<&'a str>> {
    let parts: Vec<&str> = template.split("{}").collect();
    let (first, rest) = parts.split_first()?;
    let mut remaining = text.strip_prefix(first)?;
    let mut values = Vec::new();
    for (index, part) in rest.iter().enumerate() {
        let last = index + 1 == rest.len();
        let at = if last {
            remaining.strip_suffix(part).map(str::len)?
        } else {
            remaining.find(part)?
        };
        values.push(&remaining[..at]);
        remaining = &remaining[at + part.len()..];
    }
    (!rest.is_empty() || remaining.is_empty()).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::rules::{
        check_endpoint_url, validate_client_id, validate_scopes, validate_tenant,
    };

    #[test]
    fn values_are_carried_into_the_german_sentence() {
        assert_eq!(
            german("'x y' is not a tenant: use the directory (tenant) ID, a verified domain such as contoso.onmicrosoft.com, or organizations, common or consumers.").as_deref(),
            Some("„x y“ ist kein Mandant: Verwenden Sie die Verzeichnis-ID (Mandanten-ID), eine verifizierte Domäne wie contoso.onmicrosoft.com oder organizations, common bzw. consumers.")
        );
        assert_eq!(
            german("The issuer URL is not a URL (invalid international domain name).").as_deref(),
            Some("Die Issuer-URL ist keine URL (ungültiger internationaler Domänenname).")
        );
        assert!(german("Something nobody wrote.").is_none());
    }

    /// Every sentence the rules can give for what an admin types has its German:
    /// the rules are asked, not their source read.
    #[test]
    fn every_validation_sentence_has_its_german() {
        let mut said = Vec::new();
        for tenant in ["", "0000-bad", "not a tenant!"] {
            said.extend(validate_tenant(tenant).err());
        }
        for id in ["", "not-a-guid"] {
            said.extend(validate_client_id(id, true).err());
        }
        for url in ["http://id.example.com/", "ftp://id.example.com/"] {
            let url = url::Url::parse(url).expect("url");
            said.extend(check_endpoint_url(&url).err());
        }
        for scopes in [
            "",
            "openid profile",
            "https://graph.microsoft.com/Mail.Read https://outlook.office.com/SMTP.Send offline_access",
        ] {
            said.extend(validate_scopes(scopes, true).err());
        }
        for uri in [
            "https://x",
            "http://127.0.0.1/?a=b",
            "http://example.com/",
            "http://127.0.0.1:0/",
            "http://127.0.0.1/a b",
        ] {
            said.extend(crate::desk::sign_in::RedirectUri::parse(uri).err());
        }
        for email in ["", "not an address"] {
            said.extend(crate::desk::rules::validate_email(email).err());
        }
        for what in [
            "The consumer name",
            "The data source name",
            "The login",
            "The display name",
        ] {
            said.extend(crate::text::check_name(what, "a\u{202e}b").err());
        }
        said.push(format!(
            "The issuer URL is not a URL ({}).",
            url::Url::parse("https://xn--a.example").expect_err("bad IDN")
        ));
        let wrong = crate::desk::model::Settings {
            inactivity_window_days: 0,
            forced_renewal_days: 0,
            reminder_days: 0,
            keepalive_age_days: 0,
            keepalive_interval_hours: 0,
            consumer_status_message: String::new(),
            ..Default::default()
        };
        said.extend(wrong.problems());
        let late = crate::desk::model::Settings {
            reminder_days: 100,
            ..Default::default()
        };
        said.extend(late.problems());
        assert!(said.len() >= 25, "the rules were asked: {said:?}");
        let missing: Vec<_> = said.iter().filter(|s| german(s).is_none()).collect();
        assert!(missing.is_empty(), "no German for: {missing:#?}");
    }

    #[test]
    fn the_default_consumer_message_has_its_german() {
        assert!(
            crate::ui::i18n_de::german(crate::desk::model::Settings::DEFAULT_CONSUMER_MESSAGE)
                .is_some()
        );
    }
}
