//! tixbridge-interface: the functions that keep ticketing and the wallet aligned.

pub mod import;
