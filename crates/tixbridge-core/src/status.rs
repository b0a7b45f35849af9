//! Statuses on both sides (DOMAIN.md §2–§4).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Ticket status in ticketing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketingStatus {
    NotPrinted,
    Printed,
    Controlled,
    Invalidated,
    Cancelled,
}

impl TicketingStatus {
    pub const ALL: [TicketingStatus; 5] = [
        Self::NotPrinted,
        Self::Printed,
        Self::Controlled,
        Self::Invalidated,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotPrinted => "NOT_PRINTED",
            Self::Printed => "PRINTED",
            Self::Controlled => "CONTROLLED",
            Self::Invalidated => "INVALIDATED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for TicketingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for TicketingStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown ticket status {s:?}; expected one of NOT_PRINTED, PRINTED, CONTROLLED, INVALIDATED, CANCELLED"
                )
            })
    }
}

/// Ticket status in the wallet (DOMAIN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WalletStatus {
    Injected,
    Downloaded,
    Assigned,
    PendingTransfer,
    FailureTransfer,
    Failure,
    Transferred,
    OnlineActivated,
    OfflineActivated,
    BtActivated,
    ManualActivated,
    Deactivated,
    Controlled,
    DeletionPending,
    Deleted,
}

impl WalletStatus {
    pub const ALL: [WalletStatus; 15] = [
        Self::Injected,
        Self::Downloaded,
        Self::Assigned,
        Self::PendingTransfer,
        Self::FailureTransfer,
        Self::Failure,
        Self::Transferred,
        Self::OnlineActivated,
        Self::OfflineActivated,
        Self::BtActivated,
        Self::ManualActivated,
        Self::Deactivated,
        Self::Controlled,
        Self::DeletionPending,
        Self::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Injected => "INJECTED",
            Self::Downloaded => "DOWNLOADED",
            Self::Assigned => "ASSIGNED",
            Self::PendingTransfer => "PENDING_TRANSFER",
            Self::FailureTransfer => "FAILURE_TRANSFER",
            Self::Failure => "FAILURE",
            Self::Transferred => "TRANSFERRED",
            Self::OnlineActivated => "ONLINE_ACTIVATED",
            Self::OfflineActivated => "OFFLINE_ACTIVATED",
            Self::BtActivated => "BT_ACTIVATED",
            Self::ManualActivated => "MANUAL_ACTIVATED",
            Self::Deactivated => "DEACTIVATED",
            Self::Controlled => "CONTROLLED",
            Self::DeletionPending => "DELETION_PENDING",
            Self::Deleted => "DELETED",
        }
    }

    /// Not controlled and not on the way out: actions of the spectator still apply.
    pub fn is_live(self) -> bool {
        !matches!(
            self,
            Self::Controlled | Self::DeletionPending | Self::Deleted
        )
    }

    pub fn is_deleted(self) -> bool {
        matches!(self, Self::DeletionPending | Self::Deleted)
    }

    pub fn is_activated(self) -> bool {
        matches!(
            self,
            Self::OnlineActivated
                | Self::OfflineActivated
                | Self::BtActivated
                | Self::ManualActivated
        )
    }
}

impl fmt::Display for WalletStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for WalletStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown wallet status {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_text() {
        for s in WalletStatus::ALL {
            assert_eq!(s.as_str().parse::<WalletStatus>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        for s in TicketingStatus::ALL {
            assert_eq!(s.as_str().parse::<TicketingStatus>().unwrap(), s);
        }
        assert!("PRINTD".parse::<TicketingStatus>().is_err());
    }
}
