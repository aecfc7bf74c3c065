//! The words of every notification, in English and German. The fix names the
//! window's path (as its labels read) and the command for a server.

use chrono::{DateTime, Utc};

use super::{Event, Item, Lang};

/// What a token's message says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// The provider refused it: a new sign-in is the only fix.
    SignIn,
    /// Its refresh token ended.
    Expired,
    /// The newest refresh token waits in a rescue file.
    AtRisk,
    /// From the reminder threshold on.
    Expiring,
    /// Forced renewal: the last days.
    RenewalForced,
}

/// One token's facts, as the message needs them.
pub struct TokenFacts<'a> {
    pub data_source: &'a str,
    pub user: Option<&'a str>,
    pub account: &'a str,
    pub microsoft: bool,
    pub trouble: Trouble,
    pub expires_at: Option<DateTime<Utc>>,
    pub days_left: Option<i64>,
    /// What the provider said, when it refused.
    pub provider_said: Option<String>,
}

pub fn item(lang: Lang, facts: &TokenFacts<'_>) -> Item {
    Item {
        data_source: facts.data_source.to_string(),
        user: facts.user.map(str::to_string),
        account: facts.account.to_string(),
        state: state(lang, facts),
        expires_at: facts.expires_at,
        fix: fix(lang, facts),
    }
}

/// "Exchange / USER (user@contoso.com)": which token.
pub fn item_heading(item: &Item) -> String {
    match &item.user {
        Some(user) => format!("{} / {user} ({})", item.data_source, item.account),
        None => format!("{} ({})", item.data_source, item.account),
    }
}

fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn state(lang: Lang, facts: &TokenFacts<'_>) -> String {
    let said = facts
        .provider_said
        .as_deref()
        .map(|said| match lang {
            Lang::En => format!(" The provider said: {said}"),
            Lang::De => format!(" Der Anbieter meldete: {said}"),
        })
        .unwrap_or_default();
    let when = facts.expires_at.map(date);
    let days = facts.days_left.unwrap_or(0).max(0);
    match (lang, facts.trouble) {
        (Lang::En, Trouble::SignIn) => format!("Needs a new sign-in.{said}"),
        (Lang::De, Trouble::SignIn) => format!("Neue Anmeldung nötig.{said}"),
        (Lang::En, Trouble::Expired) => match when {
            Some(when) => format!("Expired on {when}."),
            None => "Expired.".into(),
        },
        (Lang::De, Trouble::Expired) => match when {
            Some(when) => format!("Abgelaufen am {when}."),
            None => "Abgelaufen.".into(),
        },
        (Lang::En, Trouble::AtRisk) => "The newest refresh token could not be saved in the vault (disk full, folder not writable or the store unreachable) and waits in a rescue file.".into(),
        (Lang::De, Trouble::AtRisk) => "Das neueste Aktualisierungstoken konnte nicht im Tresor gespeichert werden (Datenträger voll, Ordner nicht beschreibbar oder Speicher nicht erreichbar) und liegt in einer Rettungsdatei.".into(),
        (Lang::En, Trouble::Expiring | Trouble::RenewalForced) => match when {
            Some(when) => format!("Expires on {when} (days left: {days})."),
            None => format!("Days left: {days}."),
        },
        (Lang::De, Trouble::Expiring | Trouble::RenewalForced) => match when {
            Some(when) => format!("Läuft ab am {when} (verbleibende Tage: {days})."),
            None => format!("Verbleibende Tage: {days}."),
        },
    }
}

fn fix(lang: Lang, facts: &TokenFacts<'_>) -> String {
    let source = facts.data_source;
    let command = match facts.user {
        Some(user) => format!("tokendesk sign-in --data-source \"{source}\" --user \"{user}\""),
        None => format!("tokendesk sign-in --data-source \"{source}\""),
    };
    if facts.trouble == Trouble::AtRisk {
        return match lang {
            Lang::En => "Fix: free disk space or make the vault's store reachable and writable; tokendesk stores the rescued token at its next save (`tokendesk status` shows it).".into(),
            Lang::De => "Abhilfe: Speicherplatz freigeben oder den Speicher des Tresors erreichbar und beschreibbar machen; tokendesk speichert das gerettete Token beim nächsten Schreiben (`tokendesk status` zeigt es).".into(),
        };
    }
    let window = window_path(lang, facts);
    match lang {
        Lang::En => format!(
            "Fix: sign in as {} again — {window}; on a server: {command}",
            facts.account
        ),
        Lang::De => format!(
            "Abhilfe: erneut als {} anmelden — {window}; auf einem Server: {command}",
            facts.account
        ),
    }
}

/// The window's way to the sign-in, as its labels read.
fn window_path(lang: Lang, facts: &TokenFacts<'_>) -> String {
    let source = facts.data_source;
    let (edit, exchange, users, request) = match (lang, facts.microsoft) {
        (Lang::En, true) => (
            "Edit data source",
            "Exchange account",
            "Additional users",
            "Request MS365 Refresh Token",
        ),
        (Lang::En, false) => (
            "Edit data source",
            "Exchange account",
            "Additional users",
            "Request Refresh Token",
        ),
        (Lang::De, true) => (
            "Datenquelle bearbeiten",
            "Exchange-Konto",
            "Zusätzliche Benutzer",
            "MS365-Aktualisierungstoken anfordern",
        ),
        (Lang::De, false) => (
            "Datenquelle bearbeiten",
            "Exchange-Konto",
            "Zusätzliche Benutzer",
            "Aktualisierungstoken anfordern",
        ),
    };
    match facts.user {
        Some(user) => format!("{edit} \"{source}\" › {users} › {user} › {request}"),
        None => format!("{edit} \"{source}\" › {exchange} › {request}"),
    }
}

/// A message's title and paragraph for `event` about `count` tokens.
pub fn heading(lang: Lang, event: Event, items: &[Item]) -> (String, String) {
    let count = items.len();
    let one = items.first().filter(|_| count == 1).map(item_heading);
    match (lang, event) {
        (Lang::En, Event::SignInNeeded) => (
            match one {
                Some(which) => format!("tokendesk: {which} needs attention"),
                None => format!("tokendesk: tokens that need attention: {count}"),
            },
            "Applications get no access tokens for these mailboxes until an admin acts. Each entry says what happened and how to fix it.".into(),
        ),
        (Lang::De, Event::SignInNeeded) => (
            match one {
                Some(which) => format!("tokendesk: {which} braucht Aufmerksamkeit"),
                None => format!("tokendesk: Token mit Handlungsbedarf: {count}"),
            },
            "Anwendungen erhalten für diese Postfächer keine Zugriffstoken, bis ein Administrator handelt. Jeder Eintrag nennt, was geschah und wie es zu beheben ist.".into(),
        ),
        (Lang::En, Event::Digest) => (
            format!("tokendesk: daily reminder, tokens to renew: {count}"),
            "These refresh tokens end soon. Request a new token for each before it expires, so the applications keep working.".into(),
        ),
        (Lang::De, Event::Digest) => (
            format!("tokendesk: tägliche Erinnerung, zu erneuernde Token: {count}"),
            "Diese Aktualisierungstoken laufen bald ab. Fordern Sie für jedes vor dem Ablauf ein neues Token an, damit die Anwendungen weiter funktionieren.".into(),
        ),
        (Lang::En, Event::StoreUnreachable) => (
            "tokendesk: the vault's store cannot be reached".into(),
            String::new(),
        ),
        (Lang::De, Event::StoreUnreachable) => (
            "tokendesk: der Speicher des Tresors ist nicht erreichbar".into(),
            String::new(),
        ),
        (Lang::En, Event::Recovered) => (
            match one {
                Some(which) => format!("tokendesk: {which} works again"),
                None => format!("tokendesk: tokens that work again: {count}"),
            },
            "What was reported earlier is resolved; nothing more to do for these.".into(),
        ),
        (Lang::De, Event::Recovered) => (
            match one {
                Some(which) => format!("tokendesk: {which} funktioniert wieder"),
                None => format!("tokendesk: Token, die wieder funktionieren: {count}"),
            },
            "Was zuvor gemeldet wurde, ist behoben; hierfür ist nichts mehr zu tun.".into(),
        ),
        (Lang::En, Event::Test) => (
            "tokendesk: test notification".into(),
            "This channel works: tokendesk will tell you here when a token needs a new sign-in, every day while tokens are about to expire, and when they work again.".into(),
        ),
        (Lang::De, Event::Test) => (
            "tokendesk: Testbenachrichtigung".into(),
            "Dieser Kanal funktioniert: tokendesk meldet hier, wenn ein Token eine neue Anmeldung braucht, täglich, solange Token bald ablaufen, und wenn sie wieder funktionieren.".into(),
        ),
    }
}

/// The paragraph of a store message: what failed and what to check.
pub fn store_text(lang: Lang, problem: &str) -> String {
    match lang {
        Lang::En => format!(
            "{problem}\nThe gateway serves the tokens it holds, but cannot store rotated tokens or see changes. Fix: check the database server and the connection string (as given to `tokendesk vault join`); `tokendesk status` on this machine shows when it is back."
        ),
        Lang::De => format!(
            "{problem}\nDas Gateway gibt die Token aus, die es hält, kann aber keine erneuerten Token speichern und keine Änderungen sehen. Abhilfe: Datenbankserver und Verbindungszeichenfolge prüfen (wie bei `tokendesk vault join` angegeben); `tokendesk status` auf diesem Rechner zeigt, wann er wieder erreichbar ist."
        ),
    }
}

/// A recovered token's line.
pub fn recovered_item(lang: Lang, data_source: &str, user: Option<&str>, account: &str) -> Item {
    Item {
        data_source: data_source.to_string(),
        user: user.map(str::to_string),
        account: account.to_string(),
        state: match lang {
            Lang::En => "Works again.".into(),
            Lang::De => "Funktioniert wieder.".into(),
        },
        expires_at: None,
        fix: match lang {
            Lang::En => "Nothing to do.".into(),
            Lang::De => "Nichts zu tun.".into(),
        },
    }
}

/// The title and paragraph when the store can be reached again.
pub fn store_back(lang: Lang) -> (String, String) {
    match lang {
        Lang::En => (
            "tokendesk: the vault's store can be reached again".into(),
            "The gateway reads and stores tokens again; nothing more to do.".into(),
        ),
        Lang::De => (
            "tokendesk: der Speicher des Tresors ist wieder erreichbar".into(),
            "Das Gateway liest und speichert wieder Token; es ist nichts mehr zu tun.".into(),
        ),
    }
}
