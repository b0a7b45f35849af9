//! `selection.rs`: force and skip lists (DOMAIN.md §5).

use tixbridge_core::selection::TicketRefs;

#[test]
fn list_form_puts_ids_first() {
    let r = TicketRefs::parse("TX2, ID:5, id:3,TX1").unwrap();
    assert_eq!(r.to_list(), "id:3,id:5,TX1,TX2");
    assert_eq!(r.len(), 4);
    assert!(!r.is_empty());
    assert!(r.contains(5, "none"));
    assert!(r.contains(0, "TX1"));
    assert!(!r.contains(4, "TX3"));
}

#[test]
fn a_list_of_only_ids_or_only_tax_numbers_is_not_empty() {
    let ids = TicketRefs::parse("id:1").unwrap();
    assert!(!ids.is_empty());
    assert_eq!(ids.len(), 1);
    let taxes = TicketRefs::parse("TX1").unwrap();
    assert!(!taxes.is_empty());
    assert_eq!(taxes.len(), 1);
    assert!(TicketRefs::parse(" , ,").unwrap().is_empty());
    assert_eq!(TicketRefs::parse("").unwrap().len(), 0);
    assert_eq!(TicketRefs::default().to_list(), "");
}

#[test]
fn a_bad_id_is_refused_by_name() {
    let e = TicketRefs::parse("ID:x1").unwrap_err();
    assert!(e.contains("\"ID:x1\"") && e.contains("whole number"), "{e}");
}
