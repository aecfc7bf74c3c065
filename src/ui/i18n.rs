//! One translation layer for every user-facing string of the window. Strings are
//! keyed by their English text (as gettext does), so the English UI needs no table
//! and a missing German entry falls back to English instead of to a key name.

use chrono::{DateTime, Local, Utc};

use super::i18n_de::german;

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

    /// `TOKENDESK_LANG` wins over the OS locale.
    pub fn detect() -> Self {
        let tag = Self::override_tag()
            .or_else(sys_locale::get_locale)
            .unwrap_or_else(|| "en".into());
        Self::from_tag(&tag)
    }

    fn override_tag() -> Option<String> {
        std::env::var("TOKENDESK_LANG")
            .ok()
            .filter(|v| !v.is_empty())
    }

    /// The language chosen in Settings; `TOKENDESK_LANG` still wins, so a support
    /// session can switch to English without touching the admin's settings.
    pub fn preferred(language: &str) -> Self {
        Self::from_tag(&Self::override_tag().unwrap_or_else(|| language.to_string()))
    }

    fn from_tag(tag: &str) -> Self {
        let tag = tag.to_ascii_lowercase().replace('_', "-");
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

    /// Translates a sentence with `{name}` placeholders, then fills them in, so each
    /// language can put the values where its grammar wants them.
    pub fn fill(&self, template: &'static str, values: &[(&str, &str)]) -> String {
        let mut text = self.tr(template).to_string();
        for (name, value) in values {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
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

#[cfg(test)]
mod coverage {
    use super::german;

    /// The first string literal after each `tr(` / `fill(` in the window's source.
    fn translated_literals(source: &str) -> Vec<String> {
        let mut found = Vec::new();
        for call in ["tr(", "fill("] {
            let mut rest = source;
            while let Some(at) = rest.find(call) {
                rest = &rest[at + call.len()..];
                let trimmed = rest.trim_start();
                let Some(body) = trimmed.strip_prefix('"') else {
                    continue;
                };
                let mut literal = String::new();
                let mut chars = body.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(next) = chars.next() {
                                literal.push(match next {
                                    'n' => '\n',
                                    other => other,
                                });
                            }
                        }
                        '"' => break,
                        c => literal.push(c),
                    }
                }
                found.push(literal);
            }
        }
        found
    }

    fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("ui folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                out.push((path.display().to_string(), text));
            }
        }
    }

    #[test]
    fn every_sentence_the_window_translates_has_its_german() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui");
        let mut files = Vec::new();
        sources(&dir, &mut files);
        let mut missing = Vec::new();
        for (file, text) in &files {
            if file.ends_with("i18n.rs") || file.ends_with("i18n_de.rs") {
                continue;
            }
            for literal in translated_literals(text) {
                if german(&literal).is_none() {
                    missing.push(format!("{file}: {literal:?}"));
                }
            }
        }
        assert!(missing.is_empty(), "no German for:\n{}", missing.join("\n"));
    }
}
