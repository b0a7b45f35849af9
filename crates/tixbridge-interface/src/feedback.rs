//! Feedback ("Retrieve ticket status", DOMAIN.md §5.2): the wallet's change feed
//! brought back into ticketing.
//!
//! An execution reads `GET …/diff` from the interface's stored pagination key, in
//! pages of `retrieveIterationSize`, up to the schedule's batch size of changed
//! tickets. Each page is applied in one transaction with the key that follows it
//! (`TicketingStore::apply_feedback_page`): the mobile projection of each ticket
//! becomes the wallet's state, its new status-log entries are appended (never twice:
//! by their seq), and no ticketing status changes. A crash between two pages loses
//! nothing and applies nothing twice; a second execution that applied the same page
//! meanwhile makes the store refuse this one, and this execution stops.
//!
//! A ticket of the feed that ticketing does not know is an error naming it, skipped
//! (`doContinueInCaseOfSyncError=true`, the default) or blocking: the page is not
//! applied, the key does not move, and the execution ends in `ERROR` until an operator
//! acts. The skip list (by ticket id or tax number) leaves tickets out of the page.

use chrono::Utc;

use tixbridge_client::{ClientError, WalletClient};
use tixbridge_core::api::{DiffPage, TicketState};
use tixbridge_core::model::{FeedbackParams, TicketError};
use tixbridge_store::{AppliedPage, FeedbackPage};

use crate::execution::counts::Count;
use crate::execution::{ExecutionContext, Progress, StepOutcome};

/// Runs one Feedback execution's work (see [`crate::injection::run`]).
pub(crate) async fn run(
    ctx: &mut ExecutionContext,
    params: FeedbackParams,
    client: WalletClient,
) -> anyhow::Result<StepOutcome> {
    let store = ctx.store.clone();
    let interface_id = ctx.interface.id;
    let mut key = store.feedback_key(interface_id).await?.unwrap_or_default();
    if let Some(page) = ctx.opts.feed_upload.clone() {
        return apply_upload(ctx, &params, key, page).await;
    }
    let batch = ctx.schedule.batch_size.max(0) as u64;
    let page_size = ctx.custom.retrieve_iteration_size as u64;
    let mut taken = 0u64;
    let mut distributed = 0u64;
    let mut end = StepOutcome::default();
    // The wallet's latest change, as its last page said (tixbridge's extension).
    let mut head: Option<String> = None;
    // The next page is read while this one is applied: its key is known before.
    let mut next = (batch > 0).then(|| read(&client, &key, page_size.min(batch)));
    while let Some(reading) = next.take() {
        if ctx.stop.is_stopped() {
            break;
        }
        let page = match reading.await? {
            Ok(p) => p,
            Err(e) => {
                end.fatal = true;
                end.messages.push(format!(
                    "the change feed could not be read after key {key:?} ({e}); the key \
                     stays there and the next execution reads from it"
                ));
                break;
            }
        };
        head = page.head_key.clone().or(head);
        if page.is_empty() {
            break;
        }
        if let Some(why) = key_goes_back(&key, &page.next_page_key) {
            end.fatal = true;
            end.messages.push(format!(
                "the page read after key {key:?} is refused: {why}; nothing of it was \
                 applied and the key stays there"
            ));
            break;
        }
        taken += (page.tickets.len() + page.privileges.len()) as u64;
        if taken < batch {
            let limit = page_size.min(batch - taken);
            next = Some(read(&client, &page.next_page_key, limit));
        }
        let next_key = page.next_page_key.clone();
        let applied = apply(ctx, &params, &key, &next_key, page).await?;
        distributed += applied.distribution_changes;
        if applied.blocked {
            end.fatal = true;
            end.messages.push(format!(
                "stopped at key {key:?}: the feed names tickets ticketing does not know and \
                 doContinueInCaseOfSyncError is false; nothing of that page was applied"
            ));
            break;
        }
        key = next_key;
        if let Some(p) = &ctx.opts.progress {
            let c = ctx.counts.snapshot();
            p(Progress {
                succeeded: c.succeeded,
                failed: c.failed,
            });
        }
    }
    if distributed > 0 {
        end.messages.push(format!(
            "{distributed} cultural-contact distribution rows opened or closed"
        ));
    }
    if !end.fatal {
        end.messages.push(lag(&client, &key, head.as_deref()).await);
    }
    Ok(end)
}

/// How far ticketing is behind the wallet after the execution (issue 9): the changes
/// left after `key` up to the wallet's `head`, and when the oldest of them was made.
async fn lag(client: &WalletClient, key: &str, head: Option<&str>) -> String {
    let left = match (
        key.parse::<i64>().ok(),
        head.and_then(|h| h.parse::<i64>().ok()),
    ) {
        (Some(k), Some(h)) => Some((h - k).max(0)),
        (None, Some(h)) if key.is_empty() => Some(h),
        _ => None,
    };
    if left == Some(0) {
        return format!("ticketing is up to date with the wallet (key {key:?})");
    }
    // The oldest unapplied change: the first log entry after the key.
    let oldest = match client.diff(key, 1).await {
        Ok(p) => p
            .tickets
            .first()
            .and_then(|t| t.history.first())
            .map(|e| e.at.clone()),
        Err(_) => None,
    };
    let left = left.map_or("changes".to_owned(), |n| format!("{n} status-log changes"));
    match oldest {
        None => format!("the change feed is read up to key {key:?}"),
        Some(at) => {
            let age = tixbridge_core::api::parse_time(&at)
                .map(|t| (Utc::now() - t.with_timezone(&Utc)).num_seconds().max(0))
                .map(|s| format!(", {s} s ago"))
                .unwrap_or_default();
            format!(
                "ticketing is behind the wallet: {left} after key {key:?}, the oldest from {at}{age}"
            )
        }
    }
}

/// Why a page's `nextPageKey` cannot follow `key`: it does not move on (the feed would
/// be read again forever), or, both being numbers as tixbridge's wallet writes them,
/// it goes backwards (applying the page would move the stored key back over pages
/// already applied). `None` when it may follow.
fn key_goes_back(key: &str, next: &str) -> Option<String> {
    if next == key {
        return Some(format!("its nextPageKey {next:?} does not move on"));
    }
    match (key.parse::<i64>(), next.parse::<i64>()) {
        (Ok(k), Ok(n)) if n < k => Some(format!("its nextPageKey {next:?} goes backwards")),
        _ => None,
    }
}

/// Applies a page of the feed from a file as if the wallet had sent it: the stored key
/// stays where it is.
async fn apply_upload(
    ctx: &mut ExecutionContext,
    params: &FeedbackParams,
    key: String,
    page: DiffPage,
) -> anyhow::Result<StepOutcome> {
    let applied = apply(ctx, params, &key, &key, page).await?;
    Ok(StepOutcome {
        fatal: applied.blocked,
        messages: vec![format!(
            "a page from a file: {} tickets applied; the stored key did not move",
            applied.applied
        )],
        ..StepOutcome::default()
    })
}

/// Applies one page after `key`, followed by `next_key`: its tickets and privileges
/// counted as selected, the skip list's left out (skipped), the rest applied by the
/// store in one transaction (succeeded), and each ticket ticketing does not know
/// reported (failed).
async fn apply(
    ctx: &mut ExecutionContext,
    params: &FeedbackParams,
    key: &str,
    next_key: &str,
    page: DiffPage,
) -> anyhow::Result<AppliedPage> {
    ctx.counts.add(
        Count::Selected,
        (page.tickets.len() + page.privileges.len()) as u64,
    );
    let (states, skipped): (Vec<TicketState>, Vec<TicketState>) =
        states_of(page.tickets, &page.privileges).partition(|s| !skipped_by(params, s));
    ctx.counts.add(Count::Skipped, skipped.len() as u64);
    let applied = ctx
        .store
        .apply_feedback_page(page_to_apply(ctx, key, next_key, states))
        .await?;
    ctx.counts.add(Count::Succeeded, applied.applied);
    ctx.counts.add(Count::Failed, applied.unknown.len() as u64);
    report_unknown(ctx, &applied).await?;
    Ok(applied)
}

/// A page of feed states to apply after `key`, followed by `next_key`, as the
/// interface's custom parameters say.
fn page_to_apply(
    ctx: &ExecutionContext,
    key: &str,
    next_key: &str,
    states: Vec<TicketState>,
) -> FeedbackPage {
    FeedbackPage {
        organization_id: ctx.interface.organization_id,
        interface_id: ctx.interface.id,
        after_key: key.to_owned(),
        next_key: next_key.to_owned(),
        states,
        block_on_unknown: !ctx.custom.do_continue_in_case_of_sync_error,
        distribute: ctx.custom.enable_ticket_distribution_to_cultural_contact,
        at: Utc::now(),
    }
}

/// Reads the page after `key` in a task of its own.
fn read(
    client: &WalletClient,
    key: &str,
    limit: u64,
) -> tokio::task::JoinHandle<Result<DiffPage, ClientError>> {
    let (client, key) = (client.clone(), key.to_owned());
    tokio::spawn(async move { client.diff_whole_history(&key, limit as usize).await })
}

/// One error per ticket of the page that ticketing does not know.
async fn report_unknown(ctx: &mut ExecutionContext, applied: &AppliedPage) -> anyhow::Result<()> {
    for id in &applied.unknown {
        ctx.errors
            .push(TicketError {
                ticket_id: id.parse().ok(),
                tax_number: None,
                code: "UNKNOWN_TICKET".into(),
                message: format!(
                    "ticket {id} is in the wallet's change feed but not in ticketing{}",
                    if applied.blocked {
                        ": the page is not applied (doContinueInCaseOfSyncError=false)"
                    } else {
                        "; skipped"
                    }
                ),
            })
            .await?;
    }
    Ok(())
}

/// A page's tickets, then its privileges as the cards ticketing holds them
/// (`PrivilegeState::to_ticket_state`): Feedback applies both alike.
fn states_of(
    tickets: Vec<TicketState>,
    privileges: &[tixbridge_core::api::PrivilegeState],
) -> impl Iterator<Item = TicketState> + '_ {
    tickets
        .into_iter()
        .chain(privileges.iter().map(|p| p.to_ticket_state()))
}

/// Whether the skip list names the feed ticket (by ticket id or tax number).
fn skipped_by(params: &FeedbackParams, s: &TicketState) -> bool {
    let id = s.ticket_id.parse().unwrap_or(0);
    let tax = s.taxation_number.as_deref().unwrap_or_default();
    params.skip.contains(id, tax)
}
