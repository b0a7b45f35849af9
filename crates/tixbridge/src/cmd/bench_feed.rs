//! `tixbridge bench feed`: how fast a client reads the whole change feed
//! (`GET /organizer/tickets/diff`) over HTTP.
//!
//! A fresh organizer is filled with N tickets straight through the wallet store
//! (50-ticket calls, several in flight; not timed), then the wallet service runs in
//! its own process (`tixbridge wallet serve`, as the interface would meet it) and this
//! process pages the feed from an empty key with the largest page, parsing every page
//! into [`DiffPage`]. Only the paging is timed. Every ticket must be seen exactly once
//! and the final empty page must keep the key. Memory stays flat: states are counted,
//! never kept; the seen-set is a bitset over ticket numbers (N bits).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

use tixbridge_client::app::peek_next_page_key;
use tixbridge_client::{ClientOptions, WalletClient};
use tixbridge_core::api::{self, DiffPage, MAX_DIFF_LIMIT, MAX_TICKETS_PER_CALL};
use tixbridge_store::Actor;

use super::bench::{WalletProcess, cpu_secs, peak_rss_kb};
use crate::progress::Meter;

#[derive(clap::Args, Debug)]
pub struct FeedArgs {
    /// Tickets in the feed.
    #[arg(long, default_value_t = 100_000)]
    tickets: u64,
    /// Wallet database (default: SQLite in a new temporary directory). A PostgreSQL
    /// URL (postgres://user@host/db?schema=NAME) measures PostgreSQL; a new organizer
    /// is created in it, so other organizers' rows may stay.
    #[arg(long)]
    db: Option<String>,
    /// Feed page size (limit), at most 10,000.
    #[arg(long, default_value_t = MAX_DIFF_LIMIT)]
    page: usize,
    /// Store calls in flight while filling.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Parse each page before asking for the next. By default the next page is asked
    /// for as soon as its key is read from the end of the current body, so that the
    /// service builds it while this process parses the current one.
    #[arg(long)]
    sequential: bool,
    /// Before reading the feed, spectators use their app (`wallet simulate`, seed 1)
    /// on this many tickets, so their histories hold downloads, transfers and
    /// activations as well as the injection.
    #[arg(long, default_value_t = 0)]
    activity: u64,
}

/// Ticket ids are `FEED-` and their number, zero-padded.
const ID_PREFIX: &str = "FEED-";

fn ticket_id(n: u64) -> String {
    format!("{ID_PREFIX}{n:010}")
}

/// The number of a ticket id made by [`ticket_id`].
fn ticket_number(id: &str) -> Option<u64> {
    id.strip_prefix(ID_PREFIX)?.parse().ok()
}

/// A valid ticket shape; [`make_ticket`] varies what must differ per ticket.
fn template() -> anyhow::Result<api::Ticket> {
    let t: api::Ticket = serde_json::from_value(serde_json::json!({
        "ticketId": ticket_id(0),
        "event": {
            "id": "EV00",
            "name": {"en": "Final", "fr": "Finale"},
            "startTime": "2030-07-12T21:00:00+02:00",
            "expirationDate": "2030-07-13T21:00:00+02:00",
            "address": {"site": "Stade", "city": "Paris", "zip": "75000", "countryCode": "FR"}
        },
        "purchaseDetails": {"taxationNumber": "TAX0", "fileId": "F1", "price": 120.0,
                            "currency": "EUR", "category": "CAT1"},
        "security": {"barcode": "BC0"},
        "spectatorDetails": {"email": "fan0@example.org", "firstName": "Ada",
                             "lastName": "Lovelace"},
        "ticketDetails": {"main": [{"key": "Gate", "value": "A"}, {"key": "Seat", "value": "12"}]}
    }))?;
    api::validate_ticket(&t)
        .map_err(|e| anyhow::anyhow!("the bench ticket is invalid: {}", e.message))?;
    Ok(t)
}

fn make_ticket(t: &api::Ticket, n: u64) -> api::Ticket {
    let mut t = t.clone();
    t.ticket_id = Some(ticket_id(n));
    if let Some(e) = t.event.as_mut() {
        e.id = Some(format!("EV{:02}", n % 16));
    }
    if let Some(p) = t.purchase_details.as_mut() {
        p.taxation_number = Some(format!("TAX{n:010}"));
        p.file_id = Some(format!("F{:09}", n / 3));
    }
    if let Some(s) = t.security.as_mut() {
        s.barcode = Some(format!(
            "BC{:016}",
            n.wrapping_mul(7_919) % 10_000_000_000_000_000
        ));
    }
    if let Some(s) = t.spectator_details.as_mut() {
        s.email = Some(format!("fan{}@example.org", n / 3));
    }
    t
}

/// Which ticket numbers were seen: one bit each.
struct Seen {
    bits: Vec<u64>,
    n: u64,
}

impl Seen {
    fn new(n: u64) -> Seen {
        Seen {
            bits: vec![0; n.div_ceil(64) as usize],
            n,
        }
    }

    /// Marks `k`; false when it was seen already or is out of range.
    fn insert(&mut self, k: u64) -> bool {
        if k >= self.n {
            return false;
        }
        let (w, b) = ((k / 64) as usize, 1u64 << (k % 64));
        let fresh = self.bits[w] & b == 0;
        self.bits[w] |= b;
        fresh
    }

    fn count(&self) -> u64 {
        self.bits.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

pub async fn exec(a: FeedArgs) -> anyhow::Result<ExitCode> {
    let n = a.tickets;
    anyhow::ensure!(n > 0, "--tickets must be at least 1");
    anyhow::ensure!(
        (1..=MAX_DIFF_LIMIT).contains(&a.page),
        "--page must be between 1 and {MAX_DIFF_LIMIT}"
    );
    let _tmp;
    let db_url = match a.db {
        Some(u) => u,
        None => {
            let t = tempfile::Builder::new()
                .prefix("tixbridge-bench-feed-")
                .tempdir()?;
            let url = format!("sqlite:{}", t.path().join("wallet.db").display());
            _tmp = t;
            url
        }
    };
    println!(
        "bench feed: {n} tickets, pages of {}, wallet store {}",
        a.page,
        super::redact_url(&db_url)
    );

    // Fill (not timed as the feed; reported for scale).
    let (organizer_id, key) = {
        let store = tixbridge_store::open_wallet(&db_url).await?;
        let (org, key) = tixbridge_wallet::create_organizer(&*store, "bench-feed").await?;
        let t = Instant::now();
        fill(store, org.id, n, a.in_flight.max(1)).await?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "  filled: {n} tickets in {secs:.1} s ({:.0} tickets/s, store only)",
            n as f64 / secs
        );
        (org.id, key)
    };

    let client_key = SecretString::from(key);
    let mut wallet = WalletProcess::spawn(&db_url, &["--sandbox"])?;
    let client = WalletClient::new(
        &format!("http://{}/organizer/tickets", wallet.addr),
        "bench",
        client_key.clone(),
        ClientOptions {
            timeout: Duration::from_secs(300),
            ..Default::default()
        },
    )?;
    if a.activity > 0 {
        let dir = tempfile::Builder::new()
            .prefix("tixbridge-bench-feed-key-")
            .tempdir()?;
        let key_file = dir.path().join("key");
        std::fs::write(&key_file, client_key.expose_secret())?;
        println!("  spectator activity on {} tickets:", a.activity.min(n));
        super::simulate::exec(
            super::simulate::SimulateArgs::for_demo(
                &format!("http://{}", wallet.addr),
                key_file,
                organizer_id,
                1,
            )
            .limited_to(a.activity),
        )
        .await
        .context("simulating spectator activity")?;
    }
    // One tiny call first so that a connection is open and the key cached: the timed
    // part is the feed, not the service's start.
    client
        .diff("", 1)
        .await
        .context("the first call to the change feed")?;

    let meter = Meter::new("feed", Some(n));
    let cpu_before = cpu_secs(None);
    let wallet_cpu_before = cpu_secs(Some(wallet.child.id()));
    let mut seen = Seen::new(n);
    let mut key = String::new();
    let (mut pages, mut states, mut entries) = (0u64, 0u64, 0u64);
    let limit = a.page;
    let fetch = |key: String| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .diff_raw(&key, limit)
                .await
                .with_context(|| format!("reading the feed after key {key:?}"))
        })
    };
    // Where the time goes: waiting for bodies, and parsing and checking them.
    let (mut waiting, mut parsing) = (Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    let mut next = fetch(String::new());
    loop {
        let t = Instant::now();
        let body = next.await??;
        waiting += t.elapsed();
        let t = Instant::now();
        pages += 1;
        // Pipelined: the next page is on its way while this one is parsed.
        let peeked = (!a.sequential)
            .then(|| peek_next_page_key(&body))
            .flatten()
            .filter(|k| *k != key);
        let prefetched = peeked.clone().map(&fetch);
        let page: DiffPage = serde_json::from_slice(&body)
            .with_context(|| format!("the feed page after key {key:?} is not understood"))?;
        drop(body);
        if let Some(p) = &peeked {
            anyhow::ensure!(
                *p == page.next_page_key,
                "the key read from the end of the page ({p:?}) is not its nextPageKey ({:?})",
                page.next_page_key
            );
        }
        if page.tickets.is_empty() {
            anyhow::ensure!(
                page.next_page_key == key,
                "an empty page moved the key from {key:?} to {:?}",
                page.next_page_key
            );
            break;
        }
        anyhow::ensure!(
            page.next_page_key != key,
            "a page of {} states kept the key {key:?}",
            page.tickets.len()
        );
        for t in &page.tickets {
            let k = ticket_number(&t.ticket_id)
                .with_context(|| format!("the feed holds an unknown ticket {:?}", t.ticket_id))?;
            anyhow::ensure!(
                seen.insert(k),
                "ticket {} appears twice in the feed (or is not one of the {n})",
                t.ticket_id
            );
            entries += t.history.len() as u64;
        }
        states += page.tickets.len() as u64;
        key = page.next_page_key;
        meter.set(states);
        parsing += t.elapsed();
        tracing::debug!(
            page = pages,
            states,
            waited_ms = waiting.as_millis() as u64,
            parsed_ms = parsing.as_millis() as u64,
            "feed page"
        );
        next = match prefetched {
            Some(p) => p,
            None => fetch(key.clone()),
        };
    }
    let secs = started.elapsed().as_secs_f64();
    meter.finish();
    let own_cpu = cpu_secs(None) - cpu_before;
    let wallet_cpu = cpu_secs(Some(wallet.child.id())) - wallet_cpu_before;
    let wallet_peak = peak_rss_kb(Some(wallet.child.id()));
    let wallet_now = rss_split_kb(Some(wallet.child.id()));
    wallet.stop();
    anyhow::ensure!(
        states == n && seen.count() == n,
        "the feed gave {states} states for {n} tickets ({} distinct)",
        seen.count()
    );
    let rate = states as f64 / secs;
    println!(
        "  feed: {pages} pages (the last one empty, {}), {states} states with {entries} log entries in {secs:.2} s = {rate:.0} states/s",
        if a.sequential {
            "sequential"
        } else {
            "pipelined"
        }
    );
    println!(
        "  this process waited {:.2} s for pages and spent {:.2} s parsing and checking them",
        waiting.as_secs_f64(),
        parsing.as_secs_f64()
    );
    println!(
        "  CPU while paging: bench process {own_cpu:.1} s, wallet process {wallet_cpu:.1} s ({:.1} µs per state in all)",
        (own_cpu + wallet_cpu) * 1e6 / states as f64
    );
    let own_peak = peak_rss_kb(None);
    println!(
        "  peak RSS: bench process {} MB (filling included), wallet process {} MB; organizer {organizer_id}",
        own_peak / 1024,
        wallet_peak / 1024
    );
    if let Some((anon, file)) = wallet_now {
        // File-backed pages are the database's, mapped by SQLite (mmap): page cache the
        // kernel may drop, not the service's own memory.
        println!(
            "  wallet process at the end: {} MB anonymous (heap), {} MB file-backed (mapped database)",
            anon / 1024,
            file / 1024
        );
    }
    println!(
        "feed states_per_s={:.0} peak_rss_mb={}",
        rate,
        own_peak.max(wallet_peak) / 1024
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes tickets `0..n` into the store in 50-ticket calls, `in_flight` at a time.
async fn fill(
    store: Arc<dyn tixbridge_store::WalletStore>,
    organizer_id: i64,
    n: u64,
    in_flight: usize,
) -> anyhow::Result<()> {
    let template = template()?;
    let meter = Meter::new("filled", Some(n));
    let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut calls = tokio::task::JoinSet::new();
    let mut written = 0u64;
    type Done = Result<tixbridge_store::Result<Vec<api::ItemResult>>, tokio::task::JoinError>;
    let mut check = |done: Done| {
        let results = done??;
        if let Some(ko) = results.iter().find(|r| !r.is_ok()) {
            anyhow::bail!(
                "the wallet store refused ticket {}: {:?}",
                ko.ticket_id,
                ko.message
            );
        }
        written += results.len() as u64;
        meter.set(written);
        Ok(())
    };
    let mut next = 0u64;
    while next < n {
        let end = (next + MAX_TICKETS_PER_CALL as u64).min(n);
        let call: Vec<api::Ticket> = (next..end).map(|k| make_ticket(&template, k)).collect();
        next = end;
        let permit = sem.clone().acquire_owned().await?;
        let store = store.clone();
        calls.spawn(async move {
            let r = store
                .inject(organizer_id, call, Actor::OrganizerApi, Utc::now())
                .await;
            drop(permit);
            r
        });
        while let Some(done) = calls.try_join_next() {
            check(done)?;
        }
    }
    while let Some(done) = calls.join_next().await {
        check(done)?;
    }
    meter.finish();
    anyhow::ensure!(written == n, "{written} of {n} tickets written");
    Ok(())
}

/// Resident set now, split into anonymous and file-backed KiB; `None` without /proc.
fn rss_split_kb(pid: Option<u32>) -> Option<(u64, u64)> {
    let path = pid.map_or_else(
        || "/proc/self/status".to_owned(),
        |p| format!("/proc/{p}/status"),
    );
    let status = std::fs::read_to_string(path).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("RssAnon:")?, field("RssFile:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_tickets_are_valid_and_numbered() {
        let t = template().unwrap();
        for k in [0, 1, 49, 999_999, 12_345_678] {
            let tk = make_ticket(&t, k);
            api::validate_ticket(&tk).unwrap();
            assert_eq!(ticket_number(tk.ticket_id.as_deref().unwrap()), Some(k));
        }
        assert_eq!(ticket_number("OTHER-1"), None);
    }

    #[test]
    fn the_seen_set_counts_each_once() {
        let mut s = Seen::new(130);
        assert!(s.insert(0) && s.insert(64) && s.insert(129));
        assert!(!s.insert(64), "a second sighting");
        assert!(!s.insert(130), "out of range");
        assert_eq!(s.count(), 3);
    }
}
