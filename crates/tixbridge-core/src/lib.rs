//! tixbridge-core: the domain of the ticketing ↔ wallet interface, with no I/O.
//!
//! - [`api`]: wire types of the wallet API and per-ticket validation.
//! - [`status`]: ticket statuses on both sides.
//! - [`cause`]: normalised invalidation / cancellation causes.
//! - [`params`]: the interface's custom parameters.
//! - [`selection`]: force and skip lists.
//! - [`model`]: ticketing records, schedules and executions.
//! - [`inject`]: building the wallet ticket, the recipient rule, comfort variables,
//!   call splitting — the pure half of the injection function.
//! - [`hash`]: the track record's hash chain.
//! - [`ledger`]: the wallet's injection rules (plan one call's writes), event
//!   statistics and chain verification — pure, shared by every wallet store.
//! - [`lifecycle`]: the wallet ticket's state machine (actions, transfer rules,
//!   refusals) and the planning of a batch of actions for the stores.
//! - [`privilege`]: digital privileges — wire types, validation, injection and
//!   deletion rules.
//! - [`card`]: membership and season cards as wallet privileges — the definition of
//!   a card product and the privilege of a card (the pure half of Privileges injection).
//! - [`csv_tickets`]: the wallet's back-office CSV injection format.
//! - [`money`]: the price rule (plain decimal, the currency's ISO 4217 minor units).
//! - [`text`]: multilingual text, the control-character rule and NFC lengths.

pub mod api;
pub mod card;
pub mod cause;
pub mod csv_dialect;
pub mod csv_tickets;
pub mod hash;
pub mod inject;
pub mod ledger;
pub mod lifecycle;
pub mod local_time;
pub mod model;
pub mod money;
pub mod operation;
pub mod params;
pub mod privilege;
pub mod push;
pub mod selection;
pub mod status;
pub mod text;
