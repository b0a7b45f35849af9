//! `tixbridge contact show NUMBER|EMAIL`: a contact of ticketing, the tickets it holds
//! and the distribution rows that name it (DOMAIN.md §6).

use std::process::ExitCode;

use clap::Subcommand;
use tixbridge_core::model::Contact;
use tixbridge_store::{DistributionsOf, TicketingStore};

use super::ticket::print_distributions;
use super::{OrgArg, TicketingDb};

#[derive(Subcommand)]
pub enum ContactCmd {
    /// A contact by its number or its email (without regard to case or surrounding
    /// spaces; every contact sharing the email is shown, the one Feedback prefers
    /// first), with the tickets it holds as cultural contact and its distribution rows.
    Show {
        /// The contact number, or an email.
        contact: String,
        #[command(flatten)]
        db: TicketingDb,
        #[command(flatten)]
        org: OrgArg,
    },
}

pub async fn exec(cmd: ContactCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ContactCmd::Show { contact, db, org } => {
            let store = db.open().await?;
            let org = org.get(&*store).await?;
            let found = store.find_contacts(org.id, &contact).await?;
            if found.is_empty() {
                anyhow::bail!(
                    "no contact numbered or with the email {:?} in organization {}",
                    contact.trim(),
                    org.code
                );
            }
            for c in &found {
                show(&*store, c).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints one contact, its tickets and its distribution rows.
async fn show(store: &dyn TicketingStore, c: &Contact) -> anyhow::Result<()> {
    let name = [
        c.title.as_deref(),
        c.first_name.as_deref(),
        c.last_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    println!(
        "contact {} (number {}): {}, {}",
        c.id,
        c.number.as_deref().unwrap_or("-"),
        if name.is_empty() { "-" } else { &name },
        c.email.as_deref().unwrap_or("no email")
    );
    println!(
        "  {}{}, {}",
        c.kind.to_lowercase(),
        if c.temporary {
            " (temporary: created by Feedback from an email; completed when data arrives)"
        } else {
            ""
        },
        if c.internet_account {
            "internet account"
        } else {
            "no internet account"
        }
    );
    let tickets = store.contact_tickets(c.id).await?;
    println!("  tickets held as cultural contact: {}", tickets.len());
    for t in &tickets {
        println!(
            "    ticket {} (tax number {})\t{}{}\twallet {}",
            t.ticket_id,
            t.tax_number,
            t.status,
            t.cause
                .as_ref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            t.wallet_status.as_deref().unwrap_or("-")
        );
    }
    let rows = store.distributions(DistributionsOf::Contact(c.id)).await?;
    if !rows.is_empty() {
        println!("  distribution rows naming it:");
        print_distributions(store, &rows, "    ").await?;
    }
    Ok(())
}
