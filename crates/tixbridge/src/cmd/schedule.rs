//! `tixbridge schedule create-injection|list`.

use std::process::ExitCode;

use clap::Subcommand;

use super::TicketingDb;
use tixbridge_core::model::InjectionFilters;
use tixbridge_interface::setup::{InjectionScheduleInput, create_injection_schedule};

#[derive(Subcommand)]
pub enum ScheduleCmd {
    /// Create a tickets injection schedule.
    CreateInjection(Box<InjectionArgs>),
    /// List the schedules of an interface with their last execution.
    List {
        #[command(flatten)]
        db: TicketingDb,
        #[arg(long)]
        interface: String,
    },
}

#[derive(clap::Args)]
pub struct InjectionArgs {
    #[command(flatten)]
    db: TicketingDb,
    /// The interface it belongs to.
    #[arg(long)]
    interface: String,
    /// Schedule name (unique).
    #[arg(long)]
    name: String,
    /// Tickets per execution.
    #[arg(long, default_value_t = 1000)]
    batch_size: i64,
    /// Point of sales that prints: salesChannelCode;posCode.
    #[arg(long)]
    pos: String,
    #[arg(long)]
    sales_channel: Option<String>,
    #[arg(long)]
    season: Option<String>,
    #[arg(long)]
    product_family: Option<String>,
    #[arg(long)]
    product: Option<String>,
    /// Performance (event) code.
    #[arg(long)]
    performance: Option<String>,
    #[arg(long)]
    tariff: Option<String>,
    #[arg(long)]
    category: Option<String>,
    /// Only this file (order); every other filter is ignored.
    #[arg(long)]
    file_number: Option<String>,
    #[arg(long, default_value = "")]
    barcode_prefix: String,
    #[arg(long, default_value = "")]
    barcode_suffix: String,
    /// Holder fields a ticket must have to be sent, comma-separated (FIRSTNAME,
    /// LASTNAME, BIRTHDATE, ID_NUMBER, COUNTRY_CODE, BIRTH_REGION, BIRTH_PLACE).
    #[arg(long, default_value = "")]
    mandatory_holder_fields: String,
    /// ALL, ONLY_MAIN_APPLICANT or FIRST_OF_FILE.
    #[arg(long, default_value = "ALL")]
    main_applicant: String,
    /// Process only these tickets, even if processed (id:<ticketId> or tax numbers).
    #[arg(long, default_value = "")]
    force: String,
    /// Never process these tickets (id:<ticketId> or tax numbers).
    #[arg(long, default_value = "")]
    skip: String,
    /// Build and validate everything, send nothing, change nothing.
    #[arg(long)]
    simulation: bool,
    /// Automatic launch every this many seconds (manual when absent).
    #[arg(long)]
    every_secs: Option<i64>,
}

pub async fn exec(cmd: ScheduleCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ScheduleCmd::CreateInjection(a) => {
            let a = *a;
            let store = a.db.open().await?;
            let s = create_injection_schedule(
                &*store,
                InjectionScheduleInput {
                    interface: a.interface,
                    name: a.name,
                    batch_size: a.batch_size,
                    point_of_sales: a.pos,
                    filters: InjectionFilters {
                        sales_channel: a.sales_channel,
                        season: a.season,
                        product_family: a.product_family,
                        product: a.product,
                        performance: a.performance,
                        tariff: a.tariff,
                        category: a.category,
                        file_number: a.file_number,
                    },
                    barcode_prefix: a.barcode_prefix,
                    barcode_suffix: a.barcode_suffix,
                    mandatory_holder_fields: a.mandatory_holder_fields,
                    main_applicant_rule: a.main_applicant,
                    force: a.force,
                    skip: a.skip,
                    simulation: a.simulation,
                    frequency_secs: a.every_secs,
                    starts_at: None,
                    ends_at: None,
                },
            )
            .await?;
            println!(
                "schedule {} created: {} , batch size {}",
                s.name,
                s.function.label(),
                s.batch_size
            );
            Ok(ExitCode::SUCCESS)
        }
        ScheduleCmd::List { db, interface } => {
            let store = db.open().await?;
            let iface = store
                .interface_by_name(&interface)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no interface is named {interface:?}"))?;
            for s in store.schedules(iface.id).await? {
                let last = store.executions(s.id, 1).await?.into_iter().next();
                let state = match last {
                    None => "never run".to_owned(),
                    Some(e) => format!(
                        "last execution #{} {} ({} sent, {} failed)",
                        e.id,
                        e.outcome.map(|o| o.as_str()).unwrap_or("RUNNING"),
                        e.counts.sent,
                        e.counts.failed
                    ),
                };
                println!(
                    "{}\t{}\tbatch {}\t{state}",
                    s.name,
                    s.function.label(),
                    s.batch_size
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
