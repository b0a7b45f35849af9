//! tixbridge-interface: the functions that keep ticketing and the wallet aligned.
//!
//! - [`execution`]: running a schedule once and recording the execution.
//! - [`injection`]: the tickets injection function.
//! - `feedback`: the Feedback function (the wallet's change feed into ticketing).
//! - `push_cancelled`, `push_controlled`, `privileges`: the Push Cancelled, Push
//!   Controlled and Privileges injection functions.
//! - [`reconcile`]: both sides compared ticket by ticket, and repaired.
//! - [`setup`]: validated creation of interfaces and schedules.
//! - [`import`]: CSV import of tickets into ticketing.

pub mod execution;
mod feedback;
pub mod import;
pub mod injection;
mod privileges;
mod push_cancelled;
mod push_controlled;
pub mod reconcile;
pub mod setup;

pub use execution::{ExecutionReport, Progress, RunError, RunOptions, run_schedule};
