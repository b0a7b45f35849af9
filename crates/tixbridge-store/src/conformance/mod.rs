//! The conformance suite: behaviour every backend must show. Each check takes a freshly
//! opened, empty store. `tests/conformance.rs` runs the suite on SQLite always and on
//! PostgreSQL when `TIXBRIDGE_TEST_PG` is set (mandatory under `CI=true`).

pub mod corrections;
pub mod executions;
pub mod lifecycle;
pub mod operations;
pub mod privileges;
pub mod ticketing;
pub mod wallet;
