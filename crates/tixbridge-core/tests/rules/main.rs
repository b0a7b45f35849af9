//! Rule tests of tixbridge-core through its public API, one module per rule file.
//!
//! Each test pins a behaviour a user sees, found by mutation testing (cargo-mutants,
//! issue 7 item 27): a change of the rule that no other test noticed. Reproduce the
//! measurement with `scripts/mutants.sh` (see NOTES-mutants.md).

mod cause;
mod inject;
mod ledger;
mod lifecycle;
mod params;
mod privilege;
mod selection;
