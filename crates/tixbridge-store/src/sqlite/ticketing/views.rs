//! SQLite: the operator's views of contacts and distribution (DOMAIN.md §6; issue 9).

use rusqlite::{Connection, params};

use tixbridge_core::lifecycle::email_key;
use tixbridge_core::model::Contact;
use tixbridge_core::status::TicketingStatus;

use super::{CONTACT_COLUMNS, Cur, read_contact};
use crate::{
    ContactTicket, Distribution, DistributionsOf, ReconcileProjection, ReconcileTicket, Result,
};

/// See `TicketingStore::distributions`.
pub(super) fn distributions(conn: &Connection, of: DistributionsOf) -> Result<Vec<Distribution>> {
    let (filter, id) = match of {
        DistributionsOf::Ticket(id) => ("ticket_id = ?1", id),
        DistributionsOf::Contact(id) => ("sender_contact_id = ?1 OR recipient_contact_id = ?1", id),
    };
    let mut st = conn.prepare_cached(&format!(
        "SELECT ticket_id, seq, sender_contact_id, recipient_contact_id, status, created_at,
                closed_seq, closed_at
         FROM ticket_distributions WHERE {filter} ORDER BY created_at, ticket_id, seq"
    ))?;
    let rows = st.query_map([id], |r| {
        let mut c = Cur::new(r);
        Ok(Distribution {
            ticket_id: c.get()?,
            seq: c.get()?,
            sender_contact_id: c.get()?,
            recipient_contact_id: c.get()?,
            status: c.get()?,
            created_at: c.time()?,
            closed_seq: c.get()?,
            closed_at: c.opt_time()?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// See `TicketingStore::distribution_counts`.
pub(super) fn distribution_counts(conn: &Connection, org: i64) -> Result<Vec<(String, u64)>> {
    let mut st = conn.prepare_cached(
        "SELECT d.status, COUNT(*) FROM ticket_distributions d
         JOIN tickets t ON t.id = d.ticket_id
         WHERE t.organization_id = ?1 GROUP BY d.status ORDER BY d.status",
    )?;
    let rows = st.query_map([org], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// See `TicketingStore::find_contacts`.
pub(super) fn find_contacts(conn: &Connection, org: i64, text: &str) -> Result<Vec<Contact>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts c
         WHERE c.organization_id = ?1 AND (c.number = ?2 OR c.email_key = ?3)
         ORDER BY COALESCE(c.number = ?2, FALSE) DESC, c.internet_account DESC, c.kind = 'INDIVIDUAL' DESC,
                  c.kind = 'RELAY', c.temporary, c.id"
    ))?;
    let rows = st.query_map(params![org, text.trim(), email_key(text)], |r| {
        read_contact(&mut Cur::new(r))
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// See `TicketingStore::contact_tickets`.
pub(super) fn contact_tickets(conn: &Connection, contact_id: i64) -> Result<Vec<ContactTicket>> {
    let mut st = conn.prepare_cached(
        "SELECT t.id, t.tax_number, t.status, t.cause, mp.wallet_status
         FROM tickets t LEFT JOIN mobile_projections mp ON mp.ticket_id = t.id
         WHERE t.contact_id = ?1 ORDER BY t.id",
    )?;
    let rows = st.query_map([contact_id], |r| {
        let mut c = Cur::new(r);
        Ok(ContactTicket {
            ticket_id: c.get()?,
            tax_number: c.get()?,
            status: c.parsed()?,
            cause: c.get()?,
            wallet_status: c.get()?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The columns [`reconcile_ticket`] reads, in its order.
const RECONCILE_SQL: &str = "
    SELECT t.id, t.status, t.shipment_mode = 'BLOCKCHAIN', t.tax_number, t.barcode,
           COALESCE(pf.code, p.code), mp.wallet_status, mp.owner, mp.holder
    FROM tickets t
    JOIN products p ON p.id = t.product_id
    LEFT JOIN performances pf ON pf.id = t.performance_id
    LEFT JOIN mobile_projections mp ON mp.ticket_id = t.id
    WHERE t.organization_id = ?1 AND p.kind NOT IN ('MEMBERSHIP_CARD', 'SEASON_CARD')
    ORDER BY CAST(t.id AS TEXT)";

fn reconcile_ticket(r: &rusqlite::Row<'_>) -> Result<ReconcileTicket> {
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

/// See `TicketingStore::reconcile_tickets`: one read transaction, the rows sent in
/// batches as the sorted query yields them.
pub(super) fn reconcile_tickets(
    conn: &Connection,
    org: i64,
    batch: usize,
    sink: &tokio::sync::mpsc::Sender<Vec<ReconcileTicket>>,
) -> Result<u64> {
    conn.execute_batch("BEGIN")?;
    let sent = (|| -> Result<u64> {
        let mut st = conn.prepare(RECONCILE_SQL)?;
        let mut rows = st.query([org])?;
        let (mut sent, mut buf) = (0u64, Vec::with_capacity(batch));
        while let Some(r) = rows.next()? {
            buf.push(reconcile_ticket(r)?);
            if buf.len() >= batch {
                sent += buf.len() as u64;
                if sink.blocking_send(std::mem::take(&mut buf)).is_err() {
                    return Ok(sent);
                }
            }
        }
        sent += buf.len() as u64;
        if !buf.is_empty() {
            let _ = sink.blocking_send(buf);
        }
        Ok(sent)
    })();
    conn.execute_batch("COMMIT")?;
    sent
}

/// See `TicketingStore::status_pairs`.
pub(super) fn status_pairs(
    conn: &Connection,
    org: i64,
) -> Result<Vec<(TicketingStatus, Option<String>, u64)>> {
    let mut st = conn.prepare_cached(
        "SELECT t.status, mp.wallet_status, COUNT(*) FROM tickets t
         JOIN products p ON p.id = t.product_id
         LEFT JOIN mobile_projections mp ON mp.ticket_id = t.id
         WHERE t.organization_id = ?1 AND p.kind NOT IN ('MEMBERSHIP_CARD', 'SEASON_CARD')
         GROUP BY t.status, mp.wallet_status",
    )?;
    let rows = st.query_map([org], |r| {
        let mut c = Cur::new(r);
        Ok((
            c.parsed::<TicketingStatus>()?,
            c.get::<Option<String>>()?,
            c.get::<i64>()? as u64,
        ))
    })?;
    let mut v = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    v.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    Ok(v)
}
