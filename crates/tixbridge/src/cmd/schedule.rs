//! `tixbridge schedule create-injection|create-push-cancelled|create-push-controlled|
//! create-privileges|list|show|update|delete`.

use std::process::ExitCode;

use clap::Subcommand;

use chrono::Utc;

use super::TicketingDb;
use tixbridge_core::model::{FunctionKind, InjectionFilters};
use tixbridge_interface::setup::{
    FeedbackScheduleInput, InjectionScheduleInput, PrivilegesScheduleInput,
    PushCancelledScheduleInput, PushControlledScheduleInput, ScheduleChange,
    create_feedback_schedule, create_injection_schedule, create_privileges_schedule,
    create_push_cancelled_schedule, create_push_controlled_schedule, update_schedule,
};
use tixbridge_store::{Execution, Schedule, TicketingStore};

#[derive(Subcommand)]
pub enum ScheduleCmd {
    /// Create a tickets injection schedule.
    CreateInjection(Box<InjectionArgs>),
    /// Create a Push Cancelled schedule: deletes from the wallet the tickets cancelled
    /// or invalidated in ticketing (again when their cause changed).
    CreatePushCancelled(PushCancelledArgs),
    /// Create a Push Controlled schedule: sends the wallet the tickets scanned at the
    /// gate in ticketing, with their scan time (batch size 10,000 by default).
    CreatePushControlled(PushControlledArgs),
    /// Create a Privileges injection schedule: injects membership and season cards as
    /// wallet privileges, with one privilege definition per card product.
    CreatePrivileges(PrivilegesArgs),
    /// Create a Feedback schedule: reads the wallet's change feed from where the last
    /// execution stopped and brings each ticket's wallet state and status log back into
    /// ticketing (no ticketing status changes).
    CreateFeedback(FeedbackArgs),
    /// List the schedules of an interface: function, filters, frequency, simulation
    /// flag and last execution.
    List {
        #[command(flatten)]
        db: TicketingDb,
        /// The interface whose schedules to list.
        #[arg(long)]
        interface: String,
    },
    /// Every setting of a schedule and its last execution.
    Show {
        #[command(flatten)]
        db: TicketingDb,
        /// The schedule's name.
        name: String,
    },
    /// Change a schedule of any function; each value is checked exactly as at
    /// creation, and an option the schedule's function does not have is refused.
    Update(Box<UpdateArgs>),
    /// Delete a schedule with its execution history (refused while an execution runs).
    Delete {
        #[command(flatten)]
        db: TicketingDb,
        /// The schedule's name.
        name: String,
    },
}

/// The options of `schedule update`: each one given replaces the stored value; a
/// filter given as "" is removed.
#[derive(clap::Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    db: TicketingDb,
    /// The schedule's name.
    name: String,
    /// Tickets per execution.
    #[arg(long)]
    batch_size: Option<i64>,
    /// Point of sales that prints: salesChannelCode;posCode.
    #[arg(long)]
    pos: Option<String>,
    #[command(flatten)]
    filters: FilterArgs,
    /// Added before the barcode sent to the wallet.
    #[arg(long)]
    barcode_prefix: Option<String>,
    /// Added after the barcode sent to the wallet.
    #[arg(long)]
    barcode_suffix: Option<String>,
    /// Holder fields a ticket must have to be sent, comma-separated (FIRSTNAME,
    /// LASTNAME, BIRTHDATE, ID_NUMBER, COUNTRY_CODE, BIRTH_REGION, BIRTH_PLACE).
    #[arg(long)]
    mandatory_holder_fields: Option<String>,
    /// ALL, ONLY_MAIN_APPLICANT or FIRST_OF_FILE.
    #[arg(long)]
    main_applicant: Option<String>,
    /// Process only these tickets, even if processed (id:<ticketId> or tax numbers).
    #[arg(long)]
    force: Option<String>,
    /// Never process these tickets (id:<ticketId> or tax numbers).
    #[arg(long)]
    skip: Option<String>,
    /// true: build and validate, send nothing; false: send.
    #[arg(long)]
    simulation: Option<bool>,
    /// Push Cancelled: true keeps deleted tickets visible in the spectators' apps (the
    /// "Notify spectator" box).
    #[arg(long)]
    notify_spectator: Option<bool>,
    /// Push Cancelled and Push Controlled: push again what was pushed at or after this
    /// time (RFC 3339); "" removes it.
    #[arg(long)]
    date_from: Option<String>,
    /// Automatic launch every this many seconds.
    #[arg(long, conflicts_with = "manual")]
    every_secs: Option<i64>,
    /// Launched manually only from now on.
    #[arg(long)]
    manual: bool,
}

/// The schedule a `schedule create-…` creates: its store, interface and name.
#[derive(clap::Args)]
pub struct NewScheduleArgs {
    #[command(flatten)]
    db: TicketingDb,
    /// The interface it belongs to.
    #[arg(long)]
    interface: String,
    /// Schedule name (unique).
    #[arg(long)]
    name: String,
}

/// What every `schedule create-…` of a sending function takes.
#[derive(clap::Args)]
pub struct CreateCommon {
    #[command(flatten)]
    target: NewScheduleArgs,
    /// Tickets per execution (default 1,000; 10,000 for Push Controlled).
    #[arg(long)]
    batch_size: Option<i64>,
    /// Process only these tickets, even if processed already (id:<ticketId> or tax
    /// numbers).
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

/// Injection's selection filters, all ANDed (DOMAIN.md §5.1). In `schedule update`, a
/// filter given as "" is removed.
#[derive(clap::Args)]
pub struct FilterArgs {
    /// Filter: sales channel code.
    #[arg(long)]
    sales_channel: Option<String>,
    /// Filter: season code.
    #[arg(long)]
    season: Option<String>,
    /// Filter: product family code.
    #[arg(long)]
    product_family: Option<String>,
    /// Filter: product code.
    #[arg(long)]
    product: Option<String>,
    /// Filter: performance (event) code.
    #[arg(long)]
    performance: Option<String>,
    /// Filter: tariff code.
    #[arg(long)]
    tariff: Option<String>,
    /// Filter: seat category code.
    #[arg(long)]
    category: Option<String>,
    /// Only this file (order); every other filter is ignored.
    #[arg(long)]
    file_number: Option<String>,
}

impl From<FilterArgs> for InjectionFilters {
    fn from(f: FilterArgs) -> Self {
        InjectionFilters {
            sales_channel: f.sales_channel,
            season: f.season,
            product_family: f.product_family,
            product: f.product,
            performance: f.performance,
            tariff: f.tariff,
            category: f.category,
            file_number: f.file_number,
        }
    }
}

#[derive(clap::Args)]
pub struct InjectionArgs {
    #[command(flatten)]
    common: CreateCommon,
    /// Point of sales that prints: salesChannelCode;posCode.
    #[arg(long)]
    pos: String,
    #[command(flatten)]
    filters: FilterArgs,
    /// Added before the barcode sent to the wallet.
    #[arg(long, default_value = "")]
    barcode_prefix: String,
    /// Added after the barcode sent to the wallet.
    #[arg(long, default_value = "")]
    barcode_suffix: String,
    /// Holder fields a ticket must have to be sent, comma-separated (FIRSTNAME,
    /// LASTNAME, BIRTHDATE, ID_NUMBER, COUNTRY_CODE, BIRTH_REGION, BIRTH_PLACE).
    #[arg(long, default_value = "")]
    mandatory_holder_fields: String,
    /// ALL, ONLY_MAIN_APPLICANT or FIRST_OF_FILE.
    #[arg(long, default_value = "ALL")]
    main_applicant: String,
}

#[derive(clap::Args)]
pub struct PushCancelledArgs {
    #[command(flatten)]
    common: CreateCommon,
    /// Keep deleted tickets visible in the spectators' apps (the "Notify spectator"
    /// box; causes listed in overrideVisibilityFlagForInvalidationReasons always are).
    #[arg(long)]
    notify_spectator: bool,
    /// Push again what was pushed at or after this time (RFC 3339), as if the last
    /// success were then.
    #[arg(long)]
    date_from: Option<chrono::DateTime<Utc>>,
}

#[derive(clap::Args)]
pub struct PushControlledArgs {
    #[command(flatten)]
    common: CreateCommon,
    /// Push again what was pushed at or after this time (RFC 3339).
    #[arg(long)]
    date_from: Option<chrono::DateTime<Utc>>,
}

#[derive(clap::Args)]
pub struct FeedbackArgs {
    #[command(flatten)]
    target: NewScheduleArgs,
    /// Changed tickets applied per execution at most.
    #[arg(long, default_value_t = 1000)]
    batch_size: i64,
    /// Never apply these tickets of the feed (id:<ticketId> or tax numbers).
    #[arg(long, default_value = "")]
    skip: String,
    /// Automatic launch every this many seconds (manual when absent).
    #[arg(long)]
    every_secs: Option<i64>,
}

#[derive(clap::Args)]
pub struct PrivilegesArgs {
    #[command(flatten)]
    common: CreateCommon,
    /// Point of sales that prints the cards: salesChannelCode;posCode.
    #[arg(long)]
    pos: String,
    /// Filter: sales channel code.
    #[arg(long)]
    sales_channel: Option<String>,
    /// Filter: season code.
    #[arg(long)]
    season: Option<String>,
    /// Filter: product family code.
    #[arg(long)]
    product_family: Option<String>,
    /// Filter: card product code.
    #[arg(long)]
    product: Option<String>,
}

pub async fn exec(cmd: ScheduleCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ScheduleCmd::CreateFeedback(a) => {
            let store = a.target.db.open().await?;
            let s = create_feedback_schedule(
                &*store,
                FeedbackScheduleInput {
                    interface: a.target.interface,
                    name: a.target.name,
                    batch_size: a.batch_size,
                    skip: a.skip,
                    frequency_secs: a.every_secs,
                },
            )
            .await?;
            Ok(created(&s))
        }
        ScheduleCmd::CreatePrivileges(a) => {
            let c = a.common;
            let store = c.target.db.open().await?;
            let s = create_privileges_schedule(
                &*store,
                PrivilegesScheduleInput {
                    interface: c.target.interface,
                    name: c.target.name,
                    batch_size: c.batch_size.unwrap_or(1000),
                    point_of_sales: a.pos,
                    filters: InjectionFilters {
                        sales_channel: a.sales_channel,
                        season: a.season,
                        product_family: a.product_family,
                        product: a.product,
                        ..InjectionFilters::default()
                    },
                    force: c.force,
                    skip: c.skip,
                    simulation: c.simulation,
                    frequency_secs: c.every_secs,
                },
            )
            .await?;
            Ok(created(&s))
        }
        ScheduleCmd::CreatePushControlled(a) => {
            let c = a.common;
            let store = c.target.db.open().await?;
            // Controls come by thousands on an event day (DOMAIN.md §5.4).
            let batch_size = c.batch_size.unwrap_or(10_000);
            let s = create_push_controlled_schedule(
                &*store,
                PushControlledScheduleInput {
                    interface: c.target.interface,
                    name: c.target.name,
                    batch_size,
                    force: c.force,
                    skip: c.skip,
                    date_from: a.date_from,
                    simulation: c.simulation,
                    frequency_secs: c.every_secs,
                },
            )
            .await?;
            Ok(created(&s))
        }
        ScheduleCmd::CreatePushCancelled(a) => {
            let c = a.common;
            let store = c.target.db.open().await?;
            let s = create_push_cancelled_schedule(
                &*store,
                PushCancelledScheduleInput {
                    interface: c.target.interface,
                    name: c.target.name,
                    batch_size: c.batch_size.unwrap_or(1000),
                    notify_spectator: a.notify_spectator,
                    force: c.force,
                    skip: c.skip,
                    date_from: a.date_from,
                    simulation: c.simulation,
                    frequency_secs: c.every_secs,
                },
            )
            .await?;
            Ok(created(&s))
        }
        ScheduleCmd::CreateInjection(a) => {
            let a = *a;
            let c = a.common;
            let store = c.target.db.open().await?;
            let s = create_injection_schedule(
                &*store,
                InjectionScheduleInput {
                    interface: c.target.interface,
                    name: c.target.name,
                    batch_size: c.batch_size.unwrap_or(1000),
                    point_of_sales: a.pos,
                    filters: a.filters.into(),
                    barcode_prefix: a.barcode_prefix,
                    barcode_suffix: a.barcode_suffix,
                    mandatory_holder_fields: a.mandatory_holder_fields,
                    main_applicant_rule: a.main_applicant,
                    force: c.force,
                    skip: c.skip,
                    simulation: c.simulation,
                    frequency_secs: c.every_secs,
                    starts_at: None,
                    ends_at: None,
                },
            )
            .await?;
            Ok(created(&s))
        }
        ScheduleCmd::List { db, interface } => {
            let store = db.open().await?;
            let iface = store
                .interface_by_name(&interface)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no interface is named {interface:?}"))?;
            for s in store.schedules(iface.id).await? {
                let last = store.executions(s.id, 1).await?.into_iter().next();
                let d = describe(&s);
                println!(
                    "{}\t{}\t{}\tbatch {}\tfilters: {}\tsimulation: {}\t{}",
                    s.name,
                    s.function.label(),
                    frequency(&s),
                    s.batch_size,
                    d.filters,
                    if d.simulation { "yes" } else { "no" },
                    last_state(last.as_ref())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ScheduleCmd::Show { db, name } => {
            let store = db.open().await?;
            let s = by_name(&*store, &name).await?;
            let iface = store.interface(s.interface_id).await?;
            let last = store.executions(s.id, 1).await?.into_iter().next();
            print_schedule(&s, &iface.name, last.as_ref())?;
            Ok(ExitCode::SUCCESS)
        }
        ScheduleCmd::Update(a) => {
            let a = *a;
            let store = a.db.open().await?;
            let frequency = match (a.every_secs, a.manual) {
                (Some(f), _) => Some(Some(f)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let date_from = match a.date_from.as_deref().map(str::trim) {
                None => None,
                Some("") => Some(None),
                Some(t) => Some(Some(
                    chrono::DateTime::parse_from_rfc3339(t)
                        .map_err(|e| anyhow::anyhow!("--date-from {t:?}: {e}"))?
                        .to_utc(),
                )),
            };
            let s = update_schedule(
                &*store,
                &a.name,
                ScheduleChange {
                    batch_size: a.batch_size,
                    point_of_sales: a.pos,
                    filters: a.filters.into(),
                    barcode_prefix: a.barcode_prefix,
                    barcode_suffix: a.barcode_suffix,
                    mandatory_holder_fields: a.mandatory_holder_fields,
                    main_applicant_rule: a.main_applicant,
                    force: a.force,
                    skip: a.skip,
                    simulation: a.simulation,
                    notify_spectator: a.notify_spectator,
                    date_from,
                    frequency_secs: frequency,
                },
            )
            .await?;
            let iface = store.interface(s.interface_id).await?;
            println!("schedule {} updated", s.name);
            print_schedule(&s, &iface.name, None)?;
            Ok(ExitCode::SUCCESS)
        }
        ScheduleCmd::Delete { db, name } => {
            let store = db.open().await?;
            let s = by_name(&*store, &name).await?;
            store.delete_schedule(s.id, Utc::now()).await?;
            println!("schedule {} deleted with its execution history", s.name);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Says a schedule was created.
fn created(s: &Schedule) -> ExitCode {
    println!(
        "schedule {} created: {}, batch size {}",
        s.name,
        s.function.label(),
        s.batch_size
    );
    ExitCode::SUCCESS
}

async fn by_name(store: &dyn TicketingStore, name: &str) -> anyhow::Result<Schedule> {
    store
        .schedule_by_name(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no schedule is named {name:?}"))
}

/// A schedule's filters and simulation flag, as listed.
struct Described {
    filters: String,
    simulation: bool,
}

fn describe(s: &Schedule) -> Described {
    let has_filters = matches!(
        s.function,
        FunctionKind::Injection | FunctionKind::PrivilegesInjection
    );
    match serde_json::from_value::<InjectionFilters>(s.params["filters"].clone()) {
        Ok(f) if has_filters => {
            let f = &f;
            let set: Vec<String> = [
                ("sales channel", &f.sales_channel),
                ("season", &f.season),
                ("product family", &f.product_family),
                ("product", &f.product),
                ("performance", &f.performance),
                ("tariff", &f.tariff),
                ("category", &f.category),
                ("file number", &f.file_number),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
            .collect();
            Described {
                filters: if set.is_empty() {
                    "none".into()
                } else {
                    set.join(", ")
                },
                simulation: s.params["simulation"].as_bool().unwrap_or(false),
            }
        }
        _ => Described {
            filters: s.params.to_string(),
            simulation: s.params["simulation"].as_bool().unwrap_or(false),
        },
    }
}

fn frequency(s: &Schedule) -> String {
    match s.frequency_secs {
        Some(f) => format!("every {f}s"),
        None => "manual".into(),
    }
}

fn last_state(last: Option<&Execution>) -> String {
    match last {
        None => "never run".to_owned(),
        Some(e) => format!(
            "last execution #{} {} ({} sent, {} failed)",
            e.id,
            e.outcome.map(|o| o.as_str()).unwrap_or("RUNNING"),
            e.counts.sent,
            e.counts.failed
        ),
    }
}

/// Every setting of a schedule: its own fields, then its function's parameters.
fn print_schedule(s: &Schedule, interface: &str, last: Option<&Execution>) -> anyhow::Result<()> {
    let d = describe(s);
    println!("schedule {}", s.name);
    println!("  interface: {interface}");
    println!("  function: {}", s.function.label());
    println!("  launch: {}", frequency(s));
    let t = |t: Option<chrono::DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or("-".into());
    println!("  starts: {}  ends: {}", t(s.starts_at), t(s.ends_at));
    println!("  batch size: {}", s.batch_size);
    println!("  filters: {}", d.filters);
    println!("  simulation: {}", if d.simulation { "yes" } else { "no" });
    println!("  parameters:");
    for (key, value) in s.params.as_object().into_iter().flatten() {
        let value = match value {
            serde_json::Value::String(v) => v.clone(),
            serde_json::Value::Null => "-".to_owned(),
            other => serde_json::to_string(other)?,
        };
        println!("    {key}: {value}");
    }
    if last.is_some() {
        println!("  {}", last_state(last));
    }
    Ok(())
}
