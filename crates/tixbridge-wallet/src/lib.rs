//! tixbridge-wallet (in progress)
