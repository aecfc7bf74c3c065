//! The German sentences for the vault's, the redemption's and the identity
//! provider's errors: every message of the English tables has its German here,
//! the system's or provider's own detail kept verbatim where only it says more.

use crate::desk::model::{IdentityError, RedeemError, VaultError};

pub fn vault(error: &VaultError) -> String {
    match error {
        VaultError::NoKeyring { detail } => format!(
            "Kein Schlüsselbund des Betriebssystems erreichbar, der den Tresorschlüssel aufnehmen könnte ({detail}). Starten Sie in dieser Sitzung einen Secret Service (gnome-keyring, KWallet oder KeePassXC; auf einem Server: `dbus-run-session` mit `gnome-keyring-daemon --unlock`) oder schützen Sie den Tresor stattdessen mit einer Passphrase: TOKENDESK_PASSPHRASE setzen oder --passphrase-file DATEI angeben."
        ),
        VaultError::KeyMissing { key_id } => format!(
            "Der Schlüssel des Tresors ({key_id}) ist nicht im Schlüsselbund dieses Rechners. Der Tresor wurde auf einem anderen Rechner oder unter einem anderen Benutzer angelegt, oder der Eintrag wurde gelöscht. Importieren Sie stattdessen ein exportiertes Paket (`tokendesk vault import`) oder beginnen Sie neu mit `tokendesk vault init --force`."
        ),
        VaultError::WrongKey => "Der Schlüssel im Schlüsselbund öffnet diesen Tresor nicht: Er gehört zu einem anderen Tresor. Die Datei blieb unverändert.".into(),
        VaultError::WrongPassphrase => "Falsche Passphrase: Sie öffnet diesen Tresor nicht. Die Datei blieb unverändert.".into(),
        VaultError::PassphraseRequired => "Dieser Tresor ist mit einer Passphrase geschützt. Geben Sie sie ein, setzen Sie TOKENDESK_PASSPHRASE oder starten Sie mit --passphrase-file DATEI.".into(),
        VaultError::Truncated => "Die Tresordatei ist abgeschnitten (ein Schreibvorgang wurde unterbrochen oder die Festplatte ist voll). Sie blieb unverändert; „Sicherung wiederherstellen“ holt die vorige Generation zurück.".into(),
        VaultError::Corrupt(detail) => format!(
            "Die Tresordatei ist beschädigt: {detail}. Sie blieb unverändert; „Sicherung wiederherstellen“ holt die vorige Generation zurück."
        ),
        VaultError::NotAVaultFile(path) => format!(
            "{} ist kein tokendesk-Tresor. Die Datei blieb unverändert; prüfen Sie --vault-dir bzw. TOKENDESK_HOME.",
            path.display()
        ),
        VaultError::NotAVault => "Die Datei ist kein tokendesk-Tresor.".into(),
        VaultError::NotAFile(path) => format!(
            "{} ist keine reguläre Datei (ein Gerät, eine Pipe oder ein Ordner); tokendesk liest dort nur reguläre Dateien. Sie blieb unverändert.",
            path.display()
        ),
        VaultError::TooLarge(path) => format!(
            "{} ist größer als jeder Tresor, den tokendesk schreibt (256 MiB); sie wurde nicht gelesen und blieb unverändert.",
            path.display()
        ),
        VaultError::FutureVersion { found, supported } => format!(
            "Der Tresor wurde von einem neueren tokendesk geschrieben (Dateiformat {found}; diese Version liest bis {supported}). Aktualisieren Sie tokendesk; die Datei blieb unverändert."
        ),
        VaultError::NotInitialized(path) => format!(
            "In {} gibt es noch keinen Tresor. Legen Sie eine Datenquelle an, um ihn zu erstellen.",
            path.display()
        ),
        VaultError::AlreadyExists(path) => format!(
            "In {} gibt es bereits einen Tresor; mit --force wird er ersetzt (seine Daten gingen verloren).",
            path.display()
        ),
        VaultError::RestoreOfHealthyVault => "Der aktuelle Tresor lässt sich öffnen. Das Wiederherstellen der Sicherung bringt die Einstellungen der vorigen Generation zurück, jedes Token behält seinen neuesten Stand; bestätigen Sie, um fortzufahren.".into(),
        VaultError::NoBackup(path) => format!(
            "In {} gibt es noch keine Sicherung: Sie entsteht ab dem zweiten Speichern.",
            path.display()
        ),
        VaultError::Io { what, path, source } => {
            format!("{} {}: {source}", io_action(what), path.display())
        }
        VaultError::Keyring(detail) => {
            format!("Der Schlüsselbund hat den Tresorschlüssel abgelehnt: {detail}")
        }
        VaultError::NoDataDir => "Für diesen Benutzer ist kein Datenordner der Plattform bekannt; geben Sie --vault-dir an oder setzen Sie TOKENDESK_HOME.".into(),
        VaultError::Format(detail) => format!(
            "Der Inhalt des Tresors konnte nicht gelesen werden: {detail}. Die Datei blieb unverändert."
        ),
        VaultError::Invalid(detail) => {
            super::sentences_de::german(detail).unwrap_or_else(|| detail.clone())
        }
        VaultError::Field(problem) => problem.message.clone(),
        VaultError::NotFound(detail) => format!("Nicht gefunden: {detail}"),
        VaultError::RolledBack { seen, found } => format!(
            "Der Tresor ist von Generation {seen} auf {found} zurückgegangen, während tokendesk ihn benutzte (eine von einem Sicherungsprogramm zurückgespielte Datei?). Aus der älteren Kopie wurde nichts an den Anbieter gesendet: Ihre Aktualisierungstoken sind womöglich schon ersetzt, und ein erneutes Senden könnte den Anbieter die Berechtigung widerrufen lassen."
        ),
    }
}

/// The file operation that failed, as the vault names it.
fn io_action(english: &str) -> &str {
    match english {
        "Could not copy the vault to" => "Der Tresor konnte nicht kopiert werden nach",
        "Could not create the lock folder" => "Der Sperrordner konnte nicht angelegt werden:",
        "Could not create the vault folder" => "Der Tresorordner konnte nicht angelegt werden:",
        "Could not create" => "Konnte nicht angelegt werden:",
        "Could not flush the vault folder" => {
            "Der Tresorordner konnte nicht auf die Festplatte geschrieben werden:"
        }
        "Could not flush" => "Konnte nicht auf die Festplatte geschrieben werden:",
        "Could not keep a copy of the current vault at" => {
            "Eine Kopie des aktuellen Tresors konnte nicht abgelegt werden unter"
        }
        "Could not keep the backup" => "Die Sicherung konnte nicht behalten werden:",
        "Could not lock" => "Konnte nicht gesperrt werden:",
        "Could not open the lock file" => "Die Sperrdatei konnte nicht geöffnet werden:",
        "Could not open the token's lock" => "Die Sperre des Tokens konnte nicht geöffnet werden:",
        "Could not read the vault" => "Der Tresor konnte nicht gelesen werden:",
        "Could not read" => "Konnte nicht gelesen werden:",
        "Could not replace" => "Konnte nicht ersetzt werden:",
        "Could not write" => "Konnte nicht geschrieben werden:",
        other => other,
    }
}

pub fn redeem(error: &RedeemError) -> String {
    match error {
        RedeemError::Api { api, detail } => {
            format!("Das Token funktioniert, aber {api} hat den Aufruf abgelehnt: {detail}")
        }
        RedeemError::EwsBlocked { status, client_id } => format!(
            "Das Token funktioniert, aber Exchange Online hat EWS abgelehnt (HTTP {status}). Exchange Online blockiert EWS seit dem 01.10.2026, außer der Mandant erlaubt es: Ein Exchange-Administrator führt Set-OrganizationConfig -EWSEnabled $true aus und nimmt die Client-ID dieser App ({client_id}) in -EwsAllowedAppIDs auf. EWS in Exchange Online endet endgültig am 01.04.2027: Stellen Sie diese Datenquelle auf Microsoft Graph um."
        ),
        RedeemError::WrongAccount { expected, actual } => format!(
            "Das Token gehört {actual}, aber diese Verbindung ist für {expected} eingerichtet. Fordern Sie ein neues Token an, angemeldet als {expected}."
        ),
        RedeemError::NoToken(target) => format!(
            "{target} hat kein Refresh Token: Fordern Sie eines mit „MS365-Aktualisierungstoken anfordern“ an."
        ),
        RedeemError::Busy {
            target,
            holder,
            waited_seconds,
        } => format!(
            "{target} wird gerade von {holder} erneuert; nach {waited_seconds} s Warten aufgegeben. Das Token ist sicher; versuchen Sie es in einer Minute erneut."
        ),
        RedeemError::NotWritable(cause) => format!(
            "Der Tresor kann nicht geschrieben werden ({}), daher hat tokendesk den Anbieter nicht gefragt: Das gespeicherte Token ist unverändert und weiter gültig. Schaffen Sie Platz auf der Festplatte oder korrigieren Sie die Rechte des Tresorordners und versuchen Sie es erneut.",
            vault(cause)
        ),
        RedeemError::Superseded { target } => format!(
            "{target} wurde während der Erneuerung geleert oder neu angemeldet; der neuere Stand wurde behalten und das Ergebnis der Erneuerung verworfen."
        ),
        RedeemError::Rescued {
            target,
            rescue,
            cause,
        } => format!(
            "Der Anbieter hat ein neues Refresh Token für {target} ausgestellt, aber der Tresor konnte nicht geschrieben werden ({}). Das neue Token liegt sicher in der Rettungsdatei {}; tokendesk verwendet es von dort und speichert es beim nächsten erfolgreichen Schreiben. Schaffen Sie jetzt Platz oder korrigieren Sie den Ordner.",
            vault(cause),
            rescue.display()
        ),
        RedeemError::AtRisk { target, cause } => format!(
            "TOKEN GEFÄHRDET: Der Anbieter hat ein neues Refresh Token für {target} ausgestellt, aber weder der Tresor noch eine Rettungsdatei konnten geschrieben werden ({}). Das alte Token ist beim Anbieter womöglich schon ungültig. Schaffen Sie Platz und erneuern Sie sofort; scheitert das mit invalid_grant, melden Sie sich erneut an.",
            vault(cause)
        ),
        RedeemError::Identity(identity) => self::identity(identity),
        RedeemError::Vault(cause) => vault(cause),
    }
}

/// The provider's error in German: the sentence for its AADSTS code or OAuth error,
/// the code kept for support; an unknown message is kept in English behind a
/// German lead.
pub fn identity(error: &IdentityError) -> String {
    let (message, answered) = match error.message.split_once(" It answered '") {
        Some((message, rest)) => (message, Some(rest.trim_end_matches("'."))),
        None => (error.message.as_str(), None),
    };
    let mut text = match german_sentence(message) {
        Some(german) => german.to_string(),
        None => match german_with_values(message) {
            Some(german) => german,
            None => format!("Der Anbieter oder das Netzwerk hat abgelehnt: {message}"),
        },
    };
    if let Some(answer) = answered {
        text.push_str(&format!(" Er antwortete „{answer}“."));
    }
    if let Some(code) = error.code_label() {
        text.push_str(&format!(" [{code}]"));
    }
    text
}

/// The sentences that carry a value (a number of seconds, an address).
fn german_with_values(english: &str) -> Option<String> {
    if let Some(rest) = english.strip_prefix("The browser sign-in was not finished within ") {
        let seconds = rest.split(' ').next()?;
        return Some(format!(
            "Die Anmeldung im Browser wurde nicht binnen {seconds} Sekunden abgeschlossen. Starten Sie sie erneut und schließen Sie sie im Browser ab."
        ));
    }
    if let Some(rest) = english.strip_prefix("tokendesk could not listen on ") {
        let (place, detail) = rest.split_once(" for the browser's answer (")?;
        let detail = detail.split(')').next().unwrap_or("");
        return Some(format!(
            "tokendesk konnte auf {place} nicht auf die Antwort des Browsers warten ({detail}). Ein anderes Programm nutzt womöglich diesen Port: Ändern Sie den Port der Weiterleitungs-URI oder lassen Sie ihn weg, damit ein freier gewählt wird."
        ));
    }
    None
}

fn german_sentence(english: &str) -> Option<&'static str> {
    Some(match english {
        // Microsoft's AADSTS table.
        "Microsoft saw too many identical requests in a short time (AADSTS50196). tokendesk will try again later." => {
            "Microsoft hat in kurzer Zeit zu viele gleiche Anfragen gesehen (AADSTS50196). tokendesk versucht es später erneut."
        }
        "Microsoft is throttling sign-in requests for this tenant (AADSTS90055). tokendesk will try again later." => {
            "Microsoft drosselt Anmeldeanfragen für diesen Mandanten (AADSTS90055). tokendesk versucht es später erneut."
        }
        "The refresh token has expired or was revoked (AADSTS70008). The user must sign in again with Request MS365 Refresh Token." => {
            "Das Refresh Token ist abgelaufen oder wurde widerrufen (AADSTS70008). Der Benutzer muss sich mit „MS365-Aktualisierungstoken anfordern“ neu anmelden."
        }
        "The refresh token expired because it was not used for 90 days (AADSTS700082). The user must sign in again; keep-alive renewal prevents this." => {
            "Das Refresh Token ist abgelaufen, weil es 90 Tage nicht benutzt wurde (AADSTS700082). Der Benutzer muss sich neu anmelden; die Keep-alive-Erneuerung verhindert das."
        }
        "The refresh token was revoked, usually after a password reset or a session revocation (AADSTS50173). The user must sign in again." => {
            "Das Refresh Token wurde widerrufen, meist nach einer Kennwortzurücksetzung oder einem Sitzungswiderruf (AADSTS50173). Der Benutzer muss sich neu anmelden."
        }
        "The user's password changed or the session was revoked, so the refresh token is no longer valid. The user must sign in again." => {
            "Das Kennwort des Benutzers wurde geändert oder die Sitzung widerrufen, daher ist das Refresh Token nicht mehr gültig. Der Benutzer muss sich neu anmelden."
        }
        "A Conditional Access sign-in frequency policy ended this session (AADSTS70043). The user must sign in again; the token cannot outlive the policy's interval." => {
            "Eine Richtlinie für bedingten Zugriff zur Anmeldehäufigkeit hat diese Sitzung beendet (AADSTS70043). Der Benutzer muss sich neu anmelden; das Token kann das Intervall der Richtlinie nicht überdauern."
        }
        "Multi-factor authentication is now required for this user. The user must sign in again and complete MFA." => {
            "Für diesen Benutzer ist jetzt die mehrstufige Authentifizierung erforderlich. Der Benutzer muss sich neu anmelden und die MFA abschließen."
        }
        "The grant is invalid or malformed (AADSTS70000). The user must sign in again." => {
            "Die Berechtigung ist ungültig oder fehlerhaft (AADSTS70000). Der Benutzer muss sich neu anmelden."
        }
        "The app registration is a confidential client (AADSTS7000218): enable \"Allow public client flows\" under Authentication in the app registration, or enter its client secret in this data source." => {
            "Die App-Registrierung ist ein vertraulicher Client (AADSTS7000218): Aktivieren Sie „Öffentliche Clientflows zulassen“ unter Authentifizierung in der App-Registrierung, oder tragen Sie ihren geheimen Clientschlüssel in dieser Datenquelle ein."
        }
        "The app registration is a public client and must not send a secret (AADSTS700025): remove the client secret from this data source." => {
            "Die App-Registrierung ist ein öffentlicher Client und darf keinen geheimen Schlüssel senden (AADSTS700025): Entfernen Sie den geheimen Clientschlüssel aus dieser Datenquelle."
        }
        "The client secret is wrong (AADSTS7000215): copy the secret's Value (not its ID) from Certificates & secrets into this data source." => {
            "Der geheime Clientschlüssel ist falsch (AADSTS7000215): Kopieren Sie den Wert (nicht die ID) des Schlüssels aus „Zertifikate & Geheimnisse“ in diese Datenquelle."
        }
        "The client secret has expired (AADSTS7000222): create a new secret under Certificates & secrets and enter it in this data source." => {
            "Der geheime Clientschlüssel ist abgelaufen (AADSTS7000222): Erstellen Sie unter „Zertifikate & Geheimnisse“ einen neuen und tragen Sie ihn in dieser Datenquelle ein."
        }
        "No application with this client ID exists in this tenant: check the Application (client) ID and the tenant, or have the app consented in this tenant." => {
            "In diesem Mandanten gibt es keine Anwendung mit dieser Client-ID: Prüfen Sie die Anwendungs-ID (Client) und den Mandanten, oder lassen Sie der App in diesem Mandanten zustimmen."
        }
        "The tenant was not found in this cloud: check the tenant ID or domain, and the cloud (Global, US Government, China)." => {
            "Der Mandant wurde in dieser Cloud nicht gefunden: Prüfen Sie Mandanten-ID oder Domäne und die Cloud (Global, US Government, China)."
        }
        "The app registration is single-tenant (AADSTS50194): use its tenant ID or domain instead of common or organizations." => {
            "Die App-Registrierung ist auf einen Mandanten beschränkt (AADSTS50194): Verwenden Sie dessen Mandanten-ID oder Domäne statt common oder organizations."
        }
        "Microsoft rejected the tenant or cloud for this client (AADSTS9001023): use the tenant-specific authority of the app registration's home cloud." => {
            "Microsoft hat Mandant oder Cloud für diesen Client abgelehnt (AADSTS9001023): Verwenden Sie die mandantenspezifische Autorität der Heimat-Cloud der App-Registrierung."
        }
        "Consent is missing for these permissions: an administrator must grant admin consent on the app registration's API permissions page." => {
            "Für diese Berechtigungen fehlt die Zustimmung: Ein Administrator muss auf der Seite „API-Berechtigungen“ der App-Registrierung die Administratorzustimmung erteilen."
        }
        "The app registration lacks the API permission for these scopes: add the delegated permissions for EWS or Microsoft Graph under API permissions and grant consent." => {
            "Der App-Registrierung fehlt die API-Berechtigung für diese Bereiche: Fügen Sie unter „API-Berechtigungen“ die delegierten Berechtigungen für EWS oder Microsoft Graph hinzu und erteilen Sie die Zustimmung."
        }
        "Conditional Access blocked the sign-in (AADSTS53003). The likely cause is the Microsoft-managed policy \"Block device code flow\" (on by default since 2025) or a policy with the \"Authentication flows\" condition: ask the Entra admin to exclude this app or user from it. Tokens first obtained by device code can be blocked at a later refresh by the same policy." => {
            "Der bedingte Zugriff hat die Anmeldung blockiert (AADSTS53003). Wahrscheinliche Ursache ist die von Microsoft verwaltete Richtlinie „Gerätecodefluss blockieren“ (seit 2025 standardmäßig aktiv) oder eine Richtlinie mit der Bedingung „Authentifizierungsflows“: Bitten Sie den Entra-Administrator, diese App oder diesen Benutzer auszunehmen. Per Gerätecode erhaltene Token können bei einer späteren Erneuerung von derselben Richtlinie blockiert werden."
        }
        "The user must register for multi-factor authentication first (AADSTS50079): sign in once at https://aka.ms/mfasetup, then request the token again." => {
            "Der Benutzer muss sich zuerst für die mehrstufige Authentifizierung registrieren (AADSTS50079): einmal unter https://aka.ms/mfasetup anmelden, dann das Token erneut anfordern."
        }
        "The account is locked after too many failed sign-ins (AADSTS50053): wait, or have an admin unlock it, then try again." => {
            "Das Konto ist nach zu vielen fehlgeschlagenen Anmeldungen gesperrt (AADSTS50053): Warten Sie oder lassen Sie es von einem Administrator entsperren, dann erneut versuchen."
        }
        "The user account is disabled (AADSTS50057): enable it in Entra ID or use another account." => {
            "Das Benutzerkonto ist deaktiviert (AADSTS50057): Aktivieren Sie es in Entra ID oder verwenden Sie ein anderes Konto."
        }
        "The user's password has expired (AADSTS50055): the user must change it, then sign in again." => {
            "Das Kennwort des Benutzers ist abgelaufen (AADSTS50055): Der Benutzer muss es ändern und sich dann neu anmelden."
        }
        "The user is not assigned to this application (AADSTS50105): assign the user under Enterprise applications › Users and groups." => {
            "Der Benutzer ist dieser Anwendung nicht zugewiesen (AADSTS50105): Weisen Sie ihn unter Unternehmensanwendungen › Benutzer und Gruppen zu."
        }
        "The user account does not exist in this tenant (AADSTS50034): check the e-mail address and the tenant." => {
            "Das Benutzerkonto existiert in diesem Mandanten nicht (AADSTS50034): Prüfen Sie E-Mail-Adresse und Mandanten."
        }
        "The requested scopes are invalid for this provider: use scopes of a single API plus offline_access, openid and profile." => {
            "Die angeforderten Bereiche sind für diesen Anbieter ungültig: Verwenden Sie Bereiche einer einzigen API plus offline_access, openid und profile."
        }
        // The OAuth 2.0 and device-flow errors of any provider.
        "The provider no longer accepts this refresh token (expired, revoked or replaced). The user must sign in again." => {
            "Der Anbieter nimmt dieses Refresh Token nicht mehr an (abgelaufen, widerrufen oder ersetzt). Der Benutzer muss sich neu anmelden."
        }
        "The user declined the sign-in. Request a new code and approve it on the sign-in page." => {
            "Der Benutzer hat die Anmeldung abgelehnt. Fordern Sie einen neuen Code an und bestätigen Sie ihn auf der Anmeldeseite."
        }
        "The sign-in code expired before the sign-in was finished. Request a new code and enter it within its validity." => {
            "Der Anmeldecode ist abgelaufen, bevor die Anmeldung abgeschlossen war. Fordern Sie einen neuen Code an und geben Sie ihn innerhalb seiner Gültigkeit ein."
        }
        "The provider did not recognise the sign-in code. Request a new code." => {
            "Der Anbieter hat den Anmeldecode nicht erkannt. Fordern Sie einen neuen Code an."
        }
        "The provider rejected the client ID or client secret. Check both against the app registration." => {
            "Der Anbieter hat Client-ID oder geheimen Clientschlüssel abgelehnt. Prüfen Sie beide anhand der App-Registrierung."
        }
        "The provider rejected the requested scopes. Check the API choice or custom scopes of this data source." => {
            "Der Anbieter hat die angeforderten Bereiche abgelehnt. Prüfen Sie die API-Auswahl oder die eigenen Bereiche dieser Datenquelle."
        }
        "The provider does not allow this sign-in method for the client. Enable the device authorization grant for this client." => {
            "Der Anbieter erlaubt diese Anmeldemethode für den Client nicht. Aktivieren Sie die Geräteautorisierung (device authorization grant) für diesen Client."
        }
        "The identity provider is temporarily unavailable. tokendesk will try again later." => {
            "Der Identitätsanbieter ist vorübergehend nicht erreichbar. tokendesk versucht es später erneut."
        }
        "The provider rejected the request as invalid. Check the data source configuration." => {
            "Der Anbieter hat die Anfrage als ungültig abgelehnt. Prüfen Sie die Konfiguration der Datenquelle."
        }
        "The identity provider reported an internal error. tokendesk will try again later." => {
            "Der Identitätsanbieter hat einen internen Fehler gemeldet. tokendesk versucht es später erneut."
        }
        "The identity provider refused the request." => {
            "Der Identitätsanbieter hat die Anfrage abgelehnt."
        }
        "Sign-in cancelled. Nothing was stored." => {
            "Anmeldung abgebrochen. Es wurde nichts gespeichert."
        }
        // The browser sign-in.
        "The provider's id_token does not carry the nonce of this sign-in, so it may belong to another sign-in. Nothing was stored; sign in again." => {
            "Das id_token des Anbieters trägt nicht die Nonce dieser Anmeldung und gehört womöglich zu einer anderen. Es wurde nichts gespeichert; melden Sie sich erneut an."
        }
        "This provider names no authorization_endpoint in its discovery document, so it offers no browser sign-in. Use a code instead (device code flow)." => {
            "Dieser Anbieter nennt in seinem Discovery-Dokument keinen authorization_endpoint und bietet daher keine Anmeldung im Browser. Verwenden Sie stattdessen einen Code (Gerätecode-Verfahren)."
        }
        "This provider does not offer the device authorization grant (no device_authorization_endpoint in its discovery document). Sign in with the browser instead, or enable the device flow for this client." => {
            "Dieser Anbieter bietet kein Gerätecode-Verfahren an (kein device_authorization_endpoint im Discovery-Dokument). Melden Sie sich stattdessen im Browser an oder aktivieren Sie das Verfahren für diesen Client."
        }
        "The sign-in worked but the provider issued no refresh token, so the connection would die within the hour. Add offline_access to the scopes (the EWS and Graph presets include it) and sign in again." => {
            "Die Anmeldung hat funktioniert, aber der Anbieter hat kein Refresh Token ausgestellt; die Verbindung würde binnen einer Stunde enden. Nehmen Sie offline_access in die Bereiche auf (die Vorgaben EWS und Graph enthalten es) und melden Sie sich erneut an."
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::error::{KNOWN_AADSTS_CODES, ProviderErrorBody, aadsts, classify};

    #[test]
    fn every_aadsts_sentence_has_its_german() {
        for code in KNOWN_AADSTS_CODES {
            let (_, english) = aadsts(code).expect("listed");
            assert!(
                german_sentence(english).is_some(),
                "AADSTS{code}: {english}"
            );
        }
    }

    #[test]
    fn every_oauth_error_sentence_has_its_german() {
        for (error, status) in [
            ("invalid_grant", 400),
            ("authorization_declined", 400),
            ("access_denied", 400),
            ("expired_token", 400),
            ("bad_verification_code", 400),
            ("invalid_client", 401),
            ("unauthorized_client", 400),
            ("invalid_scope", 400),
            ("unsupported_grant_type", 400),
            ("temporarily_unavailable", 503),
            ("server_error", 500),
            ("invalid_request", 400),
            ("something_new", 500),
            ("something_new", 400),
        ] {
            let body = ProviderErrorBody {
                error: error.into(),
                ..Default::default()
            };
            let classified = classify(&body, Some(status));
            let german = identity(&classified);
            assert!(
                !german.starts_with("Der Anbieter oder das Netzwerk"),
                "{error}: {german}"
            );
            assert!(
                german.contains(error),
                "the provider's word stays: {german}"
            );
        }
        assert_eq!(
            identity(&IdentityError::cancelled()),
            "Anmeldung abgebrochen. Es wurde nichts gespeichert."
        );
    }

    #[test]
    fn vault_errors_read_german_with_the_detail_kept() {
        let text = vault(&VaultError::Corrupt("bad tag".into()));
        assert!(
            text.starts_with("Die Tresordatei ist beschädigt: bad tag"),
            "{text}"
        );
        let text = vault(&VaultError::io(
            "Could not write",
            "/v/vault.tdv",
            std::io::Error::other("No space left on device"),
        ));
        assert!(
            text.starts_with("Konnte nicht geschrieben werden: /v/vault.tdv"),
            "{text}"
        );
    }
}
