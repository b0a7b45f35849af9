//! Multilingual text: one value per two-letter language code.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

/// Refuses control characters in a text value (issue 7 item 5): U+0000–U+001F and
/// U+007F, except tab and line feed (and carriage return, as part of a line end) when
/// `multiline`. The error names `field` and the character's code point and position
/// (1-based, in characters).
pub fn check_plain_text(field: &str, value: &str, multiline: bool) -> Result<(), String> {
    let allowed = |c: char| multiline && matches!(c, '\t' | '\n' | '\r');
    match value
        .chars()
        .enumerate()
        .find(|(_, c)| (c.is_ascii_control()) && !allowed(*c))
    {
        None => Ok(()),
        Some((i, c)) => Err(format!(
            "{field} holds the control character U+{:04X} at character {}; {}",
            c as u32,
            i + 1,
            if multiline {
                "only tab and line breaks are allowed"
            } else {
                "this field takes one line of text without tabs or line breaks"
            }
        )),
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

    #[test]
    fn control_characters_are_named() {
        assert_eq!(check_plain_text("email", "a@example.org", false), Ok(()));
        let e = check_plain_text("email", "a@exa\u{0}mple.org", false).unwrap_err();
        assert!(
            e.starts_with("email holds the control character U+0000 at character 6"),
            "{e}"
        );
        assert!(check_plain_text("note", "a\tb\r\nc", true).is_ok());
        assert!(check_plain_text("name", "a\tb", false).is_err());
        assert!(check_plain_text("note", "a\u{7f}", true).is_err());
        assert!(check_plain_text("name", "Zoë Ünal ✓", false).is_ok());
    }
}
