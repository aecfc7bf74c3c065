//! The desk's errors in the admin's language. English is the error's own text;
//! German has a sentence for every error an admin meets in the window, with the
//! provider's or the system's own detail kept where only it can say more.

use super::i18n::{Lang, Locale};
use crate::desk::DeskError;
use crate::desk::model::{IdentityError, VaultError};
use crate::desk::rules::Field;

pub fn describe(error: &DeskError, locale: Locale) -> String {
    match locale.lang {
        Lang::En => error.to_string(),
        Lang::De => german(error).unwrap_or_else(|| error.to_string()),
    }
}

/// A rule's sentence about what the admin typed, in the admin's language.
pub fn sentence(english: &str, locale: Locale) -> String {
    match locale.lang {
        Lang::En => english.to_string(),
        Lang::De => super::sentences_de::german(english).unwrap_or_else(|| english.to_string()),
    }
}

/// A provider's answer (a sign-in that failed) in the admin's language.
pub fn describe_identity(error: &IdentityError, locale: Locale) -> String {
    match locale.lang {
        Lang::En => error.to_string(),
        Lang::De => super::errors_de::identity(error),
    }
}

fn german(error: &DeskError) -> Option<String> {
    Some(match error {
        DeskError::OtherAccount {
            who,
            target,
            expected,
        } => format!(
            "{who} hat sich angemeldet, aber {target} ist für {expected} eingerichtet. Es wurde nichts gespeichert. Melden Sie sich erneut als {expected} an."
        ),
        DeskError::Unnamed {
            reason, expected, ..
        } => format!(
            "Der Anbieter hat nicht gesagt, wer sich angemeldet hat ({reason}); tokendesk kann daher nicht prüfen, ob es {expected} ist. Es wurde nichts gespeichert."
        ),
        DeskError::ScheduleNeedsPassphraseFile => "Weder der geplante Keep-alive noch der Gateway-Dienst könnte diesen Tresor selbst öffnen: Er ist mit einer Passphrase geschützt und tokendesk wurde ohne --passphrase-file gestartet. Starten Sie tokendesk mit --passphrase-file DATEI (eine Datei, die nur Sie lesen können) und richten Sie ihn erneut ein.".into(),
        DeskError::OwnProgram(detail) => {
            format!("Das tokendesk-Programm selbst wurde nicht gefunden: {detail}")
        }
        DeskError::Invalid(problem) => field_problem(problem.field, &problem.message),
        DeskError::Vault(VaultError::Field(problem)) => {
            field_problem(problem.field, &problem.message)
        }
        DeskError::Vault(VaultError::NotFound(detail)) => {
            format!("Nicht gefunden: {detail}")
        }
        DeskError::Vault(other) => super::errors_de::vault(other),
        DeskError::Redeem(redeem) => super::errors_de::redeem(redeem),
        DeskError::Identity(identity) => super::errors_de::identity(identity),
        DeskError::Schedule(schedule) => {
            format!("Der Zeitplan konnte nicht geändert werden: {schedule}")
        }
    })
}

fn field_problem(field: Field, english: &str) -> String {
    let what = match field {
        Field::Name => "Name",
        Field::Provider(_) => "Anbieter",
        Field::Account => "Exchange-Konto",
        Field::ServerAddress => "Serveradresse",
        Field::AppUser => "Anwendungsbenutzer",
        Field::ExchangeUser => "Exchange-Benutzer",
        Field::MappingServer => "Server-URL",
        Field::RedirectUri => "Weiterleitungs-URI",
    };
    let sentence = super::sentences_de::german(english).unwrap_or_else(|| english.to_string());
    format!("{what}: {sentence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn german_admins_read_german() {
        let error = DeskError::OtherAccount {
            who: "a@contoso.com".into(),
            target: "Exchange".into(),
            expected: "b@contoso.com".into(),
        };
        let de = describe(&error, Locale::new(Lang::De));
        assert!(de.starts_with("a@contoso.com hat sich angemeldet"), "{de}");
        let en = describe(&error, Locale::new(Lang::En));
        assert!(en.starts_with("a@contoso.com signed in"), "{en}");
        let blocked = DeskError::Redeem(crate::desk::model::RedeemError::EwsBlocked {
            status: 403,
            client_id: "id".into(),
        });
        assert!(describe(&blocked, Locale::new(Lang::De)).contains("EwsAllowedAppIDs"));
    }
}
