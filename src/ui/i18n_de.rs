//! The German table: every sentence the window shows, keyed by its English text.

pub(super) fn german(english: &str) -> Option<&'static str> {
    Some(match english {
        "Consume data" => "Daten konsumieren",
        "Connector for Microsoft Exchange" => "Connector für Microsoft Exchange",
        "Data sources" => "Datenquellen",
        "New data source" => "Neue Datenquelle",
        "Edit" => "Bearbeiten",
        "Delete" => "Löschen",
        "Name" => "Name",
        "Tenant" => "Mandant",
        "Tenant or provider" => "Mandant oder Anbieter",
        "Clear {when}: {revoked} revoked at the provider and cleared, {cleared} cleared here only, {refused} left as they were." => {
            "Löschen {when}: {revoked} beim Anbieter widerrufen und gelöscht, {cleared} nur hier gelöscht, {refused} unverändert gelassen."
        }
        "Also revoke them at the provider (RFC 7009) where it offers that: {revocable} of {count}" => {
            "Auch beim Anbieter widerrufen (RFC 7009), wo er das anbietet: {revocable} von {count}"
        }
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
        "Client secret" => "Geheimer Clientschlüssel",
        "optional" => "optional",
        "Show" => "Anzeigen",
        "Hide" => "Verbergen",
        "API" => "API",
        "Custom scopes" => "Eigene Scopes",
        "Scopes" => "Scopes",
        "E-mail / user name" => "E-Mail / Benutzername",
        "Server" => "Server",
        "EWS URL" => "EWS-URL",
        "API root (optional)" => "API-Basis-URL (optional)",
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
        "The finished sign-in was saved at once, together with what it belongs to; Cancel does not undo it." => {
            "Die abgeschlossene Anmeldung wurde sofort gespeichert, zusammen mit dem, wozu sie gehört; Abbrechen macht das nicht rückgängig."
        }
        "A finished sign-in is kept only in this dialog until OK saves it. Press Cancel again to discard it." => {
            "Eine abgeschlossene Anmeldung ist nur in diesem Dialog, bis OK sie speichert. Drücken Sie noch einmal Abbrechen, um sie zu verwerfen."
        }
        "Yes" => "Ja",
        "No" => "Nein",
        "Next" => "Weiter",
        "Retry" => "Erneut versuchen",
        "Close" => "Schließen",
        "Copy" => "Kopieren",
        "Sign-in not started" => "Anmeldung nicht begonnen",
        "Nothing was asked of the provider. Make room on the disk (or make the vault folder writable), then retry." => {
            "Der Anbieter wurde nichts gefragt. Schaffen Sie Platz auf dem Datenträger (oder machen Sie den Tresorordner beschreibbar) und versuchen Sie es erneut."
        }
        "Copied" => "Kopiert",
        "Open Microsoft login page" => "Microsoft-Anmeldeseite öffnen",
        "Open the sign-in page" => "Anmeldeseite öffnen",
        "Enter this code on the provider's sign-in page:" => {
            "Geben Sie diesen Code auf der Anmeldeseite des Anbieters ein:"
        }
        "Request Refresh Token" => "Aktualisierungstoken anfordern",
        "Provider" => "Anbieter",
        "A gateway (tokendesk serve) serves this vault." => {
            "Ein Gateway (tokendesk serve) bedient diesen Tresor."
        }
        "Consumers (applications that fetch access tokens from tokendesk serve)" => {
            "Konsumenten (Anwendungen, die Zugriffstoken von tokendesk serve abrufen)"
        }
        "No consumers yet." => "Noch keine Konsumenten.",
        "all users" => "alle Benutzer",
        "New consumer" => "Neuer Konsument",
        "The key of '{name}', shown only now (tokendesk keeps a salted hash of it):" => {
            "Der Schlüssel von „{name}“, nur jetzt angezeigt (tokendesk behält nur einen gesalzenen Hash):"
        }
        "{count} tokens need attention; the most urgent are listed here, all in All mailboxes." => {
            "{count} Token erfordern Aufmerksamkeit; die dringendsten stehen hier, alle unter Alle Postfächer."
        }
        "Redirect URI" => "Weiterleitungs-URI",
        "optional; the browser sign-in's return address" => {
            "optional; die Rücksprungadresse der Anmeldung im Browser"
        }
        "Sign in in the browser window that opened. tokendesk waits for its answer." => {
            "Melden Sie sich im geöffneten Browserfenster an. tokendesk wartet auf dessen Antwort."
        }
        "If no browser opened, open this page yourself:" => {
            "Falls sich kein Browser geöffnet hat, öffnen Sie diese Seite selbst:"
        }
        "Use a code instead" => "Stattdessen einen Code verwenden",
        "Sign in with the browser" => "Im Browser anmelden",
        "A policy blocks sign-ins with a code. The browser sign-in is not affected by it." => {
            "Eine Richtlinie blockiert Anmeldungen mit Code. Die Anmeldung im Browser ist davon nicht betroffen."
        }
        "Opening the sign-in page in the browser…" => {
            "Die Anmeldeseite wird im Browser geöffnet…"
        }
        "All mailboxes" => "Alle Postfächer",
        "Every state" => "Jeder Zustand",
        "{shown} of {total} tokens shown, {selected} selected" => {
            "{shown} von {total} Token angezeigt, {selected} ausgewählt"
        }
        "Select all shown" => "Alle angezeigten auswählen",
        "Select none" => "Auswahl aufheben",
        "Renew selected" => "Ausgewählte erneuern",
        "Request new tokens" => "Neue Token anfordern",
        "Clear" => "Token löschen",
        "Select" => "Auswählen",
        "unknown" => "unbekannt",
        "Data source" => "Datenquelle",
        "Expires" => "Läuft ab",
        "Last renewal" => "Letzte Erneuerung",
        "Clear the tokens of {count} mailbox(es)? Their connections stop until someone requests a new token." => {
            "Die Token von {count} Postfach/Postfächern leeren? Ihre Verbindungen ruhen, bis jemand ein neues Token anfordert."
        }
        "Sign-in {at} of {of}: {account}" => "Anmeldung {at} von {of}: {account}",
        "Import users (CSV)" => "Benutzer importieren (CSV)",
        "A CSV file with a header row: login, display name and e-mail (comma, semicolon or tab separated)." => {
            "Eine CSV-Datei mit Kopfzeile: Anmeldename, Anzeigename und E-Mail (durch Komma, Semikolon oder Tabulator getrennt)."
        }
        "File" => "Datei",
        "Preview" => "Vorschau",
        "{count} user(s) in the file, every row checked:" => {
            "{count} Benutzer in der Datei, jede Zeile geprüft:"
        }
        "Login" => "Anmeldename",
        "Display name" => "Anzeigename",
        "E-mail" => "E-Mail",
        "Import" => "Importieren",
        "Nothing was imported. Fix the lines named and preview again." => {
            "Es wurde nichts importiert. Korrigieren Sie die genannten Zeilen und zeigen Sie die Vorschau erneut an."
        }
        "Microsoft Graph (the API chosen on the General tab)" => {
            "Microsoft Graph (die auf der Registerkarte Allgemein gewählte API)"
        }
        "All tokens" => "Alle Token",
        "{worst} · {count} need action" => "{worst} · Handlungsbedarf: {count}",
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
        "Refresh token lifetime (days)" => "Lebensdauer des Aktualisierungstokens (Tage)",
        "only if the provider does not say; empty = unknown" => {
            "nur, falls der Anbieter sie nicht nennt; leer = unbekannt"
        }
        "Counted from" => "Gezählt ab",
        "The refresh tokens of '{name}' die after {hours} hours without use: a daily job cannot keep them alive. Keep this window open or run tokendesk renew --due more often." => {
            "Die Aktualisierungstoken von „{name}“ verfallen nach {hours} Stunden ohne Verwendung: ein täglicher Auftrag kann sie nicht am Leben halten. Lassen Sie dieses Fenster geöffnet oder führen Sie tokendesk renew --due häufiger aus."
        }
        "Microsoft: 90 days after the last use" => "Microsoft: 90 Tage nach der letzten Verwendung",
        "as the provider stated" => "laut Anbieter",
        "by this data source's rule" => "nach der Regel dieser Datenquelle",
        "unknown: the provider does not say" => "unbekannt: der Anbieter nennt sie nicht",
        "last use" => "letzter Verwendung",
        "sign-in" => "Anmeldung",
        "{who} signed in, but this token is for {expected}. Nothing was stored." => {
            "{who} hat sich angemeldet, dieses Token gehört aber zu {expected}. Es wurde nichts gespeichert."
        }
        "The provider did not name the account" => "Der Anbieter hat das Konto nicht genannt",
        "The sign-in worked, but the provider did not say who signed in ({reason}), so tokendesk cannot check that it is {expected}. Nothing was stored. Store anyway if {expected} signed in." => {
            "Die Anmeldung hat funktioniert, aber der Anbieter hat nicht gesagt, wer sich angemeldet hat ({reason}); tokendesk kann daher nicht prüfen, ob es {expected} ist. Es wurde nichts gespeichert. Speichern Sie trotzdem, wenn sich {expected} angemeldet hat."
        }
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
        "Test Connection works once this user is saved." => {
            "Verbindung testen geht, sobald dieser Benutzer gespeichert ist."
        }
        "healthy" => "in Ordnung",
        "No token is due for renewal." => "Kein Token ist zur Erneuerung fällig.",
        "works; expiry unknown" => "funktioniert; Ablauf unbekannt",
        "The provider's userinfo endpoint (Test Connection asks it who signed in)" => {
            "Der Userinfo-Endpunkt des Anbieters (Verbindung testen fragt ihn, wer angemeldet ist)"
        }
        "{count} renewed" => "{count} erneuert",
        "{count} not due" => "{count} nicht fällig",
        "{count} failed for now" => "{count} vorerst fehlgeschlagen",
        "{count} need a new sign-in" => "neue Anmeldung nötig: {count}",
        "{count} left to another process" => "{count} einem anderen Prozess überlassen",
        "no token to look at" => "kein Token zu prüfen",
        "Renewal {when}: {summary}" => "Erneuerung {when}: {summary}",
        "The Microsoft 365 connection is not available at the moment. Please try again later or contact your administrator." => {
            "Die Microsoft-365-Verbindung ist im Moment nicht verfügbar. Bitte versuchen Sie es später erneut oder wenden Sie sich an Ihren Administrator."
        }
        "Also revoke it at the provider (RFC 7009), so no copy of it works any more" => {
            "Auch beim Anbieter widerrufen (RFC 7009), damit keine Kopie mehr funktioniert"
        }
        "The provider revoked the token, and it was cleared here." => {
            "Der Anbieter hat das Token widerrufen, und es wurde hier geleert."
        }
        "The provider offers no revocation; the token was cleared here only." => {
            "Der Anbieter bietet keinen Widerruf an; das Token wurde nur hier geleert."
        }
        "Not revoked, and nothing was cleared: {problem}" => {
            "Nicht widerrufen, und nichts wurde geleert: {problem}"
        }
        "Tokens work, but a renewal fails for now." => {
            "Die Token funktionieren, aber eine Erneuerung scheitert vorerst."
        }
        "Tokens work, but when some of them end is unknown." => {
            "Die Token funktionieren, aber bei einigen ist unbekannt, wann sie ablaufen."
        }
        "works; renewal failing" => "funktioniert; Erneuerung scheitert vorerst",
        "temporary problem" => "vorübergehendes Problem",
        "sign-in needed" => "Anmeldung nötig",
        "admin action needed" => "Eingriff des Administrators nötig",
        "sign-in declined" => "Anmeldung abgelehnt",
        "code expired" => "Code abgelaufen",
        "cancelled" => "abgebrochen",
        "renewal due" => "Erneuerung fällig",
        "renewal forced" => "Erneuerung erforderlich",
        "expired" => "abgelaufen",
        "needs sign-in" => "Anmeldung nötig",
        "no token" => "kein Token",
        "at risk: vault not writable" => "gefährdet: Tresor nicht beschreibbar",
        "Exchange token for {account} will expire on {when}. Request a new token in Edit data source to avoid inconvenience." => {
            "Das Exchange-Token für {account} läuft am {when} ab. Fordern Sie unter „Datenquelle bearbeiten“ ein neues Token an, um Unannehmlichkeiten zu vermeiden."
        }
        "Exchange token for {account} expires on {when}. Renewal is required now: Edit data source › Exchange account › Request MS365 Refresh Token." => {
            "Das Exchange-Token für {account} läuft am {when} ab. Die Erneuerung ist jetzt erforderlich: Datenquelle bearbeiten › Exchange-Konto › MS365-Aktualisierungstoken anfordern."
        }
        "Exchange token for {account} expired on {when}. Request a new token in Edit data source." => {
            "Das Exchange-Token für {account} ist am {when} abgelaufen. Fordern Sie unter „Datenquelle bearbeiten“ ein neues Token an."
        }
        "Exchange token for {account} was rejected by Microsoft. {account} must sign in again." => {
            "Microsoft hat das Exchange-Token für {account} abgelehnt. {account} muss sich erneut anmelden."
        }
        "The token for {account} expires on {when}. Renewal is required now: Edit data source › Request Refresh Token." => {
            "Das Token für {account} läuft am {when} ab. Die Erneuerung ist jetzt erforderlich: Datenquelle bearbeiten › Aktualisierungstoken anfordern."
        }
        "The token for {account} was rejected by its provider. {account} must sign in again." => {
            "Der Anbieter hat das Token für {account} abgelehnt. {account} muss sich erneut anmelden."
        }
        "The token for {account} was cleared. Request a new token to resume the connection." => {
            "Das Token für {account} wurde gelöscht. Fordern Sie ein neues Token an, um die Verbindung fortzusetzen."
        }
        "The newest token for {account} could not be saved in the vault (disk full or folder not writable) and waits in a rescue file. Free disk space now: tokendesk stores it at the next save." => {
            "Das neueste Token für {account} konnte nicht im Tresor gespeichert werden (Datenträger voll oder Ordner nicht beschreibbar) und liegt in einer Rettungsdatei. Geben Sie jetzt Speicherplatz frei: tokendesk übernimmt es beim nächsten Speichern."
        }
        "{count} token(s) need attention, {urgent} urgent" => {
            "Aufmerksamkeit nötig: {count} Token, davon {urgent} dringend"
        }
        "Keep-alive is renewing tokens…" => "Keep-alive erneuert Token…",
        "Keep-alive {when}: {summary}" => "Keep-alive {when}: {summary}",
        "Keep-alive {when} failed: {error}" => "Keep-alive {when} fehlgeschlagen: {error}",
        "next run {when}" => "nächster Lauf {when}",
        "Keep-alive: next run {when}" => "Keep-alive: nächster Lauf {when}",
        "Renew due tokens now" => "Fällige Token jetzt erneuern",
        "Settings" => "Einstellungen",
        "Vault: this computer" => "Tresor: dieser Computer",
        "Vault" => "Tresor",
        "Moving back copies the records as the database has them into a vault file on this computer; the database keeps them for the other machines." => {
            "Zurückholen kopiert die Einträge, wie die Datenbank sie hat, in eine Tresordatei auf diesem Computer; die Datenbank behält sie für die anderen Rechner."
        }
        "Move back now" => "Jetzt zurückholen",
        "Move back to this computer" => "Auf diesen Computer zurückholen",
        "PostgreSQL connection string" => "PostgreSQL-Verbindungszeichenfolge",
        "No password is kept: put it in ~/.pgpass (host:port:database:user:password) on every machine." => {
            "Kein Passwort wird gespeichert: Tragen Sie es auf jedem Rechner in ~/.pgpass ein (Host:Port:Datenbank:Benutzer:Passwort)."
        }
        "Test connection" => "Verbindung testen",
        "Move now: every desk and gateway in this folder uses the database from then on" => {
            "Jetzt verschieben: Jeder Desk und jedes Gateway in diesem Ordner nutzt danach die Datenbank"
        }
        "Move this vault into the database" => "Diesen Tresor in die Datenbank verschieben",
        "Connected to {location}. It already holds a shared vault: moving this vault in merges it there." => {
            "Verbunden mit {location}. Dort liegt bereits ein gemeinsamer Tresor: Beim Verschieben wird dieser Tresor dort zusammengeführt."
        }
        "Connected to {location}. No vault there yet: this vault can move in." => {
            "Verbunden mit {location}. Dort liegt noch kein Tresor: Dieser Tresor kann dorthin umziehen."
        }
        "Moved: {sources} data source(s), {tokens} token(s); the vault is now kept in {location}." => {
            "Verschoben: {sources} Datenquelle(n), {tokens} Token; der Tresor liegt jetzt in {location}."
        }
        "Joined: this computer now uses the shared vault in {location} ({sources} data source(s)); its keyring keeps the key." => {
            "Beigetreten: Dieser Computer nutzt jetzt den gemeinsamen Tresor in {location} ({sources} Datenquelle(n)); sein Schlüsselbund verwahrt den Schlüssel."
        }
        "Shared vault passphrase (to join one that exists)" => {
            "Passphrase des gemeinsamen Tresors (um einem bestehenden beizutreten)"
        }
        "Join the shared vault" => "Dem gemeinsamen Tresor beitreten",
        "gateway" => "Gateway",
        "desk" => "Desk",
        "command" => "Befehl",
        "{face} on {machine}" => "{face} auf {machine}",
        "Also here in the last minute: {others}" => "In der letzten Minute auch hier: {others}",
        "Vault: shared (PostgreSQL {location})" => "Tresor: gemeinsam (PostgreSQL {location})",
        "Where the tokens of this window are kept." => {
            "Wo die Tokens dieses Fensters aufbewahrt werden."
        }
        "The shared vault ({location}) does not answer. This window shows what it last read and is read-only until the database answers again; gateways keep serving the access tokens they hold." => {
            "Der gemeinsame Tresor ({location}) antwortet nicht. Dieses Fenster zeigt den zuletzt gelesenen Stand und ist schreibgeschützt, bis die Datenbank wieder antwortet; Gateways geben weiter die Zugriffstokens aus, die sie halten."
        }
        "Reminders from (days before expiry)" => "Erinnerungen ab (Tage vor Ablauf)",
        "Forced renewal in the last (days)" => "Erzwungene Erneuerung in den letzten (Tagen)",
        "Keep-alive renews tokens unused for (days)" => {
            "Keep-alive erneuert Token, die so lange unbenutzt sind (Tage)"
        }
        "Renew due tokens while this window is open" => {
            "Fällige Token erneuern, solange dieses Fenster offen ist"
        }
        "Keep-alive runs every (hours)" => "Keep-alive läuft alle (Stunden)",
        "Message for consumers without a token" => "Meldung für Anwendungen ohne Token",
        "Language" => "Sprache",
        "As the system" => "Wie das System",
        "Scheduled keep-alive (runs tokendesk renew --due daily, also while this window is closed)" => {
            "Geplantes Keep-alive (führt täglich tokendesk renew --due aus, auch wenn dieses Fenster geschlossen ist)"
        }
        "Exchange Online blocks EWS unless the tenant allows this app (EWSEnabled, EwsAllowedAppIDs) and ends it on 2027-04-01; prefer Microsoft Graph." => {
            "Exchange Online blockiert EWS, außer der Mandant lässt diese App zu (EWSEnabled, EwsAllowedAppIDs), und beendet es am 01.04.2027; verwenden Sie bevorzugt Microsoft Graph."
        }
        "{renewed} renewed, {fresh} not due, {failed} failed for now, {dead} need a new sign-in" => {
            "{renewed} erneuert, {fresh} nicht fällig, {failed} vorerst fehlgeschlagen, neue Anmeldung nötig: {dead}"
        }
        "Details for support" => "Details für den Support",
        "No data sources yet." => "Noch keine Datenquellen.",
        "Switch this data source to Microsoft Graph" => {
            "Diese Datenquelle auf Microsoft Graph umstellen"
        }
        "Switched to Microsoft Graph: save with OK, then Test Connection again. If Microsoft answers that consent is missing, request a new refresh token." => {
            "Auf Microsoft Graph umgestellt: mit OK speichern, dann die Verbindung erneut testen. Meldet Microsoft eine fehlende Zustimmung, fordern Sie ein neues Refresh Token an."
        }
        "Install schedule" => "Zeitplan einrichten",
        "Remove schedule" => "Zeitplan entfernen",
        "Show schedule" => "Zeitplan anzeigen",
        "Code" => "Code",
        "Back to the code" => "Zurück zum Code",
        "Time left to sign in:" => "Verbleibende Zeit für die Anmeldung:",
        "Does the page show an error?" => "Zeigt die Seite einen Fehler?",
        "Then the provider does not accept the address it was asked to send the browser back to. Register this redirect URI for client {client} at the provider (a loopback address may use any port), or enter the one registered there as this data source's Redirect URI and sign in again:" => {
            "Dann nimmt der Anbieter die Adresse nicht an, an die er den Browser zurückschicken soll. Registrieren Sie diese Weiterleitungs-URI für den Client {client} beim Anbieter (eine Loopback-Adresse darf jeden Port verwenden), oder tragen Sie die dort registrierte als Weiterleitungs-URI dieser Datenquelle ein und melden Sie sich erneut an:"
        }
        "Its {count} additional user(s) and their tokens:" => {
            "Ihre {count} zusätzlichen Benutzer und deren Token:"
        }
        "Its consumers, whose keys stop working: {names}" => {
            "Ihre Anwendungen, deren Schlüssel nicht mehr funktionieren: {names}"
        }
        "new" => "neu",
        "Consumers are added and removed when you press OK; Cancel keeps them as they were." => {
            "Anwendungen werden mit OK hinzugefügt und entfernt; Abbrechen lässt sie, wie sie waren."
        }
        "Put it into the application's configuration now; it is not shown again, and it works once you press OK." => {
            "Tragen Sie ihn jetzt in die Konfiguration der Anwendung ein; er wird nicht wieder angezeigt und gilt, sobald Sie OK drücken."
        }
        "Notifications (the gateway, or the scheduled keep-alive, tells admins when a token needs a new sign-in, every day while tokens near their end, and when they work again)" => {
            "Benachrichtigungen (das Gateway oder die geplante Erhaltung meldet Administratoren, wenn ein Token eine neue Anmeldung braucht, täglich, solange Token bald ablaufen, und wenn sie wieder funktionieren)"
        }
        "No notifiers yet." => "Noch keine Benachrichtigungskanäle.",
        "Test" => "Testen",
        "Delivery fails since {since}: {error}" => "Zustellung schlägt fehl seit {since}: {error}",
        "Sending a test message…" => "Testnachricht wird gesendet …",
        "A test message went out through '{name}'." => {
            "Eine Testnachricht wurde über „{name}“ gesendet."
        }
        "The test message through '{name}' was not delivered: {error}" => {
            "Die Testnachricht über „{name}“ wurde nicht zugestellt: {error}"
        }
        "Notifiers are added and removed when you press OK; Cancel keeps them as they were." => {
            "Benachrichtigungskanäle werden mit OK hinzugefügt und entfernt; Abbrechen lässt sie, wie sie waren."
        }
        "New notifier" => "Neuer Kanal",
        "Add notifier" => "Kanal hinzufügen",
        "Mail server for notifications (optional)" => {
            "Mailserver für Benachrichtigungen (optional)"
        }
        "mail relay device, logs in as" => "Gerät am Mail-Relay, meldet sich an als",
        "IMAP server for the mail relay (optional)" => "IMAP-Server für das Mail-Relay (optional)",
        "Webhook" => "Webhook",
        "URL" => "URL",
        "To" => "An",
        "From the mailbox of" => "Aus dem Postfach von",
        "Notifications through '{name}' fail" => "Benachrichtigungen über „{name}“ schlagen fehl",
        _ => return None,
    })
}
