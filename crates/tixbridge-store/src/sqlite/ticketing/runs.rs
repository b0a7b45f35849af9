//! SQLite: executions with leases, and the changes of interfaces and schedules.
//!
//! Starting an execution is one immediate (writer-locked) transaction: SQLite
//! serialises write transactions across processes, and the partial unique index
//! `executions_one_running` refuses a second running execution of a schedule even if
//! a check were skipped.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use secrecy::ExposeSecret;

use tixbridge_core::model::{Counts, TicketError};

use super::{
    Cur, EXECUTION_COLUMNS, INTERFACE_COLUMNS, SCHEDULE_COLUMNS, count, is_unique_violation,
    launch_mode_str, opt_ts, read_execution, read_interface, read_schedule, to_json, ts,
};
use crate::ticketing::{lease_lost, running_conflict};
use crate::{
    Execution, ExecutionStart, InterfaceConfig, InterfaceUpdate, NewSchedule, Result, Schedule,
    StoreError, StoredTicketError,
};

/// The schedule's name, or `NotFound`.
fn schedule_name(tx: &Transaction<'_>, schedule_id: i64) -> Result<String> {
    tx.query_row(
        "SELECT name FROM schedules WHERE id = ?1",
        [schedule_id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("schedule {schedule_id} does not exist")))
}

/// Records the schedule's executions whose lease lapsed before `at` as interrupted,
/// with the counts their markers and errors show.
fn recover_lapsed(tx: &Transaction<'_>, schedule_id: i64, at: DateTime<Utc>) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE executions SET
             ended_at = lease_expires_at,
             outcome = 'ERROR',
             succeeded = (SELECT COUNT(*) FROM processed_markers m
                          WHERE m.execution_id = executions.id),
             failed = MAX(failed, (SELECT COUNT(*) FROM execution_errors e
                          WHERE e.execution_id = executions.id AND e.ticket_id IS NOT NULL)),
             message = 'interrupted: the process running it (' || lease_owner ||
                 ') stopped without ending it and its lease lapsed; succeeded counts the ' ||
                 'tickets it marked, failed its ticket errors',
             lease_owner = NULL,
             lease_expires_at = NULL
         WHERE schedule_id = ?1 AND ended_at IS NULL AND lease_expires_at < ?2",
        params![schedule_id, ts(at)],
    )?)
}

/// The schedule's running execution, if any.
fn running(tx: &Transaction<'_>, schedule_id: i64) -> Result<Option<Execution>> {
    Ok(tx
        .query_row(
            &format!(
                "SELECT {EXECUTION_COLUMNS} FROM executions
                 WHERE schedule_id = ?1 AND ended_at IS NULL"
            ),
            [schedule_id],
            read_execution,
        )
        .optional()?)
}

pub(super) fn start_execution(tx: &Transaction<'_>, s: &ExecutionStart) -> Result<Execution> {
    let name = schedule_name(tx, s.schedule_id)?;
    recover_lapsed(tx, s.schedule_id, s.at)?;
    if let Some(e) = running(tx, s.schedule_id)? {
        return Err(running_conflict(&name, &e));
    }
    let r = tx.execute(
        "INSERT INTO executions (schedule_id, started_at, lease_owner, lease_expires_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![s.schedule_id, ts(s.at), s.owner, ts(s.at + s.lease)],
    );
    match r {
        Err(e) if is_unique_violation(&e) => {
            return Err(StoreError::Conflict(format!(
                "schedule {name}: another execution is running; two executions of a \
                 schedule never overlap"
            )));
        }
        r => r?,
    };
    let id = tx.last_insert_rowid();
    Ok(tx.query_row(
        &format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = ?1"),
        [id],
        read_execution,
    )?)
}

pub(super) fn renew_lease(
    tx: &Transaction<'_>,
    execution_id: i64,
    owner: &str,
    until: DateTime<Utc>,
    c: Counts,
) -> Result<()> {
    let n = tx
        .prepare_cached(
            "UPDATE executions SET lease_expires_at = ?3, selected = ?4, sent = ?5,
                 succeeded = ?6, failed = ?7, skipped = ?8, unsent = ?9
             WHERE id = ?1 AND lease_owner = ?2 AND ended_at IS NULL",
        )?
        .execute(params![
            execution_id,
            owner,
            ts(until),
            count(c.selected),
            count(c.sent),
            count(c.succeeded),
            count(c.failed),
            count(c.skipped),
            count(c.unsent)
        ])?;
    if n == 0 {
        return Err(lease_lost(execution_id));
    }
    Ok(())
}

pub(super) fn finish_execution(
    tx: &Transaction<'_>,
    execution_id: i64,
    at: DateTime<Utc>,
    outcome: &str,
    c: Counts,
    message: Option<String>,
) -> Result<()> {
    let n = tx.execute(
        "UPDATE executions SET ended_at = ?2, outcome = ?3, selected = ?4, sent = ?5,
             succeeded = ?6, failed = ?7, skipped = ?8, unsent = ?9, message = ?10,
             lease_owner = NULL, lease_expires_at = NULL
         WHERE id = ?1",
        params![
            execution_id,
            ts(at),
            outcome,
            count(c.selected),
            count(c.sent),
            count(c.succeeded),
            count(c.failed),
            count(c.skipped),
            count(c.unsent),
            message
        ],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "execution {execution_id} does not exist"
        )));
    }
    Ok(())
}

pub(super) fn errors_page(
    c: &rusqlite::Connection,
    execution_id: i64,
    after: i64,
    limit: usize,
) -> Result<Vec<StoredTicketError>> {
    let mut st = c.prepare_cached(
        "SELECT id, ticket_id, tax_number, code, message FROM execution_errors
         WHERE execution_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = st.query_map(params![execution_id, after, limit], |r| {
        let mut c = Cur::new(r);
        Ok(StoredTicketError {
            key: c.get()?,
            error: TicketError {
                ticket_id: c.get()?,
                tax_number: c.get()?,
                code: c.get()?,
                message: c.get()?,
            },
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(super) fn update_interface(
    tx: &Transaction<'_>,
    id: i64,
    u: &InterfaceUpdate,
) -> Result<InterfaceConfig> {
    let select = format!("SELECT {INTERFACE_COLUMNS} FROM interfaces WHERE id = ?1");
    let cur = tx
        .query_row(&select, [id], read_interface)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("interface {id} does not exist")))?;
    let emails = to_json(
        u.notification_emails
            .as_ref()
            .unwrap_or(&cur.notification_emails),
    )?;
    let key = u.api_key.as_ref().unwrap_or(&cur.api_key);
    tx.execute(
        "UPDATE interfaces SET url = ?2, login = ?3, api_key = ?4, notification_emails = ?5,
             custom_params = ?6
         WHERE id = ?1",
        params![
            id,
            u.url.as_ref().unwrap_or(&cur.url),
            u.login.as_ref().unwrap_or(&cur.login),
            key.expose_secret(),
            emails,
            u.custom_params.as_ref().unwrap_or(&cur.custom_params)
        ],
    )?;
    Ok(tx.query_row(&select, [id], read_interface)?)
}

pub(super) fn update_schedule(
    tx: &Transaction<'_>,
    id: i64,
    new: &NewSchedule,
) -> Result<Schedule> {
    schedule_name(tx, id)?;
    let r = tx.execute(
        "UPDATE schedules SET interface_id = ?2, name = ?3, function = ?4, launch_mode = ?5,
             frequency_secs = ?6, starts_at = ?7, ends_at = ?8, batch_size = ?9, params = ?10
         WHERE id = ?1",
        params![
            id,
            new.interface_id,
            new.name,
            new.function.as_str(),
            launch_mode_str(new.launch_mode),
            new.frequency_secs,
            opt_ts(new.starts_at),
            opt_ts(new.ends_at),
            new.batch_size,
            to_json(&new.params)?
        ],
    );
    match r {
        Err(e) if is_unique_violation(&e) => {
            return Err(StoreError::Conflict(format!(
                "a schedule named {:?} already exists; schedule names are unique",
                new.name
            )));
        }
        r => r?,
    };
    Ok(tx.query_row(
        &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?1"),
        [id],
        read_schedule,
    )?)
}

pub(super) fn delete_schedule(tx: &Transaction<'_>, id: i64, at: DateTime<Utc>) -> Result<()> {
    let name = schedule_name(tx, id)?;
    recover_lapsed(tx, id, at)?;
    if let Some(e) = running(tx, id)? {
        return Err(running_conflict(&name, &e));
    }
    tx.execute(
        "DELETE FROM execution_errors
         WHERE execution_id IN (SELECT id FROM executions WHERE schedule_id = ?1)",
        [id],
    )?;
    tx.execute("DELETE FROM executions WHERE schedule_id = ?1", [id])?;
    tx.execute("DELETE FROM schedules WHERE id = ?1", [id])?;
    Ok(())
}
