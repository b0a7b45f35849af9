//! Digital privileges (WALLET-API.md "Digital privileges", DOMAIN.md §5.5): membership
//! and season cards. Wire types, per-privilege validation, and the rules of injection,
//! deletion and deletion confirmation as pure planning functions, in the manner of
//! [`crate::ledger::plan_inject`]: the store reads the chain head and the current rows
//! under its lock, calls a `plan_*` function and writes what it returns.
//!
//! Rules:
//! - a new privilege id → created `INJECTED` for the recipient (`spectatorDetails`),
//!   one `PRIVILEGE_INJECT` entry; its definition is created, or updated when the
//!   privilege carries a changed one (one definition per `definition.id`, shared by
//!   every privilege that names it; the last written wins);
//! - the same content again → `OK` with the current status, nothing written (not even
//!   the definition: a retry changes nothing);
//! - different content → updated, one `PRIVILEGE_UPDATE` entry; the owner follows the
//!   new recipient (a privilege is never downloaded nor transferred, so nobody else
//!   can own it);
//! - a `DELETION_PENDING` or `DELETED` privilege id → `KO` `TICKET_DELETED` (the
//!   contract's code for a spent id);
//! - delete → `DELETION_PENDING` with the reason, due for confirmation after the
//!   service's deletion delay, one `PRIVILEGE_DELETE` entry (`detail` `reason=…`);
//!   the same delete again → `OK` unchanged; a new reason (or visibility) on a pending
//!   or deleted privilege → recorded (`PRIVILEGE_DELETE_REASON`), status unchanged;
//! - confirmation (the service, once due) → `DELETED`, one
//!   `PRIVILEGE_CONFIRM_DELETION` entry by `SYSTEM`.
//!
//! Privilege entries are part of the organizer's one hash chain, interleaved with
//! ticket entries; their `ticketId` field holds the privilege id and their actions
//! all start with `PRIVILEGE_`, so a privilege and a ticket that share an id are never
//! confused in the track record.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::{
    Deletion, DetailEntry, FieldError, ItemResult, LogEntry, Person, PurchaseDetails, Security,
    SpectatorDetails, check_detail_entries, check_id, check_purchase_details, check_security,
    check_spectator, check_time, optional_str, required_str, required_text,
};
use crate::ledger::{ChainHead, NewEntry, TICKET_DELETED, chain_entry, format_at};
use crate::lifecycle::Settings;
use crate::status::WalletStatus;
use crate::text::Text;

/// Log action of a first injection.
pub const ACTION_PRIVILEGE_INJECT: &str = "PRIVILEGE_INJECT";
/// Log action of a re-injection with different content.
pub const ACTION_PRIVILEGE_UPDATE: &str = "PRIVILEGE_UPDATE";
/// Log action of a deletion request.
pub const ACTION_PRIVILEGE_DELETE: &str = "PRIVILEGE_DELETE";
/// Log action of a new reason (or visibility) on a privilege already being deleted.
pub const ACTION_PRIVILEGE_DELETE_REASON: &str = "PRIVILEGE_DELETE_REASON";
/// Log action of the service confirming a deletion.
pub const ACTION_PRIVILEGE_CONFIRM_DELETION: &str = "PRIVILEGE_CONFIRM_DELETION";

/// Error code of an unknown privilege, or another organizer's (HTTP 404 on reads).
pub const PRIVILEGE_NOT_FOUND: &str = "PRIVILEGE_NOT_FOUND";

/// The two kinds of privilege definition.
pub const PRIVILEGE_TYPES: [&str; 2] = ["MEMBERSHIP", "SEASON_CARD"];

/// Actor of organizer calls in the track record.
const ORGANIZER_API: &str = "ORGANIZER_API";
/// Actor of the service's own work in the track record.
const SYSTEM: &str = "SYSTEM";

/// `POST /organizer/privileges`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InjectPrivilegesRequest {
    pub privileges: Vec<Privilege>,
}

/// One privilege as injected. Required fields are `Option` on the wire so that a
/// missing one yields a per-privilege `KO` naming the field instead of rejecting the
/// whole call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Privilege {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privilege_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<PrivilegeDefinition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_details: Option<PurchaseDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectator_details: Option<SpectatorDetails>,
    /// The tickets the privilege goes with (a season card's match tickets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linked_ticket_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<PrivilegeDetails>,
}

/// What a privilege is a card of: one per product, shared by its privileges.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivilegeDefinition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    /// `MEMBERSHIP` or `SEASON_CARD`. Text on the wire, checked by
    /// [`validate_privilege`], so that a wrong value refuses one privilege, not the call.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivilegeDetails {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub main: Vec<DetailEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<DetailEntry>,
}

/// `POST /organizer/privileges/delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletePrivilegesRequest {
    pub privileges: Vec<PrivilegeDeletion>,
}

/// One deletion request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivilegeDeletion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privilege_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Keep the deleted privilege visible in the app; `false` when absent.
    #[serde(default)]
    pub show_deleted_ticket: bool,
}

/// `GET /organizer/privileges/{privilegeId}`: the privilege as injected (with its
/// definition as the wallet now holds it: a later privilege may have updated the
/// shared definition), its state and whole history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivilegeRecord {
    pub privilege: Privilege,
    pub status: String,
    pub status_changed_at: String,
    pub owner: Option<Person>,
    pub deletion: Option<Deletion>,
    #[serde(default)]
    pub history: Vec<LogEntry>,
}

// ---- validation ----

fn optional_time(field: &str, v: Option<&str>) -> Result<Option<DateTime<Utc>>, FieldError> {
    v.map(|s| check_time(field, s).map(|t| t.with_timezone(&Utc)))
        .transpose()
}

/// Checks one privilege against the contract's required fields and limits; the first
/// problem found is returned, its message naming the field by its JSON path. The
/// limits shared with tickets (purchase details, security, spectator) are those of
/// [`crate::api::validate_ticket`]; `purchaseDetails` and `security` are required as
/// the service's OpenAPI document states.
pub fn validate_privilege(p: &Privilege) -> Result<(), FieldError> {
    check_id("privilegeId", p.privilege_id.as_deref())?;

    let def = p
        .definition
        .as_ref()
        .ok_or_else(|| FieldError::missing("definition"))?;
    required_str("definition.id", def.id.as_deref(), 256)?;
    required_text("definition.name", def.name.as_ref(), 128)?;
    match def.kind.as_deref() {
        None => return Err(FieldError::missing("definition.type")),
        Some(k) if !PRIVILEGE_TYPES.contains(&k) => {
            return Err(FieldError::invalid(
                "definition.type",
                "must be MEMBERSHIP or SEASON_CARD",
            ));
        }
        Some(_) => {}
    }
    let from = optional_time("definition.validFrom", def.valid_from.as_deref())?;
    let to = optional_time("definition.validTo", def.valid_to.as_deref())?;
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(FieldError::invalid(
            "definition.validTo",
            "is before definition.validFrom",
        ));
    }
    optional_str("definition.imageUrl", def.image_url.as_deref(), 256)?;

    check_purchase_details(p.purchase_details.as_ref())?;
    check_security(p.security.as_ref())?;
    check_spectator(p.spectator_details.as_ref())?;

    for (i, id) in p.linked_ticket_ids.iter().enumerate() {
        check_id(&format!("linkedTicketIds[{i}]"), Some(id))?;
    }
    if let Some(d) = &p.details {
        check_detail_entries("details", [("main", &d.main), ("extra", &d.extra)])?;
    }
    Ok(())
}

/// Checks one deletion request: a privilege id and a reason (≤ 256 characters).
pub fn validate_deletion(d: &PrivilegeDeletion) -> Result<(), FieldError> {
    required_str("privilegeId", d.privilege_id.as_deref(), 256)?;
    required_str("reason", d.reason.as_deref(), 256)?;
    Ok(())
}

// ---- planning ----

/// What the wallet holds of a privilege, as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentPrivilege {
    pub status: WalletStatus,
    pub status_changed_at: String,
    pub content_hash: String,
    pub owner: Option<Person>,
    pub deletion: Option<Deletion>,
    /// When the pending deletion is due for confirmation (RFC 3339 UTC millis).
    pub due_at: Option<String>,
}

/// A privilege with what can be computed before the store's lock is taken.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedPrivilege {
    pub privilege: Privilege,
    /// Canonical JSON of the privilege as injected.
    pub content: String,
    pub content_hash: String,
    /// JSON of the definition, when it has an id.
    pub definition_data: Option<String>,
}

/// The canonical JSON of a privilege and its SHA-256 (hex): serialising the parsed
/// value makes whitespace, key order and unknown fields irrelevant, so a retry is
/// recognised as identical.
pub fn content_of(p: &Privilege) -> (String, String) {
    let json = serde_json::to_string(p).unwrap_or_default();
    let hash = hex::encode(Sha256::digest(json.as_bytes()));
    (json, hash)
}

/// Serialises and hashes the privileges of a call (before the store's lock).
pub fn prepare(privileges: Vec<Privilege>) -> Vec<PreparedPrivilege> {
    privileges
        .into_iter()
        .map(|privilege| {
            let (content, content_hash) = content_of(&privilege);
            let definition_data = privilege
                .definition
                .as_ref()
                .filter(|d| d.id.is_some())
                .and_then(|d| serde_json::to_string(d).ok());
            PreparedPrivilege {
                privilege,
                content,
                content_hash,
                definition_data,
            }
        })
        .collect()
}

/// A definition to create or overwrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionWrite {
    pub definition_id: String,
    /// JSON of the [`PrivilegeDefinition`].
    pub data: String,
}

/// A privilege row to insert (status `INJECTED`, status time = the call's time), or
/// to update when it exists (only the fields below change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegeInjectWrite {
    pub privilege_id: String,
    pub definition_id: String,
    pub content: String,
    pub content_hash: String,
    /// JSON of the owner.
    pub owner: String,
    /// The owner's email, lower-cased.
    pub owner_email: Option<String>,
    /// Seq of the privilege's latest log entry.
    pub change_seq: i64,
    /// Seqs of this call's entries for the privilege, comma separated, oldest first:
    /// the store appends them to the row's list.
    pub log_seqs: String,
}

/// Everything one injection call writes, and what it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivilegeInjectPlan {
    /// One per privilege, in request order.
    pub results: Vec<ItemResult>,
    /// One per distinct definition of the written privileges, with the last sent.
    pub definitions: Vec<DefinitionWrite>,
    /// One per distinct written privilege id, with its final state in this call.
    pub privileges: Vec<PrivilegeInjectWrite>,
    /// New log entries, in seq order.
    pub entries: Vec<LogEntry>,
    /// The chain head after `entries`.
    pub head: ChainHead,
}

impl PrivilegeInjectPlan {
    /// True when nothing needs writing.
    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty() && self.privileges.is_empty() && self.entries.is_empty()
    }
}

/// A privilege row whose lifecycle changed (deletion, its reason, its confirmation):
/// the whole lifecycle after the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegeStateWrite {
    pub privilege_id: String,
    pub status: WalletStatus,
    pub status_changed_at: String,
    /// JSON of the [`Deletion`].
    pub deletion: Option<String>,
    pub due_at: Option<String>,
    pub change_seq: i64,
    /// Comma-separated, oldest first; the store appends them to the row's list.
    pub log_seqs: String,
}

/// Everything one deletion (or confirmation) batch writes, and what it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivilegeStatePlan {
    /// One per request, in order (confirmation: one per privilege confirmed).
    pub results: Vec<ItemResult>,
    /// One per changed privilege.
    pub writes: Vec<PrivilegeStateWrite>,
    pub entries: Vec<LogEntry>,
    pub head: ChainHead,
}

impl PrivilegeStatePlan {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.entries.is_empty()
    }
}

fn email_of(p: Option<&Person>) -> Option<String> {
    p.and_then(|p| p.email.clone())
}

/// The owner email as sessions match it ([`crate::lifecycle::email_key`]).
pub fn owner_email(p: Option<&Person>) -> Option<String> {
    p.and_then(|p| p.email.as_deref())
        .map(crate::lifecycle::email_key)
}

/// Plans one injection call. `current` holds the stored state of every privilege id
/// of the call that exists; `head` is the organizer's chain head read under the lock
/// the writes will be made under. A privilege id repeated in a call sees the state the
/// previous occurrence left.
pub fn plan_inject(
    privileges: Vec<PreparedPrivilege>,
    mut current: HashMap<String, CurrentPrivilege>,
    head: ChainHead,
    at: &str,
) -> PrivilegeInjectPlan {
    let mut plan = PrivilegeInjectPlan {
        results: Vec::with_capacity(privileges.len()),
        definitions: Vec::new(),
        privileges: Vec::with_capacity(privileges.len()),
        entries: Vec::with_capacity(privileges.len()),
        head,
    };
    let mut def_pos: HashMap<String, usize> = HashMap::new();
    let mut priv_pos: HashMap<String, usize> = HashMap::new();

    for prepared in privileges {
        let PreparedPrivilege {
            privilege,
            content,
            content_hash,
            definition_data,
        } = prepared;
        let id = privilege.privilege_id.clone().unwrap_or_default();
        let definition_id = privilege.definition.as_ref().and_then(|d| d.id.clone());
        let recipient = privilege.spectator_details.clone();
        let (Some(definition_id), Some(definition_data), Some(recipient)) =
            (definition_id, definition_data, recipient)
        else {
            // The service validates first; this keeps a store used directly from
            // writing a privilege it could not describe.
            plan.results.push(ItemResult::ko(
                id,
                "MISSING_FIELD",
                "privilegeId, definition.id and spectatorDetails are required",
            ));
            continue;
        };
        if id.is_empty() || recipient.email.is_none() {
            plan.results.push(ItemResult::ko(
                id,
                "MISSING_FIELD",
                "privilegeId, definition.id and spectatorDetails.email are required",
            ));
            continue;
        }

        let (action, from_status, from_owner) = match current.get(&id) {
            Some(cur) if cur.status.is_deleted() => {
                plan.results.push(ItemResult::ko(
                    &id,
                    TICKET_DELETED,
                    format!(
                        "privilege {id} is {}; a deleted privilege cannot be injected again (issue a new privilege id)",
                        cur.status
                    ),
                ));
                continue;
            }
            Some(cur) if cur.content_hash == content_hash => {
                plan.results.push(ItemResult::ok(&id, cur.status.as_str()));
                continue;
            }
            Some(cur) => (
                ACTION_PRIVILEGE_UPDATE,
                Some(cur.status),
                email_of(cur.owner.as_ref()),
            ),
            None => (ACTION_PRIVILEGE_INJECT, None, None),
        };

        let entry = chain_entry(
            &mut plan.head,
            at,
            NewEntry {
                ticket_id: &id,
                action,
                from_status,
                to_status: WalletStatus::Injected,
                from_owner,
                to_owner: email_of(Some(&recipient)),
                actor: ORGANIZER_API,
                detail: None,
            },
        );
        let seq = entry.seq;
        plan.entries.push(entry);
        plan.results
            .push(ItemResult::ok(&id, WalletStatus::Injected.as_str()));

        let def = DefinitionWrite {
            definition_id: definition_id.clone(),
            data: definition_data,
        };
        match def_pos.get(&definition_id) {
            Some(&i) => plan.definitions[i] = def,
            None => {
                def_pos.insert(definition_id.clone(), plan.definitions.len());
                plan.definitions.push(def);
            }
        }

        let write = PrivilegeInjectWrite {
            privilege_id: id.clone(),
            definition_id,
            content,
            content_hash: content_hash.clone(),
            owner: serde_json::to_string(&recipient).unwrap_or_else(|_| "null".into()),
            owner_email: owner_email(Some(&recipient)),
            change_seq: seq,
            log_seqs: seq.to_string(),
        };
        match priv_pos.get(&id) {
            Some(&i) => {
                let w = &mut plan.privileges[i];
                let seqs = format!("{},{seq}", w.log_seqs);
                *w = write;
                w.log_seqs = seqs;
            }
            None => {
                priv_pos.insert(id.clone(), plan.privileges.len());
                plan.privileges.push(write);
            }
        }

        // Later occurrences in the call see this one.
        let cur = current.entry(id).or_insert_with(|| CurrentPrivilege {
            status: WalletStatus::Injected,
            status_changed_at: at.to_owned(),
            content_hash: String::new(),
            owner: None,
            deletion: None,
            due_at: None,
        });
        cur.content_hash = content_hash;
        cur.owner = Some(recipient);
    }
    plan
}

/// Records a lifecycle write for `id`, merging with an earlier one of the batch.
fn push_state_write(
    plan: &mut PrivilegeStatePlan,
    pos: &mut HashMap<String, usize>,
    id: &str,
    cur: &CurrentPrivilege,
    seq: i64,
) {
    let write = PrivilegeStateWrite {
        privilege_id: id.to_owned(),
        status: cur.status,
        status_changed_at: cur.status_changed_at.clone(),
        deletion: cur
            .deletion
            .as_ref()
            .and_then(|d| serde_json::to_string(d).ok()),
        due_at: cur.due_at.clone(),
        change_seq: seq,
        log_seqs: seq.to_string(),
    };
    match pos.get(id) {
        Some(&i) => {
            let w = &mut plan.writes[i];
            let seqs = format!("{},{seq}", w.log_seqs);
            *w = write;
            w.log_seqs = seqs;
        }
        None => {
            pos.insert(id.to_owned(), plan.writes.len());
            plan.writes.push(write);
        }
    }
}

/// Plans one deletion call at `now`: a pending deletion is due for confirmation
/// `settings.deletion_delay` later. `current` holds the requested privileges that
/// exist. Requests on the same privilege see each other, in order. Reasons are
/// trimmed, as for tickets.
pub fn plan_delete(
    deletions: Vec<PrivilegeDeletion>,
    mut current: HashMap<String, CurrentPrivilege>,
    head: ChainHead,
    now: DateTime<Utc>,
    settings: &Settings,
) -> PrivilegeStatePlan {
    let at = format_at(now);
    let mut plan = PrivilegeStatePlan {
        results: Vec::with_capacity(deletions.len()),
        writes: Vec::new(),
        entries: Vec::new(),
        head,
    };
    let mut pos = HashMap::new();
    for d in deletions {
        let id = d.privilege_id.unwrap_or_default();
        let Some(reason) = d
            .reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
        else {
            plan.results
                .push(ItemResult::ko(&id, "MISSING_FIELD", "reason is required"));
            continue;
        };
        let Some(cur) = current.get_mut(&id) else {
            plan.results.push(ItemResult::ko(
                &id,
                PRIVILEGE_NOT_FOUND,
                format!("no privilege {id}"),
            ));
            continue;
        };
        let show = d.show_deleted_ticket;
        let owner = email_of(cur.owner.as_ref());
        let (action, from_status) = match &mut cur.deletion {
            Some(del) if cur.status.is_deleted() => {
                if del.reason == reason && del.show_deleted_ticket == show {
                    plan.results.push(ItemResult::ok(&id, cur.status.as_str()));
                    continue;
                }
                // A new reason on a privilege already on its way out: recorded, the
                // status and the times stay.
                del.reason.clone_from(&reason);
                del.show_deleted_ticket = show;
                (ACTION_PRIVILEGE_DELETE_REASON, cur.status)
            }
            _ => {
                let from = cur.status;
                cur.deletion = Some(Deletion {
                    reason: reason.clone(),
                    show_deleted_ticket: show,
                    requested_at: at.clone(),
                    confirmed_at: None,
                });
                cur.due_at = Some(format_at(now + settings.deletion_delay));
                if cur.status != WalletStatus::DeletionPending {
                    cur.status_changed_at.clone_from(&at);
                }
                cur.status = WalletStatus::DeletionPending;
                (ACTION_PRIVILEGE_DELETE, from)
            }
        };
        let entry = chain_entry(
            &mut plan.head,
            &at,
            NewEntry {
                ticket_id: &id,
                action,
                from_status: Some(from_status),
                to_status: cur.status,
                from_owner: owner.clone(),
                to_owner: owner,
                actor: ORGANIZER_API,
                detail: Some(format!("reason={reason}")),
            },
        );
        let seq = entry.seq;
        plan.entries.push(entry);
        plan.results.push(ItemResult::ok(&id, cur.status.as_str()));
        push_state_write(&mut plan, &mut pos, &id, cur, seq);
    }
    plan
}

/// Plans the service's confirmation of pending deletions at `now`: each listed
/// privilege that is `DELETION_PENDING` and due (`due_at <= now`) becomes `DELETED`;
/// the others (not due yet, already confirmed, unknown) are left alone, so a sweep
/// that races another is harmless. `results` has one `OK` per confirmed privilege.
pub fn plan_confirm(
    privilege_ids: Vec<String>,
    mut current: HashMap<String, CurrentPrivilege>,
    head: ChainHead,
    now: DateTime<Utc>,
) -> PrivilegeStatePlan {
    let at = format_at(now);
    let mut plan = PrivilegeStatePlan {
        results: Vec::new(),
        writes: Vec::new(),
        entries: Vec::new(),
        head,
    };
    let mut pos = HashMap::new();
    for id in privilege_ids {
        let Some(cur) = current.get_mut(&id) else {
            continue;
        };
        let due = cur
            .due_at
            .as_deref()
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .is_none_or(|d| d <= now);
        if cur.status != WalletStatus::DeletionPending || !due {
            continue;
        }
        if let Some(d) = cur.deletion.as_mut() {
            d.confirmed_at = Some(at.clone());
        }
        cur.status = WalletStatus::Deleted;
        cur.status_changed_at.clone_from(&at);
        cur.due_at = None;
        let owner = email_of(cur.owner.as_ref());
        let entry = chain_entry(
            &mut plan.head,
            &at,
            NewEntry {
                ticket_id: &id,
                action: ACTION_PRIVILEGE_CONFIRM_DELETION,
                from_status: Some(WalletStatus::DeletionPending),
                to_status: WalletStatus::Deleted,
                from_owner: owner.clone(),
                to_owner: owner,
                actor: SYSTEM,
                detail: None,
            },
        );
        let seq = entry.seq;
        plan.entries.push(entry);
        plan.results
            .push(ItemResult::ok(&id, WalletStatus::Deleted.as_str()));
        push_state_write(&mut plan, &mut pos, &id, cur, seq);
    }
    plan
}

/// A privilege row as both stores keep it: scalar columns plus JSON text columns.
#[derive(Debug, Clone, Default)]
pub struct StoredPrivilege {
    pub privilege_id: String,
    pub status: String,
    pub status_changed_at: String,
    pub content_hash: String,
    pub owner: Option<String>,
    pub deletion: Option<String>,
    pub due_at: Option<String>,
}

impl StoredPrivilege {
    /// The state the planning functions take; errors name the column that did not
    /// decode.
    pub fn into_current(self) -> Result<CurrentPrivilege, String> {
        Ok(CurrentPrivilege {
            status: self.status.parse()?,
            status_changed_at: self.status_changed_at,
            content_hash: self.content_hash,
            owner: crate::ledger::json_column("owner", self.owner)?,
            deletion: crate::ledger::json_column("deletion", self.deletion)?,
            due_at: self.due_at,
        })
    }
}

/// Builds the record a read answers from the stored row's parts: the content as
/// injected, the current definition (JSON, when the definition row exists), the
/// state, and the history (entries listed by the row, oldest first).
pub fn record(
    content: &str,
    definition: Option<&str>,
    current: CurrentPrivilege,
    history: Vec<LogEntry>,
) -> Result<PrivilegeRecord, String> {
    let mut privilege: Privilege =
        serde_json::from_str(content).map_err(|e| format!("stored privilege content: {e}"))?;
    if let Some(d) = definition {
        privilege.definition =
            Some(serde_json::from_str(d).map_err(|e| format!("stored privilege definition: {e}"))?);
    }
    Ok(PrivilegeRecord {
        privilege,
        status: current.status.as_str().to_owned(),
        status_changed_at: current.status_changed_at,
        owner: current.owner,
        deletion: current.deletion,
        history,
    })
}

#[cfg(test)]
mod tests;
