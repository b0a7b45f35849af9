//! PostgreSQL: executions with leases, and the changes of interfaces and schedules.
//!
//! Starting an execution is one transaction that locks the schedule's row
//! (`SELECT … FOR UPDATE`): concurrent starts of one schedule, from any process,
//! queue there, and the first to commit is seen by the next. The partial unique index
//! `executions_one_running` backs it: a second running execution of a schedule cannot
//! be stored at all.

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use sqlx::{PgConnection, PgPool};

use tixbridge_core::model::{Counts, TicketError};

use super::{
    Cur, EXECUTION_COLUMNS, INTERFACE_COLUMNS, SCHEDULE_COLUMNS, count, launch_mode_str,
    read_execution, read_interface, read_schedule, unique_violation,
};
use crate::ticketing::{lease_lost, running_conflict};
use crate::{
    Execution, ExecutionStart, InterfaceConfig, InterfaceUpdate, NewSchedule, Result, Schedule,
    StoreError, StoredTicketError,
};

/// Locks the schedule's row for the transaction and returns its name, or `NotFound`.
async fn lock_schedule(tx: &mut PgConnection, schedule_id: i64) -> Result<String> {
    sqlx::query_scalar("SELECT name FROM schedules WHERE id = $1 FOR UPDATE")
        .bind(schedule_id)
        .fetch_optional(tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("schedule {schedule_id} does not exist")))
}

/// Records the schedule's executions whose lease lapsed before `at` as interrupted,
/// with the counts their markers and errors show.
async fn recover_lapsed(tx: &mut PgConnection, schedule_id: i64, at: DateTime<Utc>) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE executions SET
             ended_at = lease_expires_at,
             outcome = 'ERROR',
             succeeded = (SELECT COUNT(*) FROM processed_markers m
                          WHERE m.execution_id = executions.id),
             failed = GREATEST(failed, (SELECT COUNT(*) FROM execution_errors e
                          WHERE e.execution_id = executions.id AND e.ticket_id IS NOT NULL)),
             message = 'interrupted: the process running it (' || lease_owner ||
                 ') stopped without ending it and its lease lapsed; succeeded counts the ' ||
                 'tickets it marked, failed its ticket errors',
             lease_owner = NULL,
             lease_expires_at = NULL
         WHERE schedule_id = $1 AND ended_at IS NULL AND lease_expires_at < $2",
    )
    .bind(schedule_id)
    .bind(at)
    .execute(tx)
    .await?
    .rows_affected())
}

/// The schedule's running execution, if any.
async fn running(tx: &mut PgConnection, schedule_id: i64) -> Result<Option<Execution>> {
    sqlx::query(&format!(
        "SELECT {EXECUTION_COLUMNS} FROM executions WHERE schedule_id = $1 AND ended_at IS NULL"
    ))
    .bind(schedule_id)
    .fetch_optional(tx)
    .await?
    .as_ref()
    .map(read_execution)
    .transpose()
}

pub(super) async fn start_execution(pool: &PgPool, s: &ExecutionStart) -> Result<Execution> {
    let mut tx = pool.begin().await?;
    let name = lock_schedule(&mut tx, s.schedule_id).await?;
    recover_lapsed(&mut tx, s.schedule_id, s.at).await?;
    if let Some(e) = running(&mut tx, s.schedule_id).await? {
        return Err(running_conflict(&name, &e));
    }
    let r = sqlx::query(&format!(
        "INSERT INTO executions (schedule_id, started_at, lease_owner, lease_expires_at)
         VALUES ($1, $2, $3, $4)
         RETURNING {EXECUTION_COLUMNS}"
    ))
    .bind(s.schedule_id)
    .bind(s.at)
    .bind(&s.owner)
    .bind(s.at + s.lease)
    .fetch_one(&mut *tx)
    .await;
    let row = match r {
        Ok(row) => row,
        Err(e) if unique_violation(&e).is_some() => {
            return Err(StoreError::Conflict(format!(
                "schedule {name}: another execution is running; two executions of a \
                 schedule never overlap"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let e = read_execution(&row)?;
    tx.commit().await?;
    Ok(e)
}

pub(super) async fn renew_lease(
    pool: &PgPool,
    execution_id: i64,
    owner: &str,
    until: DateTime<Utc>,
    c: Counts,
) -> Result<()> {
    let n = sqlx::query(
        "UPDATE executions SET lease_expires_at = $3, selected = $4, sent = $5,
             succeeded = $6, failed = $7, skipped = $8, unsent = $9
         WHERE id = $1 AND lease_owner = $2 AND ended_at IS NULL",
    )
    .bind(execution_id)
    .bind(owner)
    .bind(until)
    .bind(count(c.selected))
    .bind(count(c.sent))
    .bind(count(c.succeeded))
    .bind(count(c.failed))
    .bind(count(c.skipped))
    .bind(count(c.unsent))
    .execute(pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(lease_lost(execution_id));
    }
    Ok(())
}

pub(super) async fn finish_execution(
    pool: &PgPool,
    execution_id: i64,
    at: DateTime<Utc>,
    outcome: &str,
    c: Counts,
    message: Option<String>,
) -> Result<()> {
    let n = sqlx::query(
        "UPDATE executions SET ended_at = $2, outcome = $3, selected = $4, sent = $5,
             succeeded = $6, failed = $7, skipped = $8, unsent = $9, message = $10,
             lease_owner = NULL, lease_expires_at = NULL
         WHERE id = $1",
    )
    .bind(execution_id)
    .bind(at)
    .bind(outcome)
    .bind(count(c.selected))
    .bind(count(c.sent))
    .bind(count(c.succeeded))
    .bind(count(c.failed))
    .bind(count(c.skipped))
    .bind(count(c.unsent))
    .bind(message)
    .execute(pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "execution {execution_id} does not exist"
        )));
    }
    Ok(())
}

pub(super) async fn errors_page(
    pool: &PgPool,
    execution_id: i64,
    after: i64,
    limit: usize,
) -> Result<Vec<StoredTicketError>> {
    sqlx::query(
        "SELECT id, ticket_id, tax_number, code, message FROM execution_errors
         WHERE execution_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(execution_id)
    .bind(after)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
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
    })
    .collect()
}

pub(super) async fn update_interface(
    pool: &PgPool,
    id: i64,
    u: &InterfaceUpdate,
) -> Result<InterfaceConfig> {
    let row = sqlx::query(&format!(
        "UPDATE interfaces SET url = COALESCE($2, url), login = COALESCE($3, login),
             api_key = COALESCE($4, api_key),
             notification_emails = COALESCE($5, notification_emails),
             custom_params = COALESCE($6, custom_params)
         WHERE id = $1
         RETURNING {INTERFACE_COLUMNS}"
    ))
    .bind(id)
    .bind(u.url.as_deref())
    .bind(u.login.as_deref())
    .bind(u.api_key.as_ref().map(|k| k.expose_secret()))
    .bind(u.notification_emails.as_ref())
    .bind(u.custom_params.as_deref())
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("interface {id} does not exist")))?;
    read_interface(&row)
}

pub(super) async fn update_schedule(pool: &PgPool, id: i64, new: &NewSchedule) -> Result<Schedule> {
    let r = sqlx::query(&format!(
        "UPDATE schedules SET interface_id = $2, name = $3, function = $4, launch_mode = $5,
             frequency_secs = $6, starts_at = $7, ends_at = $8, batch_size = $9, params = $10
         WHERE id = $1
         RETURNING {SCHEDULE_COLUMNS}"
    ))
    .bind(id)
    .bind(new.interface_id)
    .bind(&new.name)
    .bind(new.function.as_str())
    .bind(launch_mode_str(new.launch_mode))
    .bind(new.frequency_secs)
    .bind(new.starts_at)
    .bind(new.ends_at)
    .bind(new.batch_size)
    .bind(&new.params)
    .fetch_optional(pool)
    .await;
    match r {
        Ok(Some(row)) => read_schedule(&row),
        Ok(None) => Err(StoreError::NotFound(format!(
            "schedule {id} does not exist"
        ))),
        Err(e) if unique_violation(&e).is_some() => Err(StoreError::Conflict(format!(
            "a schedule named {:?} already exists; schedule names are unique",
            new.name
        ))),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn delete_schedule(pool: &PgPool, id: i64, at: DateTime<Utc>) -> Result<()> {
    let mut tx = pool.begin().await?;
    let name = lock_schedule(&mut tx, id).await?;
    recover_lapsed(&mut tx, id, at).await?;
    if let Some(e) = running(&mut tx, id).await? {
        return Err(running_conflict(&name, &e));
    }
    sqlx::query(
        "DELETE FROM execution_errors
         WHERE execution_id IN (SELECT id FROM executions WHERE schedule_id = $1)",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM executions WHERE schedule_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM schedules WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
