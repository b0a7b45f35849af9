//! The interface's custom parameters (DOMAIN.md §6): `key=value` lines parsed into a
//! typed structure with the documented defaults.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::cause::Cause;

/// Every custom parameter, typed, with its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomParams {
    pub ticket_iteration_size: usize,
    pub retrieve_iteration_size: usize,
    pub overlay_spectator_details_with_last_owner: bool,
    pub reset_injection_invalidation_reasons: BTreeSet<Cause>,
    pub override_visibility_flag_for_invalidation_reasons: BTreeSet<Cause>,
    pub visibility_flag_default_value: bool,
    pub exclude_ticket_resale: bool,
    pub lifecycle_mode: String,
    pub enable_ticket_distribution_to_cultural_contact: bool,
    pub send_multilingual_as_json_object: bool,
    pub enforce_mandatory_parameters: bool,
    pub do_continue_in_case_of_sync_error: bool,
    pub kill_ratio: f64,
    pub stick_to_the_hour: bool,
    pub max_length_dumped_calls_in_kbs: u64,
    pub dump_data_modified_by_template: bool,
}

impl Default for CustomParams {
    fn default() -> Self {
        Self {
            ticket_iteration_size: 50,
            retrieve_iteration_size: 1000,
            overlay_spectator_details_with_last_owner: true,
            reset_injection_invalidation_reasons: BTreeSet::new(),
            override_visibility_flag_for_invalidation_reasons: BTreeSet::new(),
            visibility_flag_default_value: false,
            exclude_ticket_resale: false,
            lifecycle_mode: "lifecycle".into(),
            enable_ticket_distribution_to_cultural_contact: false,
            send_multilingual_as_json_object: false,
            enforce_mandatory_parameters: true,
            do_continue_in_case_of_sync_error: true,
            kill_ratio: 1.0,
            stick_to_the_hour: true,
            max_length_dumped_calls_in_kbs: 0,
            dump_data_modified_by_template: false,
        }
    }
}

/// The documented keys, in the order the documentation lists them.
pub const KNOWN_KEYS: &[&str] = &[
    "ticketIterationSize",
    "retrieveIterationSize",
    "overlaySpectatorDetailsWithLastOwner",
    "resetInjectionInvalidationReasons",
    "overrideVisibilityFlagForInvalidationReasons",
    "visibilityFlagDefaultValue",
    "excludeTicketResale",
    "TIXNGO_LIFECYCLE_MODE",
    "enableTicketDistributionToCulturalContact",
    "sendMultilingualAsJsonObject",
    "enforceMandatoryParameters",
    "doContinueInCaseOfSyncError",
    "killRatio",
    "stickToTheHour",
    "maxLengthDumpedCallsInKbs",
    "dumpDataModifiedByTemplate",
];

/// Spellings found in the original description, accepted for the documented key.
const ALIASES: &[(&str, &str)] = &[
    (
        "overrideVisibilityFlagForInvalidationReason",
        "overrideVisibilityFlagForInvalidationReasons",
    ),
    (
        "overlaySpectatirDetailsWithLastOwner",
        "overlaySpectatorDetailsWithLastOwner",
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    Syntax {
        line: usize,
        text: String,
    },
    UnknownKey {
        line: usize,
        key: String,
    },
    BadValue {
        key: String,
        value: String,
        expected: String,
    },
    Duplicate {
        key: String,
    },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Syntax { line, text } => write!(
                f,
                "custom parameters, line {line}: {text:?} is not of the form key=value"
            ),
            ParamError::UnknownKey { line, key } => write!(
                f,
                "custom parameters, line {line}: unknown key {key:?}; known keys: {}",
                KNOWN_KEYS.join(", ")
            ),
            ParamError::BadValue {
                key,
                value,
                expected,
            } => write!(
                f,
                "custom parameter {key}: {value:?} is not valid; expected {expected}"
            ),
            ParamError::Duplicate { key } => {
                write!(f, "custom parameter {key} is given more than once")
            }
        }
    }
}

impl std::error::Error for ParamError {}

impl CustomParams {
    /// Parses `key=value` lines. Blank lines and lines starting with `#` are ignored.
    pub fn parse(text: &str) -> Result<CustomParams, ParamError> {
        let mut p = CustomParams::default();
        let mut seen = BTreeSet::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(ParamError::Syntax {
                    line: i + 1,
                    text: line.to_owned(),
                });
            };
            let k = k.trim();
            let key = ALIASES
                .iter()
                .find(|(alias, _)| *alias == k)
                .map(|(_, canon)| *canon)
                .or_else(|| KNOWN_KEYS.iter().copied().find(|known| *known == k))
                .ok_or_else(|| ParamError::UnknownKey {
                    line: i + 1,
                    key: k.to_owned(),
                })?;
            if !seen.insert(key) {
                return Err(ParamError::Duplicate {
                    key: key.to_owned(),
                });
            }
            p.set(key, v.trim())?;
        }
        Ok(p)
    }

    fn set(&mut self, key: &str, v: &str) -> Result<(), ParamError> {
        let bad = |expected: &str| ParamError::BadValue {
            key: key.to_owned(),
            value: v.to_owned(),
            expected: expected.to_owned(),
        };
        let boolean = || match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad("true or false")),
        };
        match key {
            "ticketIterationSize" => {
                self.ticket_iteration_size = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=crate::api::MAX_TICKETS_PER_CALL).contains(n))
                    .ok_or_else(|| bad("a whole number from 1 to 50"))?
            }
            "retrieveIterationSize" => {
                self.retrieve_iteration_size = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=crate::api::MAX_DIFF_LIMIT).contains(n))
                    .ok_or_else(|| bad("a whole number from 1 to 10000"))?
            }
            "overlaySpectatorDetailsWithLastOwner" => {
                self.overlay_spectator_details_with_last_owner = boolean()?
            }
            "resetInjectionInvalidationReasons" => {
                self.reset_injection_invalidation_reasons = cause_list(v)
            }
            "overrideVisibilityFlagForInvalidationReasons" => {
                self.override_visibility_flag_for_invalidation_reasons = cause_list(v)
            }
            "visibilityFlagDefaultValue" => self.visibility_flag_default_value = boolean()?,
            "excludeTicketResale" => self.exclude_ticket_resale = boolean()?,
            "TIXNGO_LIFECYCLE_MODE" => {
                if v != "lifecycle" {
                    return Err(bad("lifecycle (the older history mode is discontinued)"));
                }
                self.lifecycle_mode = v.to_owned();
            }
            "enableTicketDistributionToCulturalContact" => {
                self.enable_ticket_distribution_to_cultural_contact = boolean()?
            }
            "sendMultilingualAsJsonObject" => self.send_multilingual_as_json_object = boolean()?,
            "enforceMandatoryParameters" => self.enforce_mandatory_parameters = boolean()?,
            "doContinueInCaseOfSyncError" => self.do_continue_in_case_of_sync_error = boolean()?,
            "killRatio" => {
                self.kill_ratio = v
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| bad("a number from 0 to 1"))?
            }
            "stickToTheHour" => self.stick_to_the_hour = boolean()?,
            "maxLengthDumpedCallsInKbs" => {
                self.max_length_dumped_calls_in_kbs =
                    v.parse().map_err(|_| bad("a whole number of kilobytes"))?
            }
            "dumpDataModifiedByTemplate" => self.dump_data_modified_by_template = boolean()?,
            _ => unreachable!("key {key} was checked against KNOWN_KEYS"),
        }
        Ok(())
    }
}

/// A comma-separated list of causes, spaces ignored, each normalised.
pub fn cause_list(v: &str) -> BTreeSet<Cause> {
    v.split(',').filter_map(Cause::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever valid values are written, in any spacing, they are read back; and
        /// any key outside the documented ones is refused by name.
        #[test]
        fn valid_values_are_read_back(size in 1usize..=50, retrieve in 1usize..=10_000,
                                      overlay: bool, visible: bool, ratio in 0.0f64..=1.0,
                                      pad in " {0,3}", causes in proptest::collection::vec("[a-zA-Z ]{1,12}", 0..4),
                                      unknown in "[a-z]{3,12}") {
            let text = format!(
                "ticketIterationSize{pad}={pad}{size}\nretrieveIterationSize={retrieve}\noverlaySpectatorDetailsWithLastOwner={overlay}\nvisibilityFlagDefaultValue = {visible}\nkillRatio={ratio}\nresetInjectionInvalidationReasons={}",
                causes.join(",")
            );
            let p = CustomParams::parse(&text).unwrap();
            prop_assert_eq!(p.ticket_iteration_size, size);
            prop_assert_eq!(p.retrieve_iteration_size, retrieve);
            prop_assert_eq!(p.overlay_spectator_details_with_last_owner, overlay);
            prop_assert_eq!(p.visibility_flag_default_value, visible);
            prop_assert_eq!(p.kill_ratio, ratio);
            let expected: BTreeSet<Cause> = causes.iter().filter_map(|c| Cause::parse(c)).collect();
            prop_assert_eq!(&p.reset_injection_invalidation_reasons, &expected);
            if !KNOWN_KEYS.contains(&unknown.as_str()) {
                let is_unknown = matches!(
                    CustomParams::parse(&format!("{unknown}=1")),
                    Err(ParamError::UnknownKey { .. })
                );
                prop_assert!(is_unknown);
            }
        }
    }

    #[test]
    fn empty_text_gives_the_defaults() {
        assert_eq!(CustomParams::parse("").unwrap(), CustomParams::default());
        assert_eq!(CustomParams::default().ticket_iteration_size, 50);
        assert_eq!(CustomParams::default().retrieve_iteration_size, 1000);
    }

    #[test]
    fn values_are_typed_and_lists_normalised() {
        let p = CustomParams::parse(
            "ticketIterationSize = 20\n# comment\nresetInjectionInvalidationReasons=Theft, rESEATING\noverlaySpectatirDetailsWithLastOwner=false\noverrideVisibilityFlagForInvalidationReason=RESALE_PENDING, RESOLD\nkillRatio=0.5",
        )
        .unwrap();
        assert_eq!(p.ticket_iteration_size, 20);
        assert!(!p.overlay_spectator_details_with_last_owner);
        let reset: Vec<_> = p
            .reset_injection_invalidation_reasons
            .iter()
            .map(Cause::as_str)
            .collect();
        assert_eq!(reset, ["RESEATING", "THEFT"]);
        assert_eq!(p.override_visibility_flag_for_invalidation_reasons.len(), 2);
        assert_eq!(p.kill_ratio, 0.5);
    }

    #[test]
    fn unknown_key_lists_the_known_ones() {
        let e = CustomParams::parse("ticketIterationSize=10\nfoo=1").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("\"foo\""), "{msg}");
        assert!(
            msg.contains("ticketIterationSize, retrieveIterationSize"),
            "{msg}"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("ticketIterationSize=51", "ticketIterationSize"),
            ("ticketIterationSize=0", "ticketIterationSize"),
            (
                "visibilityFlagDefaultValue=yes",
                "visibilityFlagDefaultValue",
            ),
            ("TIXNGO_LIFECYCLE_MODE=history", "TIXNGO_LIFECYCLE_MODE"),
            ("killRatio=2", "killRatio"),
        ] {
            let msg = CustomParams::parse(text).unwrap_err().to_string();
            assert!(msg.contains(key), "{msg}");
        }
        assert!(matches!(
            CustomParams::parse("killRatio").unwrap_err(),
            ParamError::Syntax { line: 1, .. }
        ));
        assert!(matches!(
            CustomParams::parse("killRatio=1\nkillRatio=0.2").unwrap_err(),
            ParamError::Duplicate { .. }
        ));
    }
}
