//! Reconciliation (issue 9): every ticket of an organization compared on both sides,
//! ticketing and the wallet, and the differences reported by class.
//!
//! Both sides are streamed in the same order, the ticket id compared as text byte by
//! byte (the wallet's order): ticketing by one sorted query sent in batches
//! ([`TicketingStore::reconcile_tickets`]), the wallet by keyset pages of
//! `GET /organizer/tickets?paginationKey=` (tixbridge's extension). The two streams
//! are merged like two sorted files, so memory stays flat whatever the number of
//! tickets: only the first ids of each class are kept, and with `--fix` the ids to
//! repair.
//!
//! `--fix` runs, for each class, the function that repairs it, with the class's tickets
//! as the file to upload (a force list for that one execution): Injection for tickets
//! the wallet lacks or holds with other content, Push Cancelled for cancelled tickets
//! still live, Push Controlled for controlled ones, and Feedback last for projections
//! behind the wallet; then it reconciles again.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use tixbridge_client::{ClientOptions, WalletClient};
use tixbridge_core::api::{Person, TicketState};
use tixbridge_core::lifecycle::email_key;
use tixbridge_core::model::{FunctionKind, InjectionParams, Organization};
use tixbridge_core::selection::TicketRefs;
use tixbridge_core::status::{TicketingStatus, WalletStatus};
use tixbridge_store::{InterfaceConfig, ReconcileTicket, TicketingStore};

use crate::{RunOptions, run_schedule};

/// The classes of difference a reconciliation reports (issue 9), in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mismatch {
    /// `PRINTED` or `CONTROLLED` in ticketing, delivered by the wallet, but absent
    /// from the wallet.
    AbsentFromWallet,
    /// `PRINTED` or `CONTROLLED` in ticketing but deleted in the wallet (by its back
    /// office, say): no function can bring it back, a deleted ticket id is never
    /// injected again; the operator reprints it.
    DeletedInWallet,
    /// In the wallet but `NOT_PRINTED` in ticketing, or unknown to ticketing.
    NotPrintedInTicketing,
    /// `CANCELLED` or `INVALIDATED` in ticketing but live in the wallet.
    CancelledButLive,
    /// `CONTROLLED` in ticketing but not in the wallet.
    ControlledNotInWallet,
    /// The mobile projection differs from the wallet: status, owner or holder.
    ProjectionBehind,
    /// The wallet's event, barcode or tax number differs from what injection sends.
    ContentDiffers,
}

impl Mismatch {
    pub const ALL: [Mismatch; 7] = [
        Mismatch::AbsentFromWallet,
        Mismatch::DeletedInWallet,
        Mismatch::NotPrintedInTicketing,
        Mismatch::CancelledButLive,
        Mismatch::ControlledNotInWallet,
        Mismatch::ProjectionBehind,
        Mismatch::ContentDiffers,
    ];

    /// What the class means, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Mismatch::AbsentFromWallet => "printed in ticketing but absent from the wallet",
            Mismatch::DeletedInWallet => "printed in ticketing but deleted in the wallet",
            Mismatch::NotPrintedInTicketing => {
                "in the wallet but not printed in ticketing, or unknown to it"
            }
            Mismatch::CancelledButLive => {
                "cancelled or invalidated in ticketing but live in the wallet"
            }
            Mismatch::ControlledNotInWallet => "controlled in ticketing but not in the wallet",
            Mismatch::ProjectionBehind => {
                "mobile projection behind the wallet (status, owner or holder)"
            }
            Mismatch::ContentDiffers => "content differs (event, barcode or tax number)",
        }
    }

    /// The function whose run repairs the class; `None` when only an operator can
    /// (a ticket deleted in the wallet is reprinted, not injected again).
    pub fn repaired_by(self) -> Option<FunctionKind> {
        match self {
            Mismatch::AbsentFromWallet
            | Mismatch::NotPrintedInTicketing
            | Mismatch::ContentDiffers => Some(FunctionKind::Injection),
            Mismatch::DeletedInWallet => None,
            Mismatch::CancelledButLive => Some(FunctionKind::PushCancelled),
            Mismatch::ControlledNotInWallet => Some(FunctionKind::PushControlled),
            Mismatch::ProjectionBehind => Some(FunctionKind::Feedback),
        }
    }
}

/// One class of a reconciliation: how many tickets, and the first of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassReport {
    pub class: Mismatch,
    pub count: u64,
    /// The first ticket ids of the class, in the order compared (at most
    /// [`ReconcileOptions::first`]).
    pub first: Vec<String>,
}

/// What a reconciliation found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reconciliation {
    /// Tickets compared on the ticketing side (cards aside) and on the wallet side.
    pub ticketing_tickets: u64,
    pub wallet_tickets: u64,
    /// Every class, empty ones included, in [`Mismatch::ALL`] order.
    pub classes: Vec<ClassReport>,
    #[serde(skip)]
    pub elapsed: Duration,
}

impl Reconciliation {
    /// True when every class is empty: both sides agree.
    pub fn agrees(&self) -> bool {
        self.classes.iter().all(|c| c.count == 0)
    }

    /// Tickets in at least one class, counted once per class.
    pub fn mismatches(&self) -> u64 {
        self.classes.iter().map(|c| c.count).sum()
    }
}

/// How a reconciliation reads and reports.
#[derive(Clone)]
pub struct ReconcileOptions {
    /// Tickets per wallet page (at most 10,000).
    pub wallet_page: usize,
    /// Tickets per ticketing batch.
    pub ticketing_batch: usize,
    /// Ticket ids kept per class for the report.
    pub first: usize,
    pub client: ClientOptions,
    /// Called after each wallet page with the tickets compared so far.
    pub progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        ReconcileOptions {
            wallet_page: 5_000,
            ticketing_batch: 2_000,
            first: 10,
            client: ClientOptions::default(),
            progress: None,
        }
    }
}

/// The organization's interface and a client for its wallet.
async fn interface_of(
    store: &dyn TicketingStore,
    org: &Organization,
    client: &ClientOptions,
) -> anyhow::Result<(InterfaceConfig, WalletClient)> {
    let Some(iface) = store
        .interfaces()
        .await?
        .into_iter()
        .find(|i| i.organization_id == org.id)
    else {
        anyhow::bail!(
            "organization {} has no interface: there is no wallet to reconcile with",
            org.code
        );
    };
    let c = WalletClient::new(
        &iface.url,
        &iface.login,
        iface.api_key.clone(),
        client.clone(),
    )?;
    Ok((iface, c))
}

/// Compares every ticket of the organization on both sides (see the module).
/// Errors: no interface, the wallet unreachable or without the keyset extension, a
/// wallet page out of order, or the store failing.
pub async fn reconcile(
    store: Arc<dyn TicketingStore>,
    org: &Organization,
    opts: &ReconcileOptions,
) -> anyhow::Result<Reconciliation> {
    let (iface, client) = interface_of(&*store, org, &opts.client).await?;
    let affixes = barcode_affixes(&*store, iface.id).await?;
    let mut tally = Tally::new(opts.first, false);
    compare(store, org, &client, &affixes, opts, &mut tally).await
}

/// [`reconcile`], then the function that repairs each non-empty class, then
/// [`reconcile`] again. Returns both reconciliations and one line per function run.
pub async fn reconcile_and_fix(
    store: Arc<dyn TicketingStore>,
    org: &Organization,
    opts: &ReconcileOptions,
    run: RunOptions,
) -> anyhow::Result<(Reconciliation, Vec<String>, Reconciliation)> {
    let (iface, client) = interface_of(&*store, org, &opts.client).await?;
    let affixes = barcode_affixes(&*store, iface.id).await?;
    let mut tally = Tally::new(opts.first, true);
    let before = compare(store.clone(), org, &client, &affixes, opts, &mut tally).await?;
    let lines = repair(store.clone(), &iface, tally.to_fix, run).await?;
    if lines.is_empty() {
        // Nothing ran: comparing again would find the same.
        return Ok((before.clone(), lines, before));
    }
    // The interface, its client and the barcode affixes are the same as before.
    let mut again = Tally::new(opts.first, false);
    let after = compare(store, org, &client, &affixes, opts, &mut again).await?;
    Ok((before, lines, after))
}

/// Runs, per function, the interface's first schedule of it over the tickets to fix
/// (Feedback reads the feed as it always does); Feedback runs last.
async fn repair(
    store: Arc<dyn TicketingStore>,
    iface: &InterfaceConfig,
    to_fix: std::collections::HashMap<FunctionKind, BTreeSet<i64>>,
    run: RunOptions,
) -> anyhow::Result<Vec<String>> {
    let schedules = store.schedules(iface.id).await?;
    let mut lines = Vec::new();
    let order = [
        FunctionKind::Injection,
        FunctionKind::PushCancelled,
        FunctionKind::PushControlled,
        FunctionKind::Feedback,
    ];
    for function in order {
        let Some(ids) = to_fix.get(&function).filter(|ids| !ids.is_empty()) else {
            continue;
        };
        let Some(s) = schedules.iter().find(|s| s.function == function) else {
            lines.push(format!(
                "{} tickets need {function} but interface {} has no such schedule: create one",
                ids.len(),
                iface.name
            ));
            continue;
        };
        let upload = (function != FunctionKind::Feedback).then(|| TicketRefs {
            ids: ids.clone(),
            tax_numbers: BTreeSet::new(),
        });
        let opts = RunOptions {
            upload,
            ..run.clone()
        };
        let report = run_schedule(store.clone(), &s.name, opts).await?;
        let what = if function == FunctionKind::Feedback {
            format!("the change feed read for {} projections behind", ids.len())
        } else {
            format!("{} tickets as the file to upload", ids.len())
        };
        lines.push(format!(
            "{} (schedule {}, execution {}): {what}; {} succeeded, {} failed: {}",
            function.label(),
            s.name,
            report.execution_id,
            report.counts.succeeded,
            report.counts.failed,
            report.outcome
        ));
    }
    Ok(lines)
}

/// The (prefix, suffix) pairs the interface's injection schedules add to barcodes;
/// `("", "")` when it has none.
async fn barcode_affixes(
    store: &dyn TicketingStore,
    interface_id: i64,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut affixes: Vec<(String, String)> = store
        .schedules(interface_id)
        .await?
        .into_iter()
        .filter(|s| s.function == FunctionKind::Injection)
        .filter_map(|s| serde_json::from_value::<InjectionParams>(s.params).ok())
        .map(|p| (p.barcode_prefix, p.barcode_suffix))
        .collect();
    if affixes.is_empty() {
        affixes.push((String::new(), String::new()));
    }
    affixes.sort();
    affixes.dedup();
    Ok(affixes)
}

/// The classes counted so far, their first ids and (with `fix`) the ids to repair.
struct Tally {
    first: usize,
    fix: bool,
    classes: Vec<ClassReport>,
    to_fix: std::collections::HashMap<FunctionKind, BTreeSet<i64>>,
}

impl Tally {
    fn new(first: usize, fix: bool) -> Tally {
        Tally {
            first,
            fix,
            classes: Mismatch::ALL
                .iter()
                .map(|&class| ClassReport {
                    class,
                    count: 0,
                    first: Vec::new(),
                })
                .collect(),
            to_fix: Default::default(),
        }
    }

    /// Counts a ticket in a class; `known`: ticketing knows it, so a function can
    /// repair it.
    fn add(&mut self, class: Mismatch, ticket_id: &str, known: bool) {
        let c = &mut self.classes[class as usize];
        c.count += 1;
        if c.first.len() < self.first {
            c.first.push(ticket_id.to_owned());
        }
        if self.fix
            && known
            && let Some(function) = class.repaired_by()
            && let Ok(id) = ticket_id.parse::<i64>()
        {
            self.to_fix.entry(function).or_default().insert(id);
        }
    }
}

/// The merge of both sorted streams.
async fn compare(
    store: Arc<dyn TicketingStore>,
    org: &Organization,
    client: &WalletClient,
    affixes: &[(String, String)],
    opts: &ReconcileOptions,
    tally: &mut Tally,
) -> anyhow::Result<Reconciliation> {
    let started = Instant::now();
    let (tx, rx) = mpsc::channel::<Vec<ReconcileTicket>>(4);
    let org_id = org.id;
    let batch = opts.ticketing_batch;
    let reader = tokio::spawn(async move { store.reconcile_tickets(org_id, batch, tx).await });
    let mut ours = Side::new(rx, reader);
    let mut wallet_tickets = 0u64;
    let mut last: Option<String> = None;
    let mut next = Some(read_page(client, "", opts.wallet_page));
    while let Some(reading) = next.take() {
        let page = reading.await??;
        let done = page.tickets.is_empty();
        let next_key = page.next_page_key.clone().unwrap_or_default();
        if !done {
            next = Some(read_page(client, &next_key, opts.wallet_page));
        }
        for w in page.tickets {
            if last
                .as_ref()
                .is_some_and(|l| w.ticket_id.as_bytes() <= l.as_bytes())
            {
                anyhow::bail!(
                    "the wallet's pages are not in ticket-id order ({:?} after {:?}): the \
                     reconciliation cannot merge them",
                    w.ticket_id,
                    last
                );
            }
            wallet_tickets += 1;
            // Ticketing's tickets sorting before this wallet ticket are absent from it.
            let id = w.ticket_id.as_bytes();
            while let Some(t) = ours.take_if(|k| k.as_bytes() < id).await? {
                judge(tally, affixes, Some(&t), None);
            }
            let t = ours.take_if(|k| k.as_bytes() == id).await?;
            judge(tally, affixes, t.as_ref(), Some(&w));
            last = Some(w.ticket_id);
        }
        if let Some(p) = &opts.progress {
            p(wallet_tickets);
        }
    }
    while let Some(t) = ours.take_if(|_| true).await? {
        judge(tally, affixes, Some(&t), None);
    }
    let ticketing_tickets = ours.read;
    Ok(Reconciliation {
        ticketing_tickets,
        wallet_tickets,
        classes: std::mem::take(&mut tally.classes),
        elapsed: started.elapsed(),
    })
}

fn read_page(
    client: &WalletClient,
    key: &str,
    limit: usize,
) -> tokio::task::JoinHandle<Result<tixbridge_core::api::TicketList, tixbridge_client::ClientError>>
{
    let (client, key) = (client.clone(), key.to_owned());
    tokio::spawn(async move { client.tickets_after(&key, limit).await })
}

/// Ticketing's side of the merge: the batches from the store, one ticket at a time,
/// with its id written out as the wallet writes it.
struct Side {
    rx: mpsc::Receiver<Vec<ReconcileTicket>>,
    /// The store's reading; awaited as soon as the channel closes, so that a failed
    /// read stops the reconciliation at once rather than after the whole wallet.
    reader: Option<tokio::task::JoinHandle<tixbridge_store::Result<u64>>>,
    /// Tickets the store read, once it is done.
    read: u64,
    batch: std::vec::IntoIter<ReconcileTicket>,
    head: Option<(String, ReconcileTicket)>,
}

impl Side {
    fn new(
        rx: mpsc::Receiver<Vec<ReconcileTicket>>,
        reader: tokio::task::JoinHandle<tixbridge_store::Result<u64>>,
    ) -> Side {
        Side {
            rx,
            reader: Some(reader),
            read: 0,
            batch: Vec::new().into_iter(),
            head: None,
        }
    }

    /// The next ticket, if its id (as text) satisfies `wanted`; left in place otherwise.
    /// Errors: the store's reading failed.
    async fn take_if(
        &mut self,
        wanted: impl Fn(&str) -> bool,
    ) -> anyhow::Result<Option<ReconcileTicket>> {
        while self.head.is_none() {
            if let Some(t) = self.batch.next() {
                self.head = Some((t.id.to_string(), t));
            } else if let Some(b) = self.rx.recv().await {
                self.batch = b.into_iter();
            } else {
                if let Some(reader) = self.reader.take() {
                    self.read = reader.await??;
                }
                return Ok(None);
            }
        }
        Ok(match &self.head {
            Some((k, _)) if wanted(k) => self.head.take().map(|(_, t)| t),
            _ => None,
        })
    }
}

/// Classifies one ticket seen on one side or both.
fn judge(
    tally: &mut Tally,
    affixes: &[(String, String)],
    t: Option<&ReconcileTicket>,
    w: Option<&TicketState>,
) {
    for class in classes_of(affixes, t, w) {
        let id = match (t, w) {
            (Some(t), _) => t.id.to_string(),
            (None, Some(w)) => w.ticket_id.clone(),
            (None, None) => return,
        };
        tally.add(class, &id, t.is_some());
    }
}

/// The classes one ticket falls in (issue 9). Pure: the rules of the reconciliation.
pub fn classes_of(
    affixes: &[(String, String)],
    t: Option<&ReconcileTicket>,
    w: Option<&TicketState>,
) -> Vec<Mismatch> {
    use TicketingStatus as T;
    let mut out = Vec::new();
    let Some(t) = t else {
        if w.is_some() {
            out.push(Mismatch::NotPrintedInTicketing);
        }
        return out;
    };
    let Some(w) = w else {
        if t.wallet_shipment && matches!(t.status, T::Printed | T::Controlled) {
            out.push(Mismatch::AbsentFromWallet);
        }
        return out;
    };
    let status = w.status.parse::<WalletStatus>().ok();
    let live = status.is_some_and(|s| s.is_live());
    let deleted = status.is_some_and(|s| s.is_deleted());
    match t.status {
        T::NotPrinted => out.push(Mismatch::NotPrintedInTicketing),
        T::Printed | T::Controlled if deleted => out.push(Mismatch::DeletedInWallet),
        T::Cancelled | T::Invalidated if live => out.push(Mismatch::CancelledButLive),
        T::Controlled if status != Some(WalletStatus::Controlled) => {
            out.push(Mismatch::ControlledNotInWallet)
        }
        _ => {}
    }
    if projection_behind(t, w) {
        out.push(Mismatch::ProjectionBehind);
    }
    if content_differs(affixes, t, w) {
        out.push(Mismatch::ContentDiffers);
    }
    out
}

fn projection_behind(t: &ReconcileTicket, w: &TicketState) -> bool {
    let Some(p) = &t.projection else {
        return true;
    };
    p.wallet_status != w.status
        || !same_person(p.owner.as_ref(), w.owner.as_ref())
        || !same_person(p.holder.as_ref(), w.holder.as_ref())
}

/// The same person: emails equal without regard to case or surrounding spaces
/// (DOMAIN.md §6), names equal once trimmed.
fn same_person(a: Option<&Person>, b: Option<&Person>) -> bool {
    let key = |p: Option<&Person>| {
        p.map(|p| {
            let t = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_owned();
            (
                p.email.as_deref().map(email_key).unwrap_or_default(),
                t(&p.first_name),
                t(&p.last_name),
            )
        })
        .filter(|k| k != &Default::default())
    };
    key(a) == key(b)
}

fn content_differs(affixes: &[(String, String)], t: &ReconcileTicket, w: &TicketState) -> bool {
    let barcode_ok = w.barcode.as_deref().is_none_or(|b| {
        affixes
            .iter()
            .any(|(pre, suf)| b == format!("{pre}{}{suf}", t.barcode))
    });
    w.event_id != t.event_id
        || w.taxation_number.as_deref() != Some(t.tax_number.as_str())
        || !barcode_ok
}
