//! PostgreSQL: the operator's views of contacts and distribution (DOMAIN.md §6;
//! issue 9).

use sqlx::PgPool;

use tixbridge_core::lifecycle::email_key;
use tixbridge_core::model::Contact;
use tixbridge_core::status::TicketingStatus;

use super::{CONTACT_COLUMNS, Cur, read_contact};
use crate::{
    ContactTicket, Distribution, DistributionsOf, ReconcileProjection, ReconcileTicket, Result,
};

/// See `TicketingStore::distributions`.
pub(super) async fn distributions(pool: &PgPool, of: DistributionsOf) -> Result<Vec<Distribution>> {
    let (filter, id) = match of {
        DistributionsOf::Ticket(id) => ("ticket_id = $1", id),
        DistributionsOf::Contact(id) => ("sender_contact_id = $1 OR recipient_contact_id = $1", id),
    };
    let rows = sqlx::query(&format!(
        "SELECT ticket_id, seq, sender_contact_id, recipient_contact_id, status, created_at,
                closed_seq, closed_at
         FROM ticket_distributions WHERE {filter} ORDER BY created_at, ticket_id, seq"
    ))
    .bind(id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let mut c = Cur::new(r);
            Ok(Distribution {
                ticket_id: c.get()?,
                seq: c.get()?,
                sender_contact_id: c.get()?,
                recipient_contact_id: c.get()?,
                status: c.get()?,
                created_at: c.get()?,
                closed_seq: c.get()?,
                closed_at: c.get()?,
            })
        })
        .collect()
}

/// See `TicketingStore::distribution_counts`.
pub(super) async fn distribution_counts(pool: &PgPool, org: i64) -> Result<Vec<(String, u64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT d.status, COUNT(*) FROM ticket_distributions d
         JOIN tickets t ON t.id = d.ticket_id
         WHERE t.organization_id = $1 GROUP BY d.status ORDER BY d.status",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(s, n)| (s, n as u64)).collect())
}

/// See `TicketingStore::find_contacts`.
pub(super) async fn find_contacts(pool: &PgPool, org: i64, text: &str) -> Result<Vec<Contact>> {
    let rows = sqlx::query(&format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts c
         WHERE c.organization_id = $1 AND (c.number = $2 OR c.email_key = $3)
         ORDER BY COALESCE(c.number = $2, FALSE) DESC, c.internet_account DESC, c.kind = 'INDIVIDUAL' DESC,
                  c.kind = 'RELAY', c.temporary, c.id"
    ))
    .bind(org)
    .bind(text.trim())
    .bind(email_key(text))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| read_contact(&mut Cur::new(r)))
        .collect()
}

/// See `TicketingStore::contact_tickets`.
pub(super) async fn contact_tickets(pool: &PgPool, contact_id: i64) -> Result<Vec<ContactTicket>> {
    let rows = sqlx::query(
        "SELECT t.id, t.tax_number, t.status, t.cause, mp.wallet_status
         FROM tickets t LEFT JOIN mobile_projections mp ON mp.ticket_id = t.id
         WHERE t.contact_id = $1 ORDER BY t.id",
    )
    .bind(contact_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let mut c = Cur::new(r);
            Ok(ContactTicket {
                ticket_id: c.get()?,
                tax_number: c.get()?,
                status: c.parsed()?,
                cause: c.get()?,
                wallet_status: c.get()?,
            })
        })
        .collect()
}

/// See `TicketingStore::reconcile_tickets`: one read-only snapshot, the rows streamed
/// from the server as the sorted query yields them.
pub(super) async fn reconcile_tickets(
    pool: &PgPool,
    org: i64,
    batch: usize,
    sink: tokio::sync::mpsc::Sender<Vec<ReconcileTicket>>,
) -> Result<u64> {
    use futures::TryStreamExt;
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let (mut sent, mut buf) = (0u64, Vec::with_capacity(batch));
    {
        let mut rows = sqlx::query(
            "SELECT t.id, t.status, t.shipment_mode = 'BLOCKCHAIN', t.tax_number, t.barcode,
                    COALESCE(pf.code, p.code), mp.wallet_status, mp.owner::text, mp.holder::text
             FROM tickets t
             JOIN products p ON p.id = t.product_id
             LEFT JOIN performances pf ON pf.id = t.performance_id
             LEFT JOIN mobile_projections mp ON mp.ticket_id = t.id
             WHERE t.organization_id = $1 AND p.kind NOT IN ('MEMBERSHIP_CARD', 'SEASON_CARD')
             ORDER BY t.id::text COLLATE \"C\"",
        )
        .bind(org)
        .fetch(&mut *tx);
        while let Some(r) = rows.try_next().await? {
            buf.push(reconcile_ticket(&r)?);
            if buf.len() >= batch {
                sent += buf.len() as u64;
                if sink.send(std::mem::take(&mut buf)).await.is_err() {
                    return Ok(sent);
                }
            }
        }
    }
    sent += buf.len() as u64;
    if !buf.is_empty() {
        let _ = sink.send(buf).await;
    }
    tx.commit().await?;
    Ok(sent)
}

fn reconcile_ticket(r: &sqlx::postgres::PgRow) -> Result<ReconcileTicket> {
    let mut c = Cur::new(r);
    let id = c.get()?;
    Ok(ReconcileTicket {
        id,
        status: c.parsed()?,
        wallet_shipment: c.get()?,
        tax_number: c.get()?,
        barcode: c.get()?,
        event_id: c.get()?,
        projection: ReconcileProjection::from_columns(id, c.get()?, c.get()?, c.get()?)?,
    })
}

/// See `TicketingStore::status_pairs`.
pub(super) async fn status_pairs(
    pool: &PgPool,
    org: i64,
) -> Result<Vec<(TicketingStatus, Option<String>, u64)>> {
    let rows = sqlx::query(
        "SELECT t.status, mp.wallet_status, COUNT(*) FROM tickets t
         JOIN products p ON p.id = t.product_id
         LEFT JOIN mobile_projections mp ON mp.ticket_id = t.id
         WHERE t.organization_id = $1 AND p.kind NOT IN ('MEMBERSHIP_CARD', 'SEASON_CARD')
         GROUP BY t.status, mp.wallet_status",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    let mut v = rows
        .iter()
        .map(|r| {
            let mut c = Cur::new(r);
            Ok((
                c.parsed::<TicketingStatus>()?,
                c.get::<Option<String>>()?,
                c.get::<i64>()? as u64,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    v.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    Ok(v)
}
