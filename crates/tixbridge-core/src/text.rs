//! Multilingual text (one value per two-letter language code), and the character rules
//! every text value follows: no control characters ([`check_plain_text`]) and lengths
//! counted after NFC normalisation ([`char_count`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use crate::api::FieldError;

/// Error code of a value carrying a control character.
pub const INVALID_CHARACTER: &str = "INVALID_CHARACTER";

/// Whether `c` is refused in a text value: U+0000–U+001F and U+007F, except tab and
/// line feed in a multi-line field (issue 7, item 5).
pub fn is_refused_control(c: char, multiline: bool) -> bool {
    (c <= '\u{1f}' || c == '\u{7f}') && !(multiline && matches!(c, '\t' | '\n'))
}

/// The one character rule of every text value the wallet or the ticketing import
/// takes (JSON fields, CSV cells, path segments, query parameters): no control
/// character (U+0000–U+001F, U+007F). A `multiline` field also takes tab and line
/// breaks (LF, or CR LF). The error (`INVALID_CHARACTER`) names `field` and the
/// character's position (1-based, in characters).
pub fn check_plain_text(field: &str, value: &str, multiline: bool) -> Result<(), FieldError> {
    // Control characters are ASCII bytes, which never occur inside a multi-byte
    // UTF-8 sequence: a byte scan finds them without decoding.
    let bytes = value.as_bytes();
    let bad = bytes.iter().enumerate().position(|(i, &b)| {
        (b < 0x20 || b == 0x7f)
            && !(multiline
                && (b == b'\t' || b == b'\n' || (b == b'\r' && bytes.get(i + 1) == Some(&b'\n'))))
    });
    match bad {
        None => Ok(()),
        Some(at) => Err(FieldError {
            code: INVALID_CHARACTER,
            message: format!(
                "{field} contains the control character U+{:04X} at character {}; {}",
                bytes[at],
                value[..at].chars().count() + 1,
                if multiline {
                    "only printable text, tabs and line breaks are accepted"
                } else {
                    "only printable text on one line is accepted"
                }
            ),
        }),
    }
}

/// Length of a text value in characters after NFC normalisation: `e` + U+0301 is one
/// character, as the limits of the contract mean (issue 7, item 5).
pub fn char_count(value: &str) -> usize {
    if value.is_ascii() {
        return value.len();
    }
    match is_nfc_quick(value.chars()) {
        IsNormalized::Yes => value.chars().count(),
        _ => value.nfc().count(),
    }
}

/// Text as the wallet API accepts it: either one string or a language-keyed object
/// (`{"en": "Final", "fr": "Finale"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Text {
    Plain(String),
    Multi(BTreeMap<String, String>),
}

/// Written by hand rather than derived: serde's untagged enums buffer every value
/// before trying each variant, and a ticket carries a dozen texts.
impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an object of language code to string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text::Plain(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text::Plain(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Text, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = m.next_entry::<String, String>()? {
                    out.insert(k, v);
                }
                Ok(Text::Multi(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Text {
    /// The value a reader without language preference sees: the plain string, or the
    /// English value, or the first language in alphabetical order.
    pub fn default_value(&self) -> &str {
        match self {
            Text::Plain(s) => s,
            Text::Multi(m) => m
                .get("en")
                .or_else(|| m.values().next())
                .map(String::as_str)
                .unwrap_or(""),
        }
    }

    /// Every value, for length checks.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Text::Plain(s) => vec![s.as_str()],
            Text::Multi(m) => m.values().map(String::as_str).collect(),
        }
    }

    pub fn is_blank(&self) -> bool {
        self.values().iter().all(|v| v.trim().is_empty())
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::Plain(s.to_owned())
    }
}

/// Multilingual text as ticketing keeps it: a default language plus translations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalizedText {
    /// Language code → value. The default language's value is always present when the
    /// text is non-empty.
    pub values: BTreeMap<String, String>,
}

impl LocalizedText {
    pub fn new(lang: &str, value: impl Into<String>) -> Self {
        let mut values = BTreeMap::new();
        values.insert(lang.to_owned(), value.into());
        Self { values }
    }

    pub fn with(mut self, lang: &str, value: impl Into<String>) -> Self {
        self.values.insert(lang.to_owned(), value.into());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.values.values().all(|v| v.is_empty())
    }

    pub fn get(&self, lang: &str) -> Option<&str> {
        self.values.get(lang).map(String::as_str)
    }

    /// What injection sends: the default language's value as one string, or every
    /// language as an object when `sendMultilingualAsJsonObject` is set.
    pub fn to_wire(&self, default_lang: &str, as_object: bool) -> Text {
        if as_object {
            Text::Multi(self.values.clone())
        } else {
            Text::Plain(
                self.values
                    .get(default_lang)
                    .or_else(|| self.values.values().next())
                    .cloned()
                    .unwrap_or_default(),
            )
        }
    }
}

/// True for a two-letter lower-case language code such as `en` or `fr`.
pub fn is_language_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_follows_the_parameter() {
        let t = LocalizedText::new("en", "Final").with("fr", "Finale");
        assert_eq!(t.to_wire("en", false), Text::Plain("Final".into()));
        assert_eq!(t.to_wire("fr", false), Text::Plain("Finale".into()));
        let json = serde_json::to_string(&t.to_wire("en", true)).unwrap();
        assert_eq!(json, r#"{"en":"Final","fr":"Finale"}"#);
    }

    #[test]
    fn control_characters_are_refused_naming_the_field() {
        let e = check_plain_text("event.name", "Fi\u{0}nal", false).unwrap_err();
        assert_eq!(e.code, INVALID_CHARACTER);
        assert!(
            e.message
                .starts_with("event.name contains the control character U+0000 at character 3"),
            "{}",
            e.message
        );
        assert!(check_plain_text("x", "é\u{7f}", false).is_err());
        assert!(check_plain_text("x", "a\tb", false).is_err());
        assert!(check_plain_text("x", "a\nb", false).is_err());
        assert_eq!(check_plain_text("x", "a\tb\nc\r\nd", true), Ok(()));
        assert!(check_plain_text("x", "a\rb", true).is_err());
        assert!(check_plain_text("x", "a\u{1b}b", true).is_err());
        assert_eq!(check_plain_text("x", "Zoë · 東京", false), Ok(()));
    }

    #[test]
    fn lengths_count_characters_after_nfc() {
        assert_eq!(char_count("abc"), 3);
        assert_eq!(char_count("e\u{301}"), 1);
        assert_eq!(char_count("\u{e9}"), 1);
        let combining: String = "e\u{301}".repeat(30);
        assert_eq!(combining.chars().count(), 60);
        assert_eq!(char_count(&combining), 30);
    }

    #[test]
    fn text_refuses_other_shapes() {
        assert!(serde_json::from_str::<Text>("3").is_err());
        assert!(serde_json::from_str::<Text>(r#"{"en": 3}"#).is_err());
        assert!(serde_json::from_str::<Text>("[\"a\"]").is_err());
    }

    #[test]
    fn text_deserializes_both_forms() {
        let a: Text = serde_json::from_str(r#""x""#).unwrap();
        assert_eq!(a.default_value(), "x");
        let b: Text = serde_json::from_str(r#"{"fr":"y","en":"z"}"#).unwrap();
        assert_eq!(b.default_value(), "z");
    }
}
