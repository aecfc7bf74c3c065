//! Text from outside (a provider, a CSV file, an admin's typing) made safe to show:
//! a terminal must not be steered by escape sequences in a user code or a name, and
//! right-to-left overrides must not make one host look like another.

/// Whether `c` would steer a terminal or reorder text instead of being shown.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200E}' | '\u{200F}'            // left-to-right / right-to-left marks
            | '\u{202A}'..='\u{202E}'          // embeddings and overrides
            | '\u{2066}'..='\u{2069}'          // isolates
            | '\u{061C}'                       // Arabic letter mark
        )
}

/// `text` with every unsafe character written as `\u{…}` (and `\` as `\\`, so the
/// escaped form cannot be forged).
pub fn escape(text: &str) -> String {
    if !text.chars().any(|c| is_unsafe_char(c) || c == '\\') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// For names an admin gives (data sources, logins, display names): refuses control
/// and direction characters with a sentence saying which.
pub fn check_name(what: &str, value: &str) -> Result<(), String> {
    match value.chars().find(|c| is_unsafe_char(*c)) {
        Some(c) => Err(format!(
            "{what} '{}' contains the invisible character U+{:04X}; names may hold only visible characters.",
            escape(value),
            c as u32
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_steers_a_terminal() {
        assert_eq!(escape("ABCD-1234"), "ABCD-1234");
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\u{7}\ry"), "x\\u{7}\\u{d}y");
        assert_eq!(escape("moc.\u{202E}evil"), "moc.\\u{202e}evil");
        assert_eq!(escape("back\\slash"), "back\\\\slash");
        assert_eq!(escape("Jürgen Müller"), "Jürgen Müller");
    }

    #[test]
    fn names_with_control_characters_are_refused() {
        assert!(check_name("The data source name", "Exchange EU").is_ok());
        let error = check_name("The login", "USER/\u{1b}[31mx").unwrap_err();
        assert!(error.contains("U+001B"), "{error}");
        assert!(check_name("The name", "a\u{2067}b").is_err());
    }
}
