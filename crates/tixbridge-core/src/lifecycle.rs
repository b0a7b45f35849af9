//! The wallet ticket's state machine (DOMAIN.md §3), pure.
//!
//! [`apply`] decides what one action does to one ticket: a [`Change`] (the new state
//! and the log entry's fields), [`Outcome::Unchanged`] (an idempotent repeat: `OK`,
//! nothing written), or a [`Refusal`] that changes nothing. [`plan_actions`] runs a
//! batch of actions against the stored states, chains their log entries and returns
//! what the store writes — so both store backends share every rule.
//!
//! ```text
//! (none) --inject--> INJECTED
//! INJECTED --download--> DOWNLOADED
//! DOWNLOADED | ASSIGNED | TRANSFERRED | FAILURE_TRANSFER | FAILURE --assign--> ASSIGNED
//! DOWNLOADED | ASSIGNED | TRANSFERRED | FAILURE_TRANSFER | FAILURE --transfer--> PENDING_TRANSFER
//!   (also from *_ACTIVATED / DEACTIVATED when allowTransferAfterActivation, and from
//!   CONTROLLED when allowTransferAfterControl; a back-office transfer also from INJECTED)
//! PENDING_TRANSFER --accept--> TRANSFERRED     owner := recipient, level + 1
//! PENDING_TRANSFER --reject | cancel--> FAILURE_TRANSFER
//! PENDING_TRANSFER --time-out--> FAILURE
//! live, not PENDING_TRANSFER --activate(method)--> <METHOD>_ACTIVATED
//! *_ACTIVATED --deactivate--> DEACTIVATED
//! live --control--> CONTROLLED
//! CONTROLLED --transfer (allowTransferAfterControl)--> CONTROLLED, in transit
//! CONTROLLED in transit --accept--> CONTROLLED   owner := recipient, level + 1
//! CONTROLLED in transit --reject | cancel | time-out--> CONTROLLED
//! not deleted --delete--> DELETION_PENDING --confirm--> DELETED
//! ```
//!
//! Once controlled, always controlled (issue 7, item 14): a controlled ticket never
//! becomes live or activatable again. A transfer the rules allow after control keeps
//! the status `CONTROLLED` and records that the ticket is in transit in its
//! [`Lifecycle::transfer`] (with the time-out in `due_at`), exactly as a
//! `PENDING_TRANSFER` ticket does; its end moves the owner (accept) or not, and the
//! status stays `CONTROLLED`, so the event's statistics keep counting it as controlled.
//!
//! Decisions where DOMAIN.md is silent:
//! - Activation during a pending transfer is refused (the ticket is in transit);
//!   re-activating with the same method is an unchanged repeat.
//! - Controlling a ticket with a pending transfer ends the transfer (it was used).
//! - A spectator acts only on tickets they own; only the recipient accepts or
//!   rejects, only the owner cancels. Anyone else is told the ticket does not exist.
//! - `maxNumberOfTransferPerTicketInGroupId` counts accepted transfers of the ticket
//!   (its transfer level). `allowTransferMainApplicant = false` forbids the main
//!   applicant (the injection's recipient, flagged `mainApplicant`) to pass on their
//!   own ticket while they still own it.
//! - A transfer of a ticket whose event has expired is refused, spectator or back office.

use chrono::{DateTime, Duration, Utc};

use crate::api::{Deletion, LogEntry, PendingTransfer, Person, TicketState, TransferRules};
use crate::hash::{ChainedFields, entry_hash};
use crate::ledger::{ChainHead, format_at};
use crate::status::WalletStatus;

/// How long a transfer waits for its recipient unless configured.
pub const DEFAULT_TRANSFER_TIMEOUT: Duration = Duration::hours(1);
/// How long a deletion waits for devices to sync unless configured.
pub const DEFAULT_DELETION_DELAY: Duration = Duration::seconds(5);

/// Error code of a transition the state machine does not allow (HTTP 409).
pub const ILLEGAL_TRANSITION: &str = "ILLEGAL_TRANSITION";
/// Error code of a transfer a transfer rule forbids (HTTP 403).
pub const TRANSFER_NOT_ALLOWED: &str = "TRANSFER_NOT_ALLOWED";
/// Error code of an unknown ticket, or one the caller may not see (HTTP 404).
pub const TICKET_NOT_FOUND: &str = "TICKET_NOT_FOUND";
/// Error code of an action on a deleted ticket where the contract names it.
pub const TICKET_DELETED: &str = crate::ledger::TICKET_DELETED;
/// Error code of an action whose own data is wrong (HTTP 400).
pub const INVALID_ACTION: &str = "INVALID_ACTION";

/// The service's timing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub transfer_timeout: Duration,
    pub deletion_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            transfer_timeout: DEFAULT_TRANSFER_TIMEOUT,
            deletion_delay: DEFAULT_DELETION_DELAY,
        }
    }
}

/// Who asks for an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A spectator's app session, by email.
    Spectator(String),
    /// The organizer API (deletion, control).
    Organizer,
    /// The organizer's back office (back-office transfer).
    BackOffice,
    /// The service itself (time-outs, deletion confirmation).
    System,
}

impl Caller {
    /// The actor recorded in the track record.
    pub fn actor(&self) -> &'static str {
        match self {
            Caller::Spectator(_) => "APP",
            Caller::Organizer => "ORGANIZER_API",
            Caller::BackOffice => "BACK_OFFICE",
            Caller::System => "SYSTEM",
        }
    }
}

/// How a barcode is revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivationMethod {
    Online,
    Offline,
    Bt,
    Manual,
}

impl ActivationMethod {
    pub const ALL: [ActivationMethod; 4] = [Self::Online, Self::Offline, Self::Bt, Self::Manual];

    pub fn status(self) -> WalletStatus {
        match self {
            Self::Online => WalletStatus::OnlineActivated,
            Self::Offline => WalletStatus::OfflineActivated,
            Self::Bt => WalletStatus::BtActivated,
            Self::Manual => WalletStatus::ManualActivated,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Offline => "offline",
            Self::Bt => "bt",
            Self::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("activation method {s:?} is not one of online, offline, bt, manual")
            })
    }
}

/// One action on one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Download,
    Assign {
        holder: Person,
    },
    Transfer {
        to: Person,
    },
    Accept,
    Reject,
    CancelTransfer,
    TimeOut,
    Activate {
        method: ActivationMethod,
        code: Option<String>,
    },
    Deactivate,
    Control {
        controlled_at: Option<String>,
    },
    Delete {
        reason: String,
        show_deleted_ticket: bool,
    },
    ConfirmDeletion,
}

impl Action {
    /// Whether the action reads the ticket's [`Facts`] (transfer rules, main applicant,
    /// event expiry): only a transfer does, so stores parse the stored content for it
    /// alone.
    pub fn needs_facts(&self) -> bool {
        matches!(self, Action::Transfer { .. })
    }

    /// The track record's name of the action.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Download => "DOWNLOAD",
            Action::Assign { .. } => "ASSIGN",
            Action::Transfer { .. } => "TRANSFER",
            Action::Accept => "ACCEPT_TRANSFER",
            Action::Reject => "REJECT_TRANSFER",
            Action::CancelTransfer => "CANCEL_TRANSFER",
            Action::TimeOut => "TRANSFER_TIMEOUT",
            Action::Activate { .. } => "ACTIVATE",
            Action::Deactivate => "DEACTIVATE",
            Action::Control { .. } => "CONTROL",
            Action::Delete { .. } => "DELETE",
            Action::ConfirmDeletion => "CONFIRM_DELETION",
        }
    }
}

/// What actions change: a ticket's lifecycle state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    pub status: WalletStatus,
    pub status_changed_at: String,
    pub owner: Option<Person>,
    pub initial_owner: Option<Person>,
    pub previous_owner: Option<Person>,
    pub holder: Option<Person>,
    pub transfer_level: i64,
    /// The transfer under way: set exactly while the status is `PENDING_TRANSFER`, or
    /// while a `CONTROLLED` ticket is in transit (see [`Lifecycle::in_transit`]).
    pub transfer: Option<PendingTransfer>,
    pub deletion: Option<Deletion>,
    /// When the service must act on its own: a transfer's time-out, a deletion's
    /// confirmation. RFC 3339 UTC millis (sorts as text).
    pub due_at: Option<String>,
}

impl Lifecycle {
    /// The state of a ticket just injected for `owner`.
    pub fn injected(owner: Person, at: &str) -> Self {
        Self {
            status: WalletStatus::Injected,
            status_changed_at: at.to_owned(),
            initial_owner: Some(owner.clone()),
            owner: Some(owner),
            previous_owner: None,
            holder: None,
            transfer_level: 0,
            transfer: None,
            deletion: None,
            due_at: None,
        }
    }

    /// Whether a transfer waits for its recipient: `PENDING_TRANSFER`, or a controlled
    /// ticket in transit (it stays `CONTROLLED`).
    pub fn in_transit(&self) -> bool {
        self.transfer.is_some()
            && matches!(
                self.status,
                WalletStatus::PendingTransfer | WalletStatus::Controlled
            )
    }

    /// The owner's email, lower-cased: what app sessions are matched against.
    pub fn owner_email(&self) -> Option<String> {
        email_of(self.owner.as_ref())
    }

    /// The owner's email as stored (as it was typed): what the track record records.
    /// Emails compare without regard to ASCII case, so `Lea@X.org` downloading a ticket
    /// of `lea@x.org` is no owner change and the entry keeps `lea@x.org`.
    pub fn owner_as_stored(&self) -> Option<String> {
        self.owner.as_ref().and_then(|p| p.email.clone())
    }

    /// The pending transfer's recipient, lower-cased.
    pub fn recipient_email(&self) -> Option<String> {
        self.transfer.as_ref().and_then(|t| email_of(Some(&t.to)))
    }

    /// The API view of this state (history empty).
    pub fn to_state(
        &self,
        ticket_id: &str,
        event_id: &str,
        taxation_number: Option<&str>,
    ) -> TicketState {
        TicketState {
            ticket_id: ticket_id.to_owned(),
            taxation_number: taxation_number.map(str::to_owned),
            barcode: None,
            event_id: event_id.to_owned(),
            status: self.status.as_str().to_owned(),
            status_changed_at: self.status_changed_at.clone(),
            owner: self.owner.clone(),
            initial_owner: self.initial_owner.clone(),
            previous_owner: self.previous_owner.clone(),
            holder: self.holder.clone(),
            transfer_level: self.transfer_level,
            deletion: self.deletion.clone(),
            transfer: self.transfer.clone(),
            history: Vec::new(),
        }
    }
}

/// What the injected content says that the rules need; read-only for actions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub rules: TransferRules,
    /// The injection's recipient was flagged main applicant.
    pub main_applicant: bool,
    /// That recipient's email, lower-cased (the injection may have corrected it after
    /// the first one: the initial owner never changes, the recipient may).
    pub recipient_email: Option<String>,
    /// The event's expiration date.
    pub event_expires: Option<DateTime<Utc>>,
}

impl Facts {
    /// Reads the facts from an injected ticket.
    pub fn of(ticket: &crate::api::Ticket) -> Self {
        Self {
            rules: ticket.transfer_rules.clone().unwrap_or_default(),
            main_applicant: ticket
                .spectator_details
                .as_ref()
                .and_then(|p| p.main_applicant)
                .unwrap_or(false),
            recipient_email: email_of(ticket.spectator_details.as_ref()),
            event_expires: ticket
                .event
                .as_ref()
                .and_then(|e| e.expiration_date.as_deref())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc)),
        }
    }
}

impl Facts {
    /// The facts of a stored ticket: its content (JSON of the injected ticket) and its
    /// event as stored (JSON of an `EventSummary`). Errors name what did not decode.
    pub fn from_stored(content: &str, event: Option<&str>) -> Result<Self, String> {
        let ticket: crate::api::Ticket = serde_json::from_str(content)
            .map_err(|e| format!("stored content is not a ticket: {e}"))?;
        let event: Option<crate::api::EventSummary> =
            event
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| format!("its stored event is not readable: {e}"))?;
        Ok(Self::of(&ticket).with_event(event.as_ref()))
    }

    /// The stored event's expiration date wins over the one the ticket was injected
    /// with: a later injection of another ticket of the event may have moved it.
    pub fn with_event(mut self, event: Option<&crate::api::EventSummary>) -> Self {
        if let Some(exp) = event
            .and_then(|e| e.expiration_date.as_deref())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        {
            self.event_expires = Some(exp.with_timezone(&Utc));
        }
        self
    }
}

/// Why an action was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// One of the error codes above.
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn illegal(message: impl Into<String>) -> Self {
        Self {
            code: ILLEGAL_TRANSITION,
            message: message.into(),
        }
    }
    fn not_allowed(message: impl Into<String>) -> Self {
        Self {
            code: TRANSFER_NOT_ALLOWED,
            message: message.into(),
        }
    }
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: INVALID_ACTION,
            message: message.into(),
        }
    }
    /// The ticket does not exist, or the caller may not see it.
    pub fn not_found(ticket_id: &str) -> Self {
        Self {
            code: TICKET_NOT_FOUND,
            message: format!("no ticket {ticket_id}"),
        }
    }
}

/// An accepted change: the new state and what the log entry records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: &'static str,
    pub from_status: WalletStatus,
    pub from_owner: Option<String>,
    pub state: Lifecycle,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Changed(Box<Change>),
    /// A repeat of what is already so: answered `OK`, nothing recorded.
    Unchanged,
    Refused(Refusal),
}

/// The key an email is compared and looked up by: trimmed, ASCII letters lower-cased.
/// Emails are stored as given and compared through this key everywhere (the app's
/// sessions, the organizer search `q`, the stores' `owner_email` column and its index).
/// Only ASCII is folded: it is what every backend computes alike (SQLite's `lower()`
/// folds ASCII only), and the local part of an address is the mailbox owner's, whose
/// non-ASCII case rules no standard fixes (RFC 5321 §2.4, RFC 6531).
pub fn email_key(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

fn email_of(p: Option<&Person>) -> Option<String> {
    p.and_then(|p| p.email.as_deref()).map(email_key)
}

fn same_email(p: Option<&Person>, email: &str) -> bool {
    email_of(p).is_some_and(|e| e == email_key(email))
}

/// Statuses a ticket is on its owner's phone in, free to be assigned or transferred.
fn at_rest(s: WalletStatus) -> bool {
    use WalletStatus::*;
    matches!(
        s,
        Downloaded | Assigned | Transferred | FailureTransfer | Failure
    )
}

/// Decides what `action` by `caller` does to a ticket in state `cur` at `now`.
pub fn apply(
    ticket_id: &str,
    cur: &Lifecycle,
    facts: &Facts,
    caller: &Caller,
    action: &Action,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Outcome {
    use WalletStatus::*;
    let at = format_at(now);
    let status = cur.status;

    // Who may ask for what. A spectator who neither owns the ticket nor is the
    // recipient of its transfer is told it does not exist.
    match (caller, action) {
        (Caller::Spectator(email), Action::Accept | Action::Reject) => {
            if !same_email(cur.transfer.as_ref().map(|t| &t.to), email) {
                if same_email(cur.owner.as_ref(), email) {
                    return Outcome::Refused(Refusal::illegal(format!(
                        "only the recipient of ticket {ticket_id}'s transfer may {} it",
                        if *action == Action::Accept {
                            "accept"
                        } else {
                            "reject"
                        }
                    )));
                }
                return Outcome::Refused(Refusal::not_found(ticket_id));
            }
        }
        (
            Caller::Spectator(email),
            Action::Download
            | Action::Assign { .. }
            | Action::Transfer { .. }
            | Action::CancelTransfer
            | Action::Activate { .. }
            | Action::Deactivate,
        ) => {
            if !same_email(cur.owner.as_ref(), email) {
                return Outcome::Refused(Refusal::not_found(ticket_id));
            }
        }
        (Caller::Spectator(_), _) => {
            return Outcome::Refused(Refusal::illegal(format!(
                "a spectator cannot {} a ticket",
                action.name().to_ascii_lowercase()
            )));
        }
        (Caller::Organizer, Action::Control { .. } | Action::Delete { .. }) => {}
        (Caller::BackOffice, Action::Transfer { .. }) => {}
        (Caller::System, Action::TimeOut | Action::ConfirmDeletion) => {}
        (c, a) => {
            return Outcome::Refused(Refusal::illegal(format!(
                "{} cannot {} a ticket",
                c.actor(),
                a.name().to_ascii_lowercase()
            )));
        }
    }

    let deleted = || {
        Outcome::Refused(Refusal {
            code: TICKET_DELETED,
            message: format!("ticket {ticket_id} is {status}"),
        })
    };
    let illegal = |what: &str| {
        Outcome::Refused(Refusal::illegal(format!(
            "ticket {ticket_id} is {status}: {what}"
        )))
    };

    let mut next = cur.clone();
    let mut detail = None;
    let to_status = match action {
        Action::Download => match status {
            Injected => Downloaded,
            // Already on a phone (a second device, a re-install): nothing to record.
            s if !s.is_deleted() => return Outcome::Unchanged,
            _ => return illegal("it cannot be downloaded"),
        },
        Action::Assign { holder } => {
            if holder
                .first_name
                .as_deref()
                .is_none_or(|s| s.trim().is_empty())
                && holder
                    .last_name
                    .as_deref()
                    .is_none_or(|s| s.trim().is_empty())
            {
                return Outcome::Refused(Refusal::invalid(
                    "holder needs a firstName or a lastName",
                ));
            }
            if !at_rest(status) {
                return illegal("only a downloaded ticket at rest can be assigned");
            }
            if status == Assigned && cur.holder.as_ref() == Some(holder) {
                return Outcome::Unchanged;
            }
            next.holder = Some(holder.clone());
            Assigned
        }
        Action::Transfer { to } => {
            let back_office = *caller == Caller::BackOffice;
            let Some(to_email) = email_of(Some(to)).filter(|e| crate::api::looks_like_email(e))
            else {
                return Outcome::Refused(Refusal::invalid(
                    "to must carry the recipient's email address",
                ));
            };
            // A state conflict, not bad input: the same call is right for another
            // ticket, or for this one once it has changed hands (409, as every
            // transition the current state forbids).
            if cur.owner_email().as_deref() == Some(to_email.as_str()) {
                return Outcome::Refused(Refusal::illegal(format!(
                    "ticket {ticket_id} already belongs to {to_email}"
                )));
            }
            if status.is_deleted() {
                return illegal("a deleted ticket cannot be transferred");
            }
            if cur.in_transit() || status == PendingTransfer {
                return illegal(
                    "a transfer is already pending; it must be accepted, rejected or cancelled first",
                );
            }
            if facts.event_expires.is_some_and(|exp| exp <= now) {
                return illegal("its event has expired");
            }
            if back_office {
                if status == Controlled {
                    return illegal("a controlled ticket is never transferred");
                }
            } else {
                let r = &facts.rules;
                let source_ok = at_rest(status)
                    || ((status.is_activated() || status == Deactivated)
                        && r.allow_transfer_after_activation)
                    || (status == Controlled && r.allow_transfer_after_control);
                if !r.allow_transfer {
                    return Outcome::Refused(Refusal::not_allowed(format!(
                        "the transfer rules of ticket {ticket_id} do not allow transfers"
                    )));
                }
                if status.is_activated() || status == Deactivated {
                    if !r.allow_transfer_after_activation {
                        return Outcome::Refused(Refusal::not_allowed(format!(
                            "the transfer rules of ticket {ticket_id} do not allow a transfer after activation"
                        )));
                    }
                } else if status == Controlled {
                    if !r.allow_transfer_after_control {
                        return Outcome::Refused(Refusal::not_allowed(format!(
                            "the transfer rules of ticket {ticket_id} do not allow a transfer after control"
                        )));
                    }
                } else if !source_ok {
                    return illegal(
                        "only a ticket on its owner's phone can be transferred (download it first)",
                    );
                }
                let max = r.max_number_of_transfer_per_ticket_in_group_id;
                if max >= 0 && cur.transfer_level >= max {
                    return Outcome::Refused(Refusal::not_allowed(format!(
                        "ticket {ticket_id} was already transferred {} time(s); its group {} allows {max}",
                        cur.transfer_level,
                        r.group_id.as_deref().unwrap_or("(the event)")
                    )));
                }
                // The main applicant may not pass on their own ticket while they own it.
                if !r.allow_transfer_main_applicant
                    && facts.main_applicant
                    && cur.owner_email().is_some()
                    && (cur.owner_email() == facts.recipient_email
                        || (facts.recipient_email.is_none()
                            && cur.owner_email() == email_of(cur.initial_owner.as_ref())))
                {
                    return Outcome::Refused(Refusal::not_allowed(format!(
                        "the transfer rules of ticket {ticket_id} do not allow the main applicant to transfer it"
                    )));
                }
            }
            let expires = format_at(now + settings.transfer_timeout);
            // The recipient is kept as typed (trimmed); it compares without case.
            let typed = to
                .email
                .as_deref()
                .map_or(to_email, |e| e.trim().to_owned());
            next.transfer = Some(crate::api::PendingTransfer {
                to: Person {
                    email: Some(typed.clone()),
                    ..to.clone()
                },
                from: cur.owner.clone(),
                requested_at: at.clone(),
                expires_at: expires.clone(),
                back_office,
            });
            next.due_at = Some(expires);
            detail = Some(format!("to={typed}"));
            // Once controlled, always controlled: the ticket travels as it is.
            if status == Controlled {
                Controlled
            } else {
                PendingTransfer
            }
        }
        Action::Accept | Action::Reject | Action::CancelTransfer | Action::TimeOut => {
            if !cur.in_transit() {
                return illegal("no transfer is pending");
            }
            let Some(t) = cur.transfer.as_ref() else {
                return illegal("no transfer is pending");
            };
            let expired = DateTime::parse_from_rfc3339(&t.expires_at).is_ok_and(|exp| exp <= now);
            if *action == Action::TimeOut && !expired {
                return illegal("its transfer has not timed out yet");
            }
            // The service fails it at its next round; until then it cannot be accepted.
            if *action == Action::Accept && expired {
                return illegal("its transfer has timed out");
            }
            if let Action::Accept = action {
                next.previous_owner = cur.owner.clone();
                next.owner = Some(t.to.clone());
                next.holder = None;
                next.transfer_level += 1;
            }
            detail = t.to.email.as_deref().map(|e| format!("to={}", e.trim()));
            next.transfer = None;
            next.due_at = None;
            match action {
                _ if status == Controlled => Controlled,
                Action::Accept => Transferred,
                Action::TimeOut => Failure,
                _ => FailureTransfer,
            }
        }
        Action::Activate { method, code } => {
            if !status.is_live() {
                return illegal("only a live ticket can be activated");
            }
            if status == PendingTransfer {
                return illegal("a transfer is pending; it must end before activation");
            }
            if *method == ActivationMethod::Manual
                && code.as_deref().is_none_or(|c| c.trim().is_empty())
            {
                return Outcome::Refused(Refusal::invalid("manual activation needs a code"));
            }
            if status == method.status() {
                return Outcome::Unchanged;
            }
            detail = Some(format!("method={}", method.as_str()));
            method.status()
        }
        Action::Deactivate => {
            if !status.is_activated() {
                return illegal("only an activated ticket can be deactivated");
            }
            Deactivated
        }
        Action::Control { controlled_at } => {
            if status.is_deleted() {
                return deleted();
            }
            if status == Controlled {
                return Outcome::Unchanged;
            }
            next.transfer = None;
            next.due_at = None;
            detail = controlled_at.as_ref().map(|t| format!("controlledAt={t}"));
            Controlled
        }
        Action::Delete {
            reason,
            show_deleted_ticket,
        } => {
            if let Some(d) = &cur.deletion
                && status.is_deleted()
            {
                if d.reason == *reason && d.show_deleted_ticket == *show_deleted_ticket {
                    return Outcome::Unchanged;
                }
                // A new reason on a deleted ticket: recorded, status unchanged.
                next.deletion = Some(Deletion {
                    reason: reason.clone(),
                    show_deleted_ticket: *show_deleted_ticket,
                    ..d.clone()
                });
                return Outcome::Changed(Box::new(Change {
                    action: "DELETE_REASON",
                    from_status: status,
                    from_owner: cur.owner_as_stored(),
                    state: next,
                    detail: Some(format!("reason={reason}")),
                }));
            }
            if status.is_deleted() {
                return illegal("its deletion carries no data");
            }
            next.deletion = Some(Deletion {
                reason: reason.clone(),
                show_deleted_ticket: *show_deleted_ticket,
                requested_at: at.clone(),
                confirmed_at: None,
            });
            next.transfer = None;
            next.due_at = Some(format_at(now + settings.deletion_delay));
            detail = Some(format!("reason={reason}"));
            DeletionPending
        }
        Action::ConfirmDeletion => {
            if status != DeletionPending {
                return illegal("no deletion is pending");
            }
            if cur
                .due_at
                .as_deref()
                .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
                .is_some_and(|d| d > now)
            {
                return illegal("its deletion is not due yet");
            }
            if let Some(d) = next.deletion.as_mut() {
                d.confirmed_at = Some(at.clone());
            }
            next.due_at = None;
            Deleted
        }
    };
    if to_status != status {
        next.status_changed_at = at;
    }
    next.status = to_status;
    Outcome::Changed(Box::new(Change {
        action: action.name(),
        from_status: status,
        from_owner: cur.owner_as_stored(),
        state: next,
        detail,
    }))
}

/// A stored ticket as actions need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedTicket {
    pub ticket_id: String,
    pub event_id: String,
    pub taxation_number: Option<String>,
    pub life: Lifecycle,
    pub facts: Facts,
}

/// One requested action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub ticket_id: String,
    pub caller: Caller,
    pub action: Action,
}

/// What one op came to: the ticket's state after it (with the op's log entry as
/// history, if it changed anything), or the refusal.
pub type OpResult = Result<TicketState, Refusal>;

/// A ticket row to update: its whole lifecycle after the batch, the seq of its last
/// entry and the seqs of the batch's entries for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleWrite {
    pub ticket_id: String,
    pub life: Lifecycle,
    pub change_seq: i64,
    /// Comma-separated, oldest first; the store appends them to the row's list.
    pub log_seqs: String,
}

/// Everything one batch of actions writes, and what it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionPlan {
    /// One per op, in order.
    pub results: Vec<OpResult>,
    /// One per changed ticket, with its final state.
    pub writes: Vec<LifecycleWrite>,
    pub entries: Vec<LogEntry>,
    pub head: ChainHead,
}

/// Plans a batch of ops against the stored tickets (`current`: those that exist,
/// by id) from the chain head read under the store's write lock. Ops on the same
/// ticket see each other's effect, in order.
pub fn plan_actions(
    ops: Vec<Op>,
    mut current: std::collections::HashMap<String, LoadedTicket>,
    head: ChainHead,
    now: DateTime<Utc>,
    settings: &Settings,
) -> ActionPlan {
    let at = format_at(now);
    let mut plan = ActionPlan {
        results: Vec::with_capacity(ops.len()),
        writes: Vec::new(),
        entries: Vec::new(),
        head,
    };
    let mut pos: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for op in ops {
        let Some(t) = current.get_mut(&op.ticket_id) else {
            plan.results.push(Err(Refusal::not_found(&op.ticket_id)));
            continue;
        };
        match apply(
            &t.ticket_id,
            &t.life,
            &t.facts,
            &op.caller,
            &op.action,
            now,
            settings,
        ) {
            Outcome::Refused(r) => plan.results.push(Err(r)),
            Outcome::Unchanged => {
                plan.results.push(Ok(t.life.to_state(
                    &t.ticket_id,
                    &t.event_id,
                    t.taxation_number.as_deref(),
                )));
            }
            Outcome::Changed(change) => {
                let seq = plan.head.seq + 1;
                let to_owner = change.state.owner_as_stored();
                let fields = ChainedFields {
                    seq,
                    at: &at,
                    ticket_id: &t.ticket_id,
                    action: change.action,
                    from_status: Some(change.from_status.as_str()),
                    to_status: change.state.status.as_str(),
                    from_owner: change.from_owner.as_deref(),
                    to_owner: to_owner.as_deref(),
                    actor: op.caller.actor(),
                    detail: change.detail.as_deref(),
                };
                let hash = entry_hash(&plan.head.hash, &fields);
                let entry = LogEntry {
                    seq,
                    at: at.clone(),
                    ticket_id: t.ticket_id.clone(),
                    action: change.action.to_owned(),
                    from_status: Some(change.from_status.as_str().to_owned()),
                    to_status: change.state.status.as_str().to_owned(),
                    from_owner: change.from_owner.clone(),
                    to_owner,
                    actor: op.caller.actor().to_owned(),
                    detail: change.detail.clone(),
                    prev_hash: std::mem::replace(&mut plan.head.hash, hash.clone()),
                    hash,
                };
                plan.head.seq = seq;
                t.life = change.state;
                let mut state =
                    t.life
                        .to_state(&t.ticket_id, &t.event_id, t.taxation_number.as_deref());
                state.history.push(entry.clone());
                plan.entries.push(entry);
                plan.results.push(Ok(state));
                match pos.get(&t.ticket_id) {
                    Some(&i) => {
                        let w = &mut plan.writes[i];
                        w.life = t.life.clone();
                        w.change_seq = seq;
                        w.log_seqs = format!("{},{seq}", w.log_seqs);
                    }
                    None => {
                        pos.insert(t.ticket_id.clone(), plan.writes.len());
                        plan.writes.push(LifecycleWrite {
                            ticket_id: t.ticket_id.clone(),
                            life: t.life.clone(),
                            change_seq: seq,
                            log_seqs: seq.to_string(),
                        });
                    }
                }
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests;
