//! The user directory from a CSV export of the application: a header row, then
//! login, display name and e-mail per line (UTF-8, quoted fields allowed; comma,
//! semicolon — German Excel — or tab as the separator). One bad row stops the
//! import and is reported with its line number.

use std::collections::HashSet;

use super::error::VaultError;
use super::model::AppUser;
use super::ops::validate_email;

fn column(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| {
        let h: String = h
            .trim()
            .trim_start_matches('\u{feff}')
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        names.contains(&h.as_str())
    })
}

/// The separator the header row uses: the one of `,` `;` and tab it has most of,
/// outside quotes.
fn delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for byte in header.bytes() {
        if byte == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(entry) = counts.iter_mut().find(|(d, _)| *d == byte) {
            entry.1 += 1;
        }
    }
    counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n > 0)
        .map_or(b',', |(d, _)| *d)
}

pub fn parse_users(bytes: &[u8]) -> Result<Vec<AppUser>, VaultError> {
    parse_users_with_progress(bytes, |_| {})
}

/// [`parse_users`], calling `progress` with the bytes read so far every few
/// thousand rows (for a progress bar on large files).
pub fn parse_users_with_progress(
    bytes: &[u8],
    mut progress: impl FnMut(u64),
) -> Result<Vec<AppUser>, VaultError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        VaultError::Invalid(format!("The CSV file is not UTF-8 (first bad byte at offset {}); save it as UTF-8 and import again.", e.valid_up_to()))
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| VaultError::Invalid(format!("The CSV header row could not be read: {e}")))?
        .clone();
    let login = column(
        &headers,
        &[
            "login",
            "loginname",
            "user",
            "username",
            "path",
            "anmeldename",
            "benutzer",
            "benutzername",
        ],
    );
    let display = column(
        &headers,
        &[
            "displayname",
            "name",
            "fullname",
            "anzeigename",
            "vollername",
        ],
    );
    let email = column(&headers, &["email", "mail", "emailaddress", "emailadresse"]);
    let Some(login) = login else {
        return Err(VaultError::Invalid(
            "The CSV header needs a 'login' column (and optionally 'display name' and 'e-mail')."
                .into(),
        ));
    };
    let mut users: Vec<AppUser> = Vec::new();
    // One set lookup per row: searching the rows so far made 200,000 rows take minutes.
    let mut seen: HashSet<String> = HashSet::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            VaultError::Invalid(format!(
                "Line {line} of the CSV file could not be read ({e}); nothing was imported."
            ))
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let bad =
            |why: String| VaultError::Invalid(format!("Line {line}: {why}; nothing was imported."));
        let get = |index: Option<usize>| {
            index
                .and_then(|i| record.get(i))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let user = AppUser {
            login: get(Some(login)),
            display_name: get(display),
            email: get(email),
        };
        if user.login.is_empty() {
            return Err(bad("the login is empty".into()));
        }
        if !user.email.is_empty() {
            validate_email(&user.email).map_err(bad)?;
        }
        if !seen.insert(user.login.to_lowercase()) {
            return Err(bad(format!("'{}' appears twice", user.login)));
        }
        users.push(user);
        if users.len().is_multiple_of(4096) {
            progress(record.position().map_or(0, |p| p.byte()));
        }
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_and_tabs_are_separators_too() {
        let csv = "Login;Anzeigename;E-Mail\nUSER/jdoe;\"Doe; Jane\";jane@contoso.com\n";
        let users = parse_users(csv.as_bytes()).unwrap();
        assert_eq!(users[0].login, "USER/jdoe");
        assert_eq!(users[0].display_name, "Doe; Jane");
        let tsv = "login\tname\temail\nUSER/a\tA\ta@contoso.com\n";
        assert_eq!(
            parse_users(tsv.as_bytes()).unwrap()[0].email,
            "a@contoso.com"
        );
    }

    #[test]
    fn reads_quoted_fields_and_bom() {
        let csv = "\u{feff}Login,Display name,E-mail\nUSER/jdoe,\"Doe, Jane\",jane@contoso.com\n\"USER/max\",Max Müller,\n";
        let users = parse_users(csv.as_bytes()).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].display_name, "Doe, Jane");
        assert_eq!(users[1].display_name, "Max Müller");
    }

    #[test]
    fn errors_name_the_line() {
        let bad_mail = "login,display name,email\na,A,a@contoso.com\nb,B,not-an-address\n";
        assert!(
            parse_users(bad_mail.as_bytes())
                .unwrap_err()
                .to_string()
                .starts_with("Line 3:")
        );
        let short = "login,display name,email\na,A,a@contoso.com\nb,B\n";
        assert!(
            parse_users(short.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("Line 3")
        );
        let dup = "login,email\na,\nA,\n";
        assert!(
            parse_users(dup.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("Line 3: 'A' appears twice")
        );
        assert!(
            parse_users(b"name,email\nx,\n")
                .unwrap_err()
                .to_string()
                .contains("'login' column")
        );
        assert!(
            parse_users(b"login\n\xff\xfe\n")
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
    }
}
