//! One translation layer for every user-facing string of the window. Strings are
//! keyed by their English text (as gettext does), so the English UI needs no table
//! and a missing German entry falls back to English instead of to a key name.

use chrono::{DateTime, Local, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

/// Date formats follow the locale too: the seeds show 16/12/2026 14:30.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locale {
    pub lang: Lang,
    us_dates: bool,
}

impl Locale {
    pub fn new(lang: Lang) -> Self {
        Locale {
            lang,
            us_dates: false,
        }
    }

    /// `TOKENDESK_LANG` (a setting) wins over the OS locale.
    pub fn detect() -> Self {
        let tag = std::env::var("TOKENDESK_LANG")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(sys_locale::get_locale)
            .unwrap_or_else(|| "en".into())
            .to_ascii_lowercase()
            .replace('_', "-");
        let lang = if tag.starts_with("de") {
            Lang::De
        } else {
            Lang::En
        };
        Locale {
            lang,
            us_dates: tag.starts_with("en-us"),
        }
    }

    pub fn tr(&self, english: &'static str) -> &'static str {
        match self.lang {
            Lang::En => english,
            Lang::De => german(english).unwrap_or(english),
        }
    }

    pub fn date_time(&self, at: DateTime<Utc>) -> String {
        let local = at.with_timezone(&Local);
        let format = match (self.lang, self.us_dates) {
            (Lang::De, _) => "%d.%m.%Y %H:%M",
            (Lang::En, true) => "%m/%d/%Y %H:%M",
            (Lang::En, false) => "%d/%m/%Y %H:%M",
        };
        local.format(format).to_string()
    }
}

fn german(english: &str) -> Option<&'static str> {
    Some(match english {
        "Consume data" => "Daten konsumieren",
        "Connector for Microsoft Exchange" => "Connector für Microsoft Exchange",
        "Data sources" => "Datenquellen",
        "New data source" => "Neue Datenquelle",
        "Edit" => "Bearbeiten",
        "Delete" => "Löschen",
        "Name" => "Name",
        "Tenant" => "Mandant",
        "Exchange account" => "Exchange-Konto",
        "Token" => "Token",
        "Days left" => "Verbleibende Tage",
        "Additional users" => "Zusätzliche Benutzer",
        "Edit data source" => "Datenquelle bearbeiten",
        "General" => "Allgemein",
        "Data source name" => "Name der Datenquelle",
        "Authority" => "Autorität",
        "Microsoft cloud" => "Microsoft-Cloud",
        "Custom issuer URL" => "Eigene Issuer-URL",
        "Cloud" => "Cloud",
        "Issuer URL" => "Issuer-URL",
        "Client ID" => "Client-ID",
        "Client secret (optional)" => "Geheimer Clientschlüssel (optional)",
        "Show" => "Anzeigen",
        "Hide" => "Verbergen",
        "API" => "API",
        "Custom scopes" => "Eigene Scopes",
        "Scopes" => "Scopes",
        "E-mail / user name" => "E-Mail / Benutzername",
        "Server" => "Server",
        "EWS URL" => "EWS-URL",
        "Signed in as" => "Angemeldet als",
        "Obtained" => "Erhalten",
        "Last renewed" => "Zuletzt erneuert",
        "Expires on" => "Läuft ab am",
        "Last error" => "Letzter Fehler",
        "State" => "Status",
        "Request MS365 Refresh Token" => "MS365-Aktualisierungstoken anfordern",
        "Test Connection" => "Verbindung testen",
        "Clear Token" => "Token löschen",
        "OK" => "OK",
        "Cancel" => "Abbrechen",
        "Yes" => "Ja",
        "No" => "Nein",
        "Next" => "Weiter",
        "Retry" => "Erneut versuchen",
        "Close" => "Schließen",
        "Copy" => "Kopieren",
        "Copied" => "Kopiert",
        "Open Microsoft login page" => "Microsoft-Anmeldeseite öffnen",
        "Enter this code on the Microsoft login page:" => {
            "Geben Sie diesen Code auf der Microsoft-Anmeldeseite ein:"
        }
        "Never enter a code that you received from someone else." => {
            "Geben Sie niemals einen Code ein, den Sie von jemand anderem erhalten haben."
        }
        "Waiting for the sign-in…" => "Warte auf die Anmeldung…",
        "Sign in with" => "Melden Sie sich an mit",
        "Code expires in" => "Code läuft ab in",
        "Requesting a code…" => "Code wird angefordert…",
        "Client ID being approved" => "Freizugebende Client-ID",
        "Sign-in failed" => "Anmeldung fehlgeschlagen",
        "Signed in, but as another account" => "Angemeldet, aber mit einem anderen Konto",
        "Store anyway" => "Trotzdem speichern",
        "Delete this data source and all its tokens?" => {
            "Diese Datenquelle und alle ihre Token löschen?"
        }
        "Clear this token? The connection stays suspended until a new token is requested." => {
            "Dieses Token löschen? Die Verbindung bleibt bis zur Anforderung eines neuen Tokens unterbrochen."
        }
        "No data sources yet. Create one with New data source." => {
            "Noch keine Datenquellen. Legen Sie eine mit „Neue Datenquelle“ an."
        }
        "Connection works" => "Verbindung funktioniert",
        "without a token" => "ohne Token",
        "All tokens are healthy." => "Alle Token sind in Ordnung.",
        "Dismiss for today" => "Für heute ausblenden",
        "Opening the vault…" => "Tresor wird geöffnet…",
        "The vault could not be opened" => "Der Tresor konnte nicht geöffnet werden",
        "Passphrase" => "Passphrase",
        "Unlock" => "Entsperren",
        "Restore backup" => "Sicherung wiederherstellen",
        "Application user" => "Anwendungsbenutzer",
        "Exchange user" => "Exchange-Benutzer",
        "Add" => "Hinzufügen",
        "Remove" => "Entfernen",
        "Filter" => "Filter",
        "Server URL (optional)" => "Server-URL (optional)",
        "Remove this mapping and its token?" => "Diese Zuordnung und ihr Token entfernen?",
        "Save the data source with OK first." => "Speichern Sie die Datenquelle zuerst mit OK.",
        "healthy" => "in Ordnung",
        "renewal due" => "Erneuerung fällig",
        "renewal forced" => "Erneuerung erforderlich",
        "expired" => "abgelaufen",
        "needs sign-in" => "Anmeldung nötig",
        "no token" => "kein Token",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn german_and_fallback() {
        let de = Locale::new(Lang::De);
        assert_eq!(
            de.tr("Request MS365 Refresh Token"),
            "MS365-Aktualisierungstoken anfordern"
        );
        assert_eq!(de.tr("not translated"), "not translated");
        assert_eq!(Locale::new(Lang::En).tr("Clear Token"), "Clear Token");
    }

    #[test]
    fn dates_follow_the_locale() {
        let at = Utc.with_ymd_and_hms(2026, 12, 16, 12, 0, 0).unwrap();
        let de = Locale::new(Lang::De).date_time(at);
        assert!(de.starts_with("16.12.2026"), "{de}");
        assert!(
            Locale::new(Lang::En)
                .date_time(at)
                .starts_with("16/12/2026")
        );
    }
}
