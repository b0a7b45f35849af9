//! `params.rs`: the custom parameters (DOMAIN.md §6).

use tixbridge_core::cause::Cause;
use tixbridge_core::params::{CustomParams, KNOWN_KEYS, ParamError, cause_list};

fn parse(text: &str) -> CustomParams {
    CustomParams::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Each documented boolean parameter is read in both directions, whatever its case,
/// and a value other than true / false is refused by the parameter's name.
#[test]
fn every_documented_boolean_is_read_both_ways() {
    type Get = fn(&CustomParams) -> bool;
    let booleans: [(&str, Get); 10] = [
        ("overlaySpectatorDetailsWithLastOwner", |p| {
            p.overlay_spectator_details_with_last_owner
        }),
        ("visibilityFlagDefaultValue", |p| {
            p.visibility_flag_default_value
        }),
        ("excludeTicketResale", |p| p.exclude_ticket_resale),
        ("enableTicketDistributionToCulturalContact", |p| {
            p.enable_ticket_distribution_to_cultural_contact
        }),
        ("sendMultilingualAsJsonObject", |p| {
            p.send_multilingual_as_json_object
        }),
        ("enforceMandatoryParameters", |p| {
            p.enforce_mandatory_parameters
        }),
        ("doContinueInCaseOfSyncError", |p| {
            p.do_continue_in_case_of_sync_error
        }),
        ("stickToTheHour", |p| p.stick_to_the_hour),
        ("dumpDataModifiedByTemplate", |p| {
            p.dump_data_modified_by_template
        }),
        ("overlaySpectatirDetailsWithLastOwner", |p| {
            p.overlay_spectator_details_with_last_owner
        }),
    ];
    for (key, get) in booleans {
        assert!(get(&parse(&format!("{key}=true"))), "{key}=true");
        assert!(get(&parse(&format!("{key} = TRUE "))), "{key}=TRUE");
        assert!(!get(&parse(&format!("{key}=false"))), "{key}=false");
        assert!(!get(&parse(&format!("{key}=False"))), "{key}=False");
        let e = CustomParams::parse(&format!("{key}=yes")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("true or false"), "{msg}");
        assert!(matches!(e, ParamError::BadValue { .. }), "{e:?}");
    }
}

/// The documented defaults (DOMAIN.md §6 table).
#[test]
fn documented_defaults() {
    let p = CustomParams::default();
    assert_eq!(p.ticket_iteration_size, 50);
    assert_eq!(p.retrieve_iteration_size, 1000);
    assert!(p.overlay_spectator_details_with_last_owner);
    assert!(p.reset_injection_invalidation_reasons.is_empty());
    assert!(
        p.override_visibility_flag_for_invalidation_reasons
            .is_empty()
    );
    assert!(!p.visibility_flag_default_value);
    assert!(!p.exclude_ticket_resale);
    assert_eq!(p.lifecycle_mode, "lifecycle");
    assert!(!p.enable_ticket_distribution_to_cultural_contact);
    assert!(!p.send_multilingual_as_json_object);
    assert!(p.enforce_mandatory_parameters);
    assert!(p.do_continue_in_case_of_sync_error);
    assert_eq!(p.kill_ratio, 1.0);
    assert!(p.stick_to_the_hour);
    assert_eq!(p.max_length_dumped_calls_in_kbs, 0);
    assert!(!p.dump_data_modified_by_template);
}

#[test]
fn dump_size_and_lifecycle_mode() {
    assert_eq!(
        parse("maxLengthDumpedCallsInKbs=64").max_length_dumped_calls_in_kbs,
        64
    );
    let e = CustomParams::parse("maxLengthDumpedCallsInKbs=-1").unwrap_err();
    assert!(e.to_string().contains("maxLengthDumpedCallsInKbs"), "{e}");
    assert!(e.to_string().contains("kilobytes"), "{e}");
    assert_eq!(
        parse("TIXNGO_LIFECYCLE_MODE=lifecycle").lifecycle_mode,
        "lifecycle"
    );
}

/// The bounds of the sizes and of the kill ratio are inclusive; one past is refused.
#[test]
fn size_and_ratio_bounds() {
    assert_eq!(parse("ticketIterationSize=1").ticket_iteration_size, 1);
    assert_eq!(parse("ticketIterationSize=50").ticket_iteration_size, 50);
    assert_eq!(parse("retrieveIterationSize=1").retrieve_iteration_size, 1);
    assert_eq!(
        parse("retrieveIterationSize=10000").retrieve_iteration_size,
        10_000
    );
    for bad in [
        "retrieveIterationSize=0",
        "retrieveIterationSize=10001",
        "retrieveIterationSize=x",
        "ticketIterationSize=x",
        "killRatio=-0.1",
        "killRatio=abc",
    ] {
        let key = bad.split('=').next().unwrap();
        let msg = CustomParams::parse(bad).unwrap_err().to_string();
        assert!(msg.contains(key), "{bad}: {msg}");
    }
    assert_eq!(parse("killRatio=0").kill_ratio, 0.0);
    assert_eq!(parse("killRatio=1").kill_ratio, 1.0);
}

#[test]
fn override_visibility_causes_are_read() {
    let p = parse("overrideVisibilityFlagForInvalidationReasons=resale pending, Theft");
    let got: Vec<_> = p
        .override_visibility_flag_for_invalidation_reasons
        .iter()
        .map(Cause::as_str)
        .collect();
    assert_eq!(got, ["RESALEPENDING", "THEFT"]);
    assert_eq!(cause_list(" , ,").len(), 0);
}

/// Errors name their line (1-based, comments and blanks counted) and the key.
#[test]
fn errors_name_the_line_and_key() {
    let e = CustomParams::parse("# c\n\nkillRatio").unwrap_err();
    assert_eq!(
        e,
        ParamError::Syntax {
            line: 3,
            text: "killRatio".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "custom parameters, line 3: \"killRatio\" is not of the form key=value"
    );
    let e = CustomParams::parse("\nbogus = 1").unwrap_err();
    assert_eq!(
        e,
        ParamError::UnknownKey {
            line: 2,
            key: "bogus".into()
        }
    );
    let e = CustomParams::parse("stickToTheHour=true\nstickToTheHour=false").unwrap_err();
    assert_eq!(
        e.to_string(),
        "custom parameter stickToTheHour is given more than once"
    );
    // An alias and its documented key are the same parameter.
    assert!(matches!(
        CustomParams::parse(
            "overrideVisibilityFlagForInvalidationReason=A\noverrideVisibilityFlagForInvalidationReasons=B"
        ),
        Err(ParamError::Duplicate { .. })
    ));
    let e = CustomParams::parse("killRatio=2").unwrap_err();
    assert_eq!(
        e.to_string(),
        "custom parameter killRatio: \"2\" is not valid; expected a number from 0 to 1"
    );
    assert!(
        CustomParams::parse("bogus=1")
            .unwrap_err()
            .to_string()
            .ends_with(&KNOWN_KEYS.join(", "))
    );
}
