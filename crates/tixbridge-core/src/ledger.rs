//! The wallet's injection rules as pure functions: what happens to each injected ticket
//! given what the wallet already holds ("plan"), so that the stores only fetch the
//! current state, call [`plan_inject`] and write what it returns ("apply").
//!
//! Rules (WALLET-API.md, "Inject tickets"):
//! - a new ticket id → created `INJECTED`, owner = initial owner = the recipient, one
//!   `INJECT` log entry;
//! - the same content again → `OK` with the current status, nothing written;
//! - different content → updated, one `UPDATE` log entry; the owner follows the new
//!   recipient only while the ticket is `INJECTED` (not yet on a phone);
//! - a `DELETION_PENDING` or `DELETED` ticket id → `KO` `TICKET_DELETED`;
//! - a barcode the organizer's registry gives to another ticket id → `KO`
//!   `DUPLICATE_BARCODE` naming that ticket: a barcode once held by a ticket (deleted
//!   ones included, and a barcode a re-injection replaced) stays reserved to it, since
//!   a shared barcode is two admissions for one gate scan.
//!
//! The log is hash-chained per organizer: each planned entry continues the chain from
//! the head the store read under its lock.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use crate::api::{
    EventStatistics, EventSummary, ItemResult, LogEntry, Person, Ticket, TicketState,
};
use crate::hash::{ChainedFields, GENESIS_HASH, entry_hash};
use crate::status::WalletStatus;

/// Log action of a first injection.
pub const ACTION_INJECT: &str = "INJECT";
/// Log action of a re-injection with different content.
pub const ACTION_UPDATE: &str = "UPDATE";
/// Error code of a re-injection of a deleted ticket id.
pub const TICKET_DELETED: &str = "TICKET_DELETED";
/// Error code of a ticket whose barcode belongs to another ticket id of the organizer.
pub const DUPLICATE_BARCODE: &str = "DUPLICATE_BARCODE";

/// Barcode → the ticket id that holds it, in one organizer's barcode registry: what the
/// store read for a call's barcodes. A registry row is never removed.
pub type BarcodeHolders = HashMap<String, String>;

/// The barcode a ticket claims in the registry: its `security.barcode` as sent, unless
/// blank.
pub fn barcode_of(ticket: &Ticket) -> Option<&str> {
    ticket
        .security
        .as_ref()
        .and_then(|s| s.barcode.as_deref())
        .filter(|b| !b.trim().is_empty())
}

/// A barcode registry row to insert: `barcode` now belongs to `ticket_id` for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarcodeClaim {
    pub barcode: String,
    pub ticket_id: String,
}

/// What the wallet holds of a ticket, as far as injection needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentTicket {
    pub status: WalletStatus,
    pub content_hash: String,
    pub owner: Option<Person>,
}

/// The fate of one injected ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Unknown ticket id: create it.
    Create,
    /// Same content as stored: answer `OK` with the current status, write nothing.
    Unchanged,
    /// Different content: update; `owner_changes` when the recipient replaces the owner.
    Update { owner_changes: bool },
    /// Refused with this error code and sentence.
    Refuse { code: &'static str, message: String },
}

/// Decides what one injection does to the ticket `current` (None: unknown id).
pub fn decide(
    ticket_id: &str,
    current: Option<&CurrentTicket>,
    content_hash: &str,
    recipient: &Person,
) -> Decision {
    let Some(cur) = current else {
        return Decision::Create;
    };
    if cur.status.is_deleted() {
        return Decision::Refuse {
            code: TICKET_DELETED,
            message: format!(
                "ticket {ticket_id} is {}; a deleted ticket cannot be injected again (a reprint is a new ticket id)",
                cur.status
            ),
        };
    }
    if cur.content_hash == content_hash {
        return Decision::Unchanged;
    }
    // Once on a phone the ticket belongs to whoever holds it there: only a ticket not
    // yet downloaded follows a corrected recipient.
    let owner_changes =
        cur.status == WalletStatus::Injected && cur.owner.as_ref() != Some(recipient);
    Decision::Update { owner_changes }
}

/// The canonical JSON of an injected ticket and its SHA-256 (hex). Serialising the
/// parsed value (not the request bytes) makes whitespace, key order and unknown fields
/// irrelevant, so a retry of the same ticket is recognised as identical.
pub fn content_of(ticket: &Ticket) -> (String, String) {
    // Sized for a typical ticket so the buffer is not regrown and copied as it fills.
    let mut buf = Vec::with_capacity(1536);
    let json = match serde_json::to_writer(&mut buf, ticket) {
        Ok(()) => String::from_utf8(buf).unwrap_or_default(),
        Err(_) => String::new(),
    };
    let hash = hex::encode(Sha256::digest(json.as_bytes()));
    (json, hash)
}

/// The time of log entries and state changes as stored and hashed: RFC 3339, UTC,
/// milliseconds. The hash covers this exact string, so stores keep it as text.
pub fn format_at(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `at`, or `last` (the time of the chain's last entry) when that is later: entries
/// never go back in time along the chain. An unreadable `last` is ignored.
pub fn not_before(at: DateTime<Utc>, last: Option<&str>) -> DateTime<Utc> {
    match last.and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
        Some(l) if l.with_timezone(&Utc) > at => l.with_timezone(&Utc),
        _ => at,
    }
}

/// The head of an organizer's hash chain: the last entry's seq and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// A ticket row to insert, or to update when it exists. On insert the status is
/// `INJECTED`, the initial owner is `owner` and the status time is the call's time; an
/// update changes only the fields below.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketWrite {
    pub ticket_id: String,
    pub event_id: String,
    pub tax_number: Option<String>,
    pub barcode: Option<String>,
    /// Canonical JSON of the injected ticket.
    pub content: String,
    pub content_hash: String,
    /// JSON of the owner after this call.
    pub owner: String,
    /// The owner's email, lower-cased (what app sessions look tickets up by).
    pub owner_email: Option<String>,
    /// Seq of the ticket's latest log entry (what the change feed reads by).
    pub change_seq: i64,
    /// Seqs of this call's log entries for the ticket, comma separated, oldest first:
    /// the store appends them to the row's list (see [`parse_log_seqs`]).
    pub log_seqs: String,
}

/// An event to create or overwrite: JSON of its [`EventSummary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventWrite {
    pub event_id: String,
    pub data: String,
}

/// Everything one injection call writes, and what it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectPlan {
    /// One per ticket, in request order.
    pub results: Vec<ItemResult>,
    /// One per distinct event of the accepted tickets, with the last fields sent.
    pub events: Vec<EventWrite>,
    /// One per distinct accepted ticket id, with its final state in this call.
    pub tickets: Vec<TicketWrite>,
    /// New log entries, in seq order.
    pub entries: Vec<LogEntry>,
    /// The chain head after `entries`.
    pub head: ChainHead,
    /// Barcodes the accepted tickets hold for the first time: new registry rows.
    pub barcodes: Vec<BarcodeClaim>,
}

impl InjectPlan {
    /// True when nothing needs writing (every ticket unchanged or refused).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.tickets.is_empty()
            && self.entries.is_empty()
            && self.barcodes.is_empty()
    }
}

/// An injected ticket with what can be computed before the store's lock is taken:
/// its canonical JSON and hash, and its event's JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedTicket {
    pub ticket: Ticket,
    pub content: String,
    pub content_hash: String,
    /// JSON of the ticket's [`EventSummary`], when the ticket has an event id.
    pub event_data: Option<String>,
}

/// Serialises and hashes the tickets of a call. Stores call this before taking their
/// write lock: it is most of the CPU cost of planning and depends on no stored state.
pub fn prepare(tickets: Vec<Ticket>) -> Vec<PreparedTicket> {
    // The tickets of a call usually share their event: serialise it once and reuse
    // the text while the event stays the same.
    let mut last_event: Option<(crate::api::Event, String)> = None;
    tickets
        .into_iter()
        .map(|ticket| {
            let (content, content_hash) = content_of(&ticket);
            let event_data = ticket.event.as_ref().and_then(|ev| {
                if let Some((prev, data)) = &last_event
                    && prev == ev
                {
                    return Some(data.clone());
                }
                let id = ev.id.clone()?;
                let data = serde_json::to_string(&EventSummary {
                    id,
                    name: ev.name.clone(),
                    start_time: ev.start_time.clone(),
                    expiration_date: ev.expiration_date.clone(),
                    address: ev.address.clone(),
                    group: ev.group.clone(),
                    metadata: ev.metadata.clone(),
                })
                .ok()?;
                last_event = Some((ev.clone(), data.clone()));
                Some(data)
            });
            PreparedTicket {
                ticket,
                content,
                content_hash,
                event_data,
            }
        })
        .collect()
}

/// Plans one injection call. `current` holds the stored state of every ticket id of
/// the call that exists; `barcodes` the registry's holder of every barcode of the call
/// that has one; `head` is the organizer's chain head read under the lock the writes
/// will be made under. The same ticket id may appear several times in a call: each
/// occurrence sees the state (and the barcodes) the previous ones left.
pub fn plan_inject(
    tickets: Vec<PreparedTicket>,
    mut current: HashMap<String, CurrentTicket>,
    mut barcodes: BarcodeHolders,
    head: ChainHead,
    actor: &str,
    at: &str,
) -> InjectPlan {
    let mut plan = InjectPlan {
        results: Vec::with_capacity(tickets.len()),
        events: Vec::new(),
        tickets: Vec::with_capacity(tickets.len()),
        entries: Vec::with_capacity(tickets.len()),
        head,
        barcodes: Vec::new(),
    };
    let mut event_pos: HashMap<String, usize> = HashMap::new();
    let mut ticket_pos: HashMap<String, usize> = HashMap::new();

    for prepared in tickets {
        let PreparedTicket {
            ticket,
            content,
            content_hash,
            event_data,
        } = prepared;
        let Some((ticket_id, event_id, recipient)) = essentials(&ticket) else {
            // The service validates before calling the store; this only keeps a store
            // used directly from writing a ticket it could not find again.
            let id = ticket.ticket_id.clone().unwrap_or_default();
            plan.results.push(ItemResult::ko(
                id,
                "MISSING_FIELD",
                "ticketId, event.id and spectatorDetails.email are required",
            ));
            continue;
        };
        let cur = current.get(&ticket_id);
        let mut decision = decide(&ticket_id, cur, &content_hash, &recipient);
        let barcode = barcode_of(&ticket);
        if !matches!(decision, Decision::Refuse { .. })
            && let Some(refusal) = barcode_refusal(&ticket_id, barcode, &barcodes)
        {
            decision = refusal;
        }
        let (action, from_status, from_owner, status, owner) = match (&decision, cur) {
            (Decision::Refuse { code, message }, _) => {
                plan.results
                    .push(ItemResult::ko(ticket_id, code, message.clone()));
                continue;
            }
            (Decision::Unchanged, Some(cur)) => {
                plan.results
                    .push(ItemResult::ok(ticket_id, cur.status.as_str()));
                continue;
            }
            (Decision::Update { owner_changes }, Some(cur)) => {
                let owner = if *owner_changes {
                    Some(recipient.clone())
                } else {
                    cur.owner.clone()
                };
                (
                    ACTION_UPDATE,
                    Some(cur.status),
                    cur.owner.as_ref().and_then(|p| p.email.clone()),
                    cur.status,
                    owner,
                )
            }
            // Create, or (unreachable) a decision on a ticket that is not there.
            _ => (
                ACTION_INJECT,
                None,
                None,
                WalletStatus::Injected,
                Some(recipient.clone()),
            ),
        };

        let entry = chain_entry(
            &mut plan.head,
            at,
            NewEntry {
                ticket_id: &ticket_id,
                action,
                from_status,
                to_status: status,
                from_owner,
                to_owner: owner.as_ref().and_then(|p| p.email.clone()),
                actor,
                detail: None,
            },
        );
        let seq = entry.seq;
        plan.entries.push(entry);

        if let Some(data) = event_data {
            let write = EventWrite {
                event_id: event_id.clone(),
                data,
            };
            match event_pos.get(&event_id) {
                Some(&i) => plan.events[i] = write,
                None => {
                    event_pos.insert(event_id.clone(), plan.events.len());
                    plan.events.push(write);
                }
            }
        }

        let pd = ticket.purchase_details.as_ref();
        let write = TicketWrite {
            ticket_id: ticket_id.clone(),
            event_id,
            tax_number: pd.and_then(|p| p.taxation_number.clone()),
            barcode: ticket.security.as_ref().and_then(|s| s.barcode.clone()),
            content,
            content_hash: content_hash.clone(),
            owner: serde_json::to_string(&owner).unwrap_or_default(),
            owner_email: owner
                .as_ref()
                .and_then(|p| p.email.as_deref())
                .map(crate::lifecycle::email_key),
            change_seq: seq,
            log_seqs: seq.to_string(),
        };
        match ticket_pos.get(&ticket_id) {
            Some(&i) => {
                let earlier = std::mem::take(&mut plan.tickets[i].log_seqs);
                plan.tickets[i] = TicketWrite {
                    log_seqs: format!("{earlier},{}", write.log_seqs),
                    ..write
                };
            }
            None => {
                ticket_pos.insert(ticket_id.clone(), plan.tickets.len());
                plan.tickets.push(write);
            }
        }
        if let Some(b) = barcode
            && !barcodes.contains_key(b)
        {
            barcodes.insert(b.to_owned(), ticket_id.clone());
            plan.barcodes.push(BarcodeClaim {
                barcode: b.to_owned(),
                ticket_id: ticket_id.clone(),
            });
        }
        current.insert(
            ticket_id.clone(),
            CurrentTicket {
                status,
                content_hash,
                owner,
            },
        );
        plan.results
            .push(ItemResult::ok(ticket_id, status.as_str()));
    }
    plan
}

/// `KO DUPLICATE_BARCODE` when `barcode` belongs to another ticket id than `ticket_id`.
fn barcode_refusal(
    ticket_id: &str,
    barcode: Option<&str>,
    holders: &BarcodeHolders,
) -> Option<Decision> {
    let b = barcode?;
    let holder = holders.get(b).filter(|h| h.as_str() != ticket_id)?;
    Some(Decision::Refuse {
        code: DUPLICATE_BARCODE,
        message: format!(
            "security.barcode {b:?} belongs to ticket {holder}: a barcode is never shared \
             or given to another ticket id, even after its ticket was deleted"
        ),
    })
}

/// The fields of a new log entry, before chaining. `ticket_id` holds the ticket's or
/// the privilege's id.
pub(crate) struct NewEntry<'a> {
    pub(crate) ticket_id: &'a str,
    pub(crate) action: &'a str,
    pub(crate) from_status: Option<WalletStatus>,
    pub(crate) to_status: WalletStatus,
    pub(crate) from_owner: Option<String>,
    pub(crate) to_owner: Option<String>,
    pub(crate) actor: &'a str,
    pub(crate) detail: Option<String>,
}

/// Chains `e` after `head` (advancing it) and answers the entry.
pub(crate) fn chain_entry(head: &mut ChainHead, at: &str, e: NewEntry<'_>) -> LogEntry {
    let seq = head.seq + 1;
    let fields = ChainedFields {
        seq,
        at,
        ticket_id: e.ticket_id,
        action: e.action,
        from_status: e.from_status.map(WalletStatus::as_str),
        to_status: e.to_status.as_str(),
        from_owner: e.from_owner.as_deref(),
        to_owner: e.to_owner.as_deref(),
        actor: e.actor,
        detail: e.detail.as_deref(),
    };
    let hash = entry_hash(&head.hash, &fields);
    let entry = LogEntry {
        seq,
        at: at.to_owned(),
        ticket_id: e.ticket_id.to_owned(),
        action: e.action.to_owned(),
        from_status: e.from_status.map(|s| s.as_str().to_owned()),
        to_status: e.to_status.as_str().to_owned(),
        from_owner: e.from_owner,
        to_owner: e.to_owner,
        actor: e.actor.to_owned(),
        detail: e.detail,
        prev_hash: std::mem::replace(&mut head.hash, hash.clone()),
        hash,
    };
    head.seq = seq;
    entry
}

/// The ticket id, event id and recipient, when all three are there.
fn essentials(t: &Ticket) -> Option<(String, String, Person)> {
    let id = t.ticket_id.as_ref().filter(|s| !s.is_empty())?;
    let event_id = t
        .event
        .as_ref()
        .and_then(|e| e.id.as_ref())
        .filter(|s| !s.is_empty())?;
    let recipient = t.spectator_details.as_ref().filter(|p| p.email.is_some())?;
    Some((id.clone(), event_id.clone(), recipient.clone()))
}

/// The seqs of a ticket's log entries as its row keeps them (`"1,57,203"`). Keeping
/// them on the row lets a ticket's history be read by primary key, instead of paying
/// for an index on the log by ticket id on every one of the log's many writes.
pub fn parse_log_seqs(s: &str) -> Result<Vec<i64>, String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.trim()
                .parse()
                .map_err(|_| format!("stored log seqs {s:?} are not a list of numbers"))
        })
        .collect()
}

/// Event statistics from the number of tickets per status.
pub fn event_statistics(counts: &[(WalletStatus, i64)]) -> EventStatistics {
    let mut s = EventStatistics::default();
    for &(status, n) in counts {
        s.total += n;
        if status.is_deleted() {
            s.deleted += n;
        } else {
            s.valid += n;
            if status == WalletStatus::Injected {
                s.never_downloaded += n;
            } else {
                s.downloaded += n;
            }
        }
        match status {
            WalletStatus::PendingTransfer => s.pending_transfer += n,
            WalletStatus::Controlled => s.controlled += n,
            _ => {}
        }
    }
    s
}

/// A ticket row as both stores keep it: scalar columns plus JSON text columns.
#[derive(Debug, Clone, Default)]
pub struct StoredTicket {
    pub ticket_id: String,
    pub event_id: String,
    pub tax_number: Option<String>,
    pub status: String,
    pub status_changed_at: String,
    pub owner: Option<String>,
    pub initial_owner: Option<String>,
    pub previous_owner: Option<String>,
    pub holder: Option<String>,
    pub transfer_level: i64,
    pub deletion: Option<String>,
    /// JSON of the pending transfer, if any.
    pub transfer: Option<String>,
    /// The barcode the ticket was injected with.
    pub barcode: Option<String>,
}

impl StoredTicket {
    /// The ticket state with an empty history; errors name the column that did not
    /// decode.
    pub fn into_state(self) -> Result<TicketState, String> {
        let status: WalletStatus = self.status.parse()?;
        Ok(TicketState {
            owner: json_column("owner", self.owner)?,
            initial_owner: json_column("initial_owner", self.initial_owner)?,
            previous_owner: json_column("previous_owner", self.previous_owner)?,
            holder: json_column("holder", self.holder)?,
            deletion: json_column("deletion", self.deletion)?,
            transfer: json_column("transfer", self.transfer)?,
            ticket_id: self.ticket_id,
            taxation_number: self.tax_number,
            barcode: self.barcode,
            event_id: self.event_id,
            status: status.as_str().to_owned(),
            status_changed_at: self.status_changed_at,
            transfer_level: self.transfer_level,
            history: Vec::new(),
        })
    }
}

/// Decodes a nullable JSON column; `null` and NULL both give `None`.
pub fn json_column<T: serde::de::DeserializeOwned>(
    name: &str,
    v: Option<String>,
) -> Result<Option<T>, String> {
    match v {
        None => Ok(None),
        Some(s) => serde_json::from_str::<Option<T>>(&s)
            .map_err(|e| format!("stored {name} is not valid JSON: {e}")),
    }
}

/// Checks a status log against its hash chain: seqs 1, 2, … with no gap, each
/// `prevHash` the previous `hash` (the genesis hash first), each hash recomputed.
/// Answers the number of entries, or the seq of the first broken entry.
pub fn verify_chain(entries: &[LogEntry]) -> Result<usize, i64> {
    let mut v = ChainVerifier::default();
    for e in entries {
        v.push(e)?;
    }
    Ok(entries.len())
}

/// Checks a chain entry by entry, so that a chain of millions is verified page by
/// page in constant memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    prev: String,
    seq: i64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            prev: GENESIS_HASH.to_owned(),
            seq: 0,
        }
    }
}

impl ChainVerifier {
    /// Checks the next entry; `Err(seq)` names the first entry that breaks the chain:
    /// a gap or repeat in seqs, a `prevHash` that is not the previous hash, or a hash
    /// that does not match the entry's content.
    pub fn push(&mut self, e: &LogEntry) -> Result<(), i64> {
        let expected = self.seq + 1;
        if e.seq != expected {
            // A missing entry is reported at the seq where it is missing.
            return Err(expected.min(e.seq));
        }
        let fields = chained_fields(e);
        if e.prev_hash != self.prev || entry_hash(&self.prev, &fields) != e.hash {
            return Err(e.seq);
        }
        self.prev.clone_from(&e.hash);
        self.seq = e.seq;
        Ok(())
    }

    /// Entries checked so far (the last seq).
    pub fn entries(&self) -> i64 {
        self.seq
    }

    /// The head reached: it must equal the head the store keeps, or entries were
    /// removed from the end.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.prev.clone(),
        }
    }
}

/// The hashed fields of a stored entry.
pub fn chained_fields(e: &LogEntry) -> ChainedFields<'_> {
    ChainedFields {
        seq: e.seq,
        at: &e.at,
        ticket_id: &e.ticket_id,
        action: &e.action,
        from_status: e.from_status.as_deref(),
        to_status: &e.to_status,
        from_owner: e.from_owner.as_deref(),
        to_owner: e.to_owner.as_deref(),
        actor: &e.actor,
        detail: e.detail.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Address, Event, PurchaseDetails, Security, SpectatorDetails};

    fn ticket(id: &str, event: &str, email: &str) -> Ticket {
        Ticket {
            ticket_id: Some(id.into()),
            event: Some(Event {
                id: Some(event.into()),
                name: Some("Final".into()),
                start_time: Some("2026-07-12T21:00:00+02:00".into()),
                expiration_date: Some("2026-07-13T21:00:00+02:00".into()),
                address: Some(Address {
                    site: Some("Stade".into()),
                    city: Some("Paris".into()),
                    zip: Some("75000".into()),
                    country_code: Some("FR".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            purchase_details: Some(PurchaseDetails {
                taxation_number: Some(format!("TAX-{id}")),
                ..Default::default()
            }),
            security: Some(Security {
                barcode: Some(format!("BC-{id}")),
            }),
            spectator_details: Some(SpectatorDetails {
                email: Some(email.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn person(email: &str) -> Person {
        Person {
            email: Some(email.into()),
            ..Default::default()
        }
    }

    fn current(status: WalletStatus, t: &Ticket) -> CurrentTicket {
        CurrentTicket {
            status,
            content_hash: content_of(t).1,
            owner: t.spectator_details.clone(),
        }
    }

    #[test]
    fn decisions_follow_the_contract() {
        let t = ticket("T1", "E1", "a@example.org");
        let (_, h) = content_of(&t);
        let a = person("a@example.org");
        assert_eq!(decide("T1", None, &h, &a), Decision::Create);
        let cur = current(WalletStatus::Injected, &t);
        assert_eq!(decide("T1", Some(&cur), &h, &a), Decision::Unchanged);
        assert_eq!(
            decide("T1", Some(&cur), "other", &a),
            Decision::Update {
                owner_changes: false
            }
        );
        let b = person("b@example.org");
        assert_eq!(
            decide("T1", Some(&cur), "other", &b),
            Decision::Update {
                owner_changes: true
            }
        );
        // Downloaded: everything but the owner.
        let cur = current(WalletStatus::Downloaded, &t);
        assert_eq!(
            decide("T1", Some(&cur), "other", &b),
            Decision::Update {
                owner_changes: false
            }
        );
        for s in [WalletStatus::DeletionPending, WalletStatus::Deleted] {
            let cur = current(s, &t);
            // Even identical content is refused: the id is spent.
            match decide("T1", Some(&cur), &h, &a) {
                Decision::Refuse { code, message } => {
                    assert_eq!(code, TICKET_DELETED);
                    assert!(message.contains("T1"));
                }
                d => panic!("expected a refusal, got {d:?}"),
            }
        }
    }

    #[test]
    fn content_hash_ignores_wire_formatting() {
        let a: Ticket = serde_json::from_str(
            r#"{"ticketId":"T1","sortingKey":"k","purchaseDetails":{"price":10}}"#,
        )
        .unwrap();
        let b: Ticket = serde_json::from_str(
            r#"{ "purchaseDetails": {"price": 10.0}, "sortingKey": "k", "ticketId": "T1", "unknown": 1 }"#,
        )
        .unwrap();
        assert_eq!(content_of(&a), content_of(&b));
        let mut c = a.clone();
        c.sorting_key = Some("j".into());
        assert_ne!(content_of(&a).1, content_of(&c).1);
    }

    #[test]
    fn a_new_batch_creates_chains_and_events() {
        let at = "2026-11-27T10:00:00.000Z";
        let plan = plan_inject(
            prepare(vec![
                ticket("T1", "E1", "a@example.org"),
                ticket("T2", "E2", "b@example.org"),
                ticket("T3", "E1", "c@example.org"),
            ]),
            HashMap::new(),
            HashMap::new(),
            ChainHead::genesis(),
            "ORGANIZER_API",
            at,
        );
        assert!(plan.results.iter().all(|r| r.is_ok()));
        assert!(
            plan.results
                .iter()
                .all(|r| r.status.as_deref() == Some("INJECTED"))
        );
        assert_eq!(plan.tickets.len(), 3);
        assert_eq!(
            plan.events
                .iter()
                .map(|e| e.event_id.as_str())
                .collect::<Vec<_>>(),
            ["E1", "E2"]
        );
        assert_eq!(plan.entries.len(), 3);
        assert_eq!(verify_chain(&plan.entries), Ok(3));
        assert_eq!(plan.head.seq, 3);
        assert_eq!(plan.head.hash, plan.entries[2].hash);
        let e = &plan.entries[0];
        assert_eq!(
            (
                e.action.as_str(),
                e.from_status.as_deref(),
                e.to_status.as_str()
            ),
            ("INJECT", None, "INJECTED")
        );
        assert_eq!(e.to_owner.as_deref(), Some("a@example.org"));
        assert_eq!(
            plan.tickets
                .iter()
                .map(|t| t.change_seq)
                .collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    #[test]
    fn the_chain_continues_from_the_head() {
        let first = plan_inject(
            prepare(vec![ticket("T1", "E1", "a@example.org")]),
            HashMap::new(),
            HashMap::new(),
            ChainHead::genesis(),
            "ORGANIZER_API",
            "2026-11-27T10:00:00.000Z",
        );
        let second = plan_inject(
            prepare(vec![ticket("T2", "E1", "a@example.org")]),
            HashMap::new(),
            HashMap::new(),
            first.head.clone(),
            "ORGANIZER_API",
            "2026-11-27T10:00:01.000Z",
        );
        let all: Vec<_> = first.entries.into_iter().chain(second.entries).collect();
        assert_eq!(verify_chain(&all), Ok(2));
        let mut broken = all.clone();
        broken[0].to_owner = Some("mallory@example.org".into());
        assert_eq!(verify_chain(&broken), Err(1));
    }

    #[test]
    fn re_injection_is_idempotent_update_or_refused() {
        let t1 = ticket("T1", "E1", "a@example.org");
        let mut t2 = ticket("T2", "E1", "a@example.org");
        let t3 = ticket("T3", "E1", "a@example.org");
        let mut cur = HashMap::new();
        cur.insert("T1".to_owned(), current(WalletStatus::Downloaded, &t1));
        cur.insert("T2".to_owned(), current(WalletStatus::Injected, &t2));
        cur.insert("T3".to_owned(), current(WalletStatus::Deleted, &t3));
        let head = ChainHead {
            seq: 7,
            hash: "h".repeat(64),
        };
        t2.spectator_details = Some(person("b@example.org"));
        let plan = plan_inject(
            prepare(vec![t1, t2, t3]),
            cur,
            HashMap::new(),
            head,
            "ORGANIZER_API",
            "2026-11-27T10:00:00.000Z",
        );
        assert_eq!(plan.results[0], ItemResult::ok("T1", "DOWNLOADED"));
        assert_eq!(plan.results[1], ItemResult::ok("T2", "INJECTED"));
        assert_eq!(plan.results[2].error_code.as_deref(), Some(TICKET_DELETED));
        assert_eq!(plan.entries.len(), 1);
        let e = &plan.entries[0];
        assert_eq!(e.seq, 8);
        assert_eq!(e.prev_hash, "h".repeat(64));
        assert_eq!(e.action, "UPDATE");
        assert_eq!(e.from_status.as_deref(), Some("INJECTED"));
        assert_eq!(e.from_owner.as_deref(), Some("a@example.org"));
        assert_eq!(e.to_owner.as_deref(), Some("b@example.org"));
        assert_eq!(plan.tickets.len(), 1);
        assert!(plan.tickets[0].owner.contains("b@example.org"));
        assert!(plan.events.len() == 1);
    }

    #[test]
    fn a_downloaded_ticket_keeps_its_owner() {
        let t = ticket("T1", "E1", "a@example.org");
        let mut cur = HashMap::new();
        cur.insert("T1".to_owned(), current(WalletStatus::Downloaded, &t));
        let mut changed = t.clone();
        changed.spectator_details = Some(person("b@example.org"));
        let plan = plan_inject(
            prepare(vec![changed]),
            cur,
            HashMap::new(),
            ChainHead::genesis(),
            "ORGANIZER_API",
            "2026-11-27T10:00:00.000Z",
        );
        assert_eq!(plan.results[0], ItemResult::ok("T1", "DOWNLOADED"));
        let e = &plan.entries[0];
        assert_eq!(e.to_status, "DOWNLOADED");
        assert_eq!(e.to_owner.as_deref(), Some("a@example.org"));
        assert!(plan.tickets[0].owner.contains("a@example.org"));
        assert!(plan.tickets[0].content.contains("b@example.org"));
    }

    #[test]
    fn repeated_ids_in_one_call_see_each_other() {
        let t = ticket("T1", "E1", "a@example.org");
        let mut changed = t.clone();
        changed.security = Some(Security {
            barcode: Some("NEW".into()),
        });
        let plan = plan_inject(
            prepare(vec![t.clone(), t, changed]),
            HashMap::new(),
            HashMap::new(),
            ChainHead::genesis(),
            "ORGANIZER_API",
            "2026-11-27T10:00:00.000Z",
        );
        assert!(plan.results.iter().all(|r| r.is_ok()));
        let actions: Vec<_> = plan.entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["INJECT", "UPDATE"]);
        assert_eq!(plan.tickets.len(), 1);
        assert_eq!(plan.tickets[0].barcode.as_deref(), Some("NEW"));
        assert_eq!(plan.tickets[0].change_seq, 2);
        assert_eq!(plan.tickets[0].log_seqs, "1,2");
        assert_eq!(parse_log_seqs(&plan.tickets[0].log_seqs), Ok(vec![1, 2]));
        assert_eq!(parse_log_seqs(""), Ok(vec![]));
        assert!(parse_log_seqs("1,x").is_err());
    }

    #[test]
    fn a_barcode_belongs_to_one_ticket_id_for_good() {
        let with_barcode = |id: &str, barcode: &str| {
            let mut t = ticket(id, "E1", "a@example.org");
            t.security = Some(Security {
                barcode: Some(barcode.into()),
            });
            t
        };
        // T9 held X once (deleted since, or re-barcoded): the registry still says so.
        let registry: BarcodeHolders = [("X".to_owned(), "T9".to_owned())].into();
        let plan = plan_inject(
            prepare(vec![
                with_barcode("T1", "A"),
                with_barcode("T2", "A"),
                with_barcode("T3", "X"),
                with_barcode("T9", "X"),
                with_barcode("T1", "B"),
            ]),
            HashMap::new(),
            registry,
            ChainHead::genesis(),
            "ORGANIZER_API",
            "2026-11-27T10:00:00.000Z",
        );
        let codes: Vec<_> = plan
            .results
            .iter()
            .map(|r| r.error_code.as_deref().unwrap_or("OK"))
            .collect();
        assert_eq!(
            codes,
            ["OK", DUPLICATE_BARCODE, DUPLICATE_BARCODE, "OK", "OK"]
        );
        let msg = plan.results[1].message.as_deref().unwrap_or_default();
        assert!(msg.contains("T1"), "{msg}");
        let msg = plan.results[2].message.as_deref().unwrap_or_default();
        assert!(msg.contains("T9"), "{msg}");
        // T1 keeps A after moving to B; X was registered before the call.
        let claims: Vec<_> = plan
            .barcodes
            .iter()
            .map(|c| (c.barcode.as_str(), c.ticket_id.as_str()))
            .collect();
        assert_eq!(claims, [("A", "T1"), ("B", "T1")]);
        assert_eq!(plan.tickets.len(), 2);
    }

    #[test]
    fn the_last_event_fields_win() {
        let t1 = ticket("T1", "E1", "a@example.org");
        let mut t2 = ticket("T2", "E1", "a@example.org");
        t2.event.as_mut().unwrap().name = Some("Renamed".into());
        let plan = plan_inject(
            prepare(vec![t1, t2]),
            HashMap::new(),
            HashMap::new(),
            ChainHead::genesis(),
            "ORGANIZER_API",
            "2026-11-27T10:00:00.000Z",
        );
        assert_eq!(plan.events.len(), 1);
        let ev: EventSummary = serde_json::from_str(&plan.events[0].data).unwrap();
        assert_eq!(ev.id, "E1");
        assert_eq!(ev.name, Some("Renamed".into()));
    }

    #[test]
    fn unusable_tickets_are_refused_not_written() {
        let mut t = ticket("T1", "E1", "a@example.org");
        t.spectator_details = None;
        let plan = plan_inject(
            prepare(vec![t]),
            HashMap::new(),
            HashMap::new(),
            ChainHead::genesis(),
            "ORGANIZER_API",
            "2026-11-27T10:00:00.000Z",
        );
        assert!(!plan.results[0].is_ok());
        assert!(plan.is_empty());
    }

    #[test]
    fn statistics_add_up() {
        let s = event_statistics(&[
            (WalletStatus::Injected, 5),
            (WalletStatus::Downloaded, 3),
            (WalletStatus::PendingTransfer, 2),
            (WalletStatus::Controlled, 1),
            (WalletStatus::DeletionPending, 1),
            (WalletStatus::Deleted, 4),
        ]);
        assert_eq!(
            s,
            EventStatistics {
                total: 16,
                valid: 11,
                deleted: 5,
                never_downloaded: 5,
                downloaded: 6,
                pending_transfer: 2,
                controlled: 1,
            }
        );
    }

    #[test]
    fn stored_rows_decode() {
        let row = StoredTicket {
            ticket_id: "T1".into(),
            event_id: "E1".into(),
            status: "INJECTED".into(),
            owner: Some(r#"{"email":"a@example.org"}"#.into()),
            previous_owner: Some("null".into()),
            ..Default::default()
        };
        let s = row.into_state().unwrap();
        assert_eq!(s.owner, Some(person("a@example.org")));
        assert_eq!(s.previous_owner, None);
        let bad = StoredTicket {
            status: "NOPE".into(),
            ..Default::default()
        };
        assert!(bad.into_state().is_err());
    }

    #[test]
    fn times_are_utc_millis() {
        let at = DateTime::parse_from_rfc3339("2026-11-27T11:00:00.123456+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_at(at), "2026-11-27T10:00:00.123Z");
    }
}
