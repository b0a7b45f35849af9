//! Creating and changing interfaces and schedules from operator input: everything is
//! checked here, before it is stored, the same way at creation and at update, and
//! errors name the field.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use tixbridge_core::model::{
    FeedbackParams, FunctionKind, HolderField, InjectionFilters, InjectionParams, InterfaceKind,
    MainApplicantRule, PointOfSales, PrivilegesParams, PushCancelledParams, PushControlledParams,
    parse_email_list, validate_interface_url,
};
use tixbridge_core::params::CustomParams;
use tixbridge_core::selection::TicketRefs;
use tixbridge_store::{
    InterfaceConfig, InterfaceUpdate, LaunchMode, NewInterface, NewSchedule, Schedule,
    TicketingStore,
};

/// An interface as the operator types it.
#[derive(Debug, Clone)]
pub struct InterfaceInput {
    pub organization_id: i64,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub login: String,
    pub api_key: SecretString,
    pub notification_emails: String,
    pub custom_params: String,
}

/// Creates the organization's interface after checking every field (see
/// [`check_interface_fields`]).
pub async fn create_interface(
    store: &dyn TicketingStore,
    input: InterfaceInput,
) -> anyhow::Result<InterfaceConfig> {
    let kind: InterfaceKind = input.kind.parse().map_err(anyhow::Error::msg)?;
    if input.name.trim().is_empty() {
        anyhow::bail!("the interface name is empty");
    }
    let emails = check_interface_fields(
        Some(&input.url),
        Some(&input.api_key),
        Some(&input.notification_emails),
        Some(&input.custom_params),
    )?
    .unwrap_or_default();
    Ok(store
        .create_interface(NewInterface {
            organization_id: input.organization_id,
            name: input.name.trim().to_owned(),
            kind,
            url: input.url.trim().to_owned(),
            login: input.login,
            api_key: input.api_key,
            notification_emails: emails,
            custom_params: input.custom_params,
        })
        .await?)
}

/// The checks of an interface's fields, the same at creation and update (`None`: not
/// given): the URL ends with `organizer/tickets`, the API key is not empty, the
/// notification emails are addresses (returned parsed), the custom parameters are
/// known keys with valid values (DOMAIN.md §6).
pub fn check_interface_fields(
    url: Option<&str>,
    api_key: Option<&SecretString>,
    emails: Option<&str>,
    custom_params: Option<&str>,
) -> anyhow::Result<Option<Vec<String>>> {
    use secrecy::ExposeSecret;
    if let Some(url) = url {
        validate_interface_url(url).map_err(anyhow::Error::msg)?;
    }
    if api_key.is_some_and(|k| k.expose_secret().trim().is_empty()) {
        anyhow::bail!("the API key (interface password) is empty");
    }
    if let Some(p) = custom_params {
        CustomParams::parse(p)?;
    }
    emails
        .map(|e| parse_email_list(e).map_err(anyhow::Error::msg))
        .transpose()
}

/// What `interface update` changes; `None` keeps the stored value. The custom
/// parameters given are merged into the stored ones key by key (see
/// [`merge_custom_params`]) unless `replace_params` is set.
#[derive(Debug, Clone, Default)]
pub struct InterfaceChange {
    pub url: Option<String>,
    pub login: Option<String>,
    pub api_key: Option<SecretString>,
    /// Comma-separated, as at creation; an empty string clears the list.
    pub notification_emails: Option<String>,
    /// `key=value` lines.
    pub custom_params: Option<String>,
    pub replace_params: bool,
}

/// Updates the interface named `name`, checked exactly as at creation.
pub async fn update_interface(
    store: &dyn TicketingStore,
    name: &str,
    change: InterfaceChange,
) -> anyhow::Result<InterfaceConfig> {
    let current = store
        .interface_by_name(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no interface is named {name:?}"))?;
    let params = change.custom_params.map(|p| {
        if change.replace_params {
            p
        } else {
            merge_custom_params(&current.custom_params, &p)
        }
    });
    let emails = check_interface_fields(
        change.url.as_deref(),
        change.api_key.as_ref(),
        change.notification_emails.as_deref(),
        params.as_deref(),
    )?;
    Ok(store
        .update_interface(
            current.id,
            InterfaceUpdate {
                url: change.url.map(|u| u.trim().to_owned()),
                login: change.login,
                api_key: change.api_key,
                notification_emails: emails,
                custom_params: params,
            },
        )
        .await?)
}

/// The stored `key=value` lines with the given ones applied: a given key replaces the
/// stored line of that key, in place; new keys come last. Blank lines and `#`
/// comments are kept as they were.
pub fn merge_custom_params(stored: &str, given: &str) -> String {
    let key = |l: &str| l.split_once('=').map(|(k, _)| k.trim().to_owned());
    let given: Vec<&str> = given
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut used = vec![false; given.len()];
    let mut out: Vec<String> = Vec::new();
    for line in stored.lines() {
        let k = key(line);
        match given.iter().rposition(|g| k.is_some() && key(g) == k) {
            Some(i) => {
                out.push(given[i].to_owned());
                for (j, g) in given.iter().enumerate() {
                    used[j] |= key(g) == k;
                }
            }
            None => out.push(line.to_owned()),
        }
    }
    out.extend(
        given
            .iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|(g, _)| (*g).to_owned()),
    );
    out.join("\n")
}

/// An injection schedule as the operator types it; empty strings mean "not set".
#[derive(Debug, Clone, Default)]
pub struct InjectionScheduleInput {
    pub interface: String,
    pub name: String,
    pub batch_size: i64,
    pub point_of_sales: String,
    pub filters: InjectionFilters,
    pub barcode_prefix: String,
    pub barcode_suffix: String,
    pub mandatory_holder_fields: String,
    pub main_applicant_rule: String,
    pub force: String,
    pub skip: String,
    pub simulation: bool,
    /// Seconds between automatic runs; `None` for a manual schedule.
    pub frequency_secs: Option<i64>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

pub fn parse_main_applicant_rule(v: &str) -> anyhow::Result<MainApplicantRule> {
    Ok(match v.trim().to_ascii_uppercase().as_str() {
        "" | "ALL" => MainApplicantRule::All,
        "ONLY_MAIN_APPLICANT" => MainApplicantRule::OnlyMainApplicant,
        "FIRST_OF_FILE" => MainApplicantRule::FirstOfFile,
        _ => anyhow::bail!(
            "main applicant rule {v:?}: expected ALL, ONLY_MAIN_APPLICANT or FIRST_OF_FILE"
        ),
    })
}

/// Creates an injection schedule after checking every field (the same checks as
/// [`update_schedule`]).
pub async fn create_injection_schedule(
    store: &dyn TicketingStore,
    input: InjectionScheduleInput,
) -> anyhow::Result<Schedule> {
    let interface = schedule_interface(store, &input.interface, &input.name).await?;
    let params = InjectionParams {
        point_of_sales: parse_point_of_sales(&input.point_of_sales)?,
        filters: clean_filters(input.filters, &InjectionFilters::default()),
        barcode_prefix: input.barcode_prefix,
        barcode_suffix: input.barcode_suffix,
        mandatory_holder_fields: parse_holder_fields(&input.mandatory_holder_fields)?,
        main_applicant_rule: parse_main_applicant_rule(&input.main_applicant_rule)?,
        force: parse_refs("force", &input.force)?,
        skip: parse_refs("skip", &input.skip)?,
        simulation: input.simulation,
    };
    let new = injection_schedule(
        interface.id,
        input.name.trim().to_owned(),
        input.batch_size,
        input.frequency_secs,
        (input.starts_at, input.ends_at),
        &params,
    )?;
    Ok(store.create_schedule(new).await?)
}

/// A Push Cancelled schedule as the operator types it (DOMAIN.md §5.3); empty strings
/// mean "not set".
#[derive(Debug, Clone, Default)]
pub struct PushCancelledScheduleInput {
    pub interface: String,
    pub name: String,
    pub batch_size: i64,
    pub notify_spectator: bool,
    pub force: String,
    pub skip: String,
    pub date_from: Option<DateTime<Utc>>,
    pub simulation: bool,
    /// Seconds between automatic runs; `None` for a manual schedule.
    pub frequency_secs: Option<i64>,
}

/// Creates a Push Cancelled schedule after checking every field.
pub async fn create_push_cancelled_schedule(
    store: &dyn TicketingStore,
    input: PushCancelledScheduleInput,
) -> anyhow::Result<Schedule> {
    let interface = schedule_interface(store, &input.interface, &input.name).await?;
    let params = PushCancelledParams {
        notify_spectator: input.notify_spectator,
        force: parse_refs("force", &input.force)?,
        skip: parse_refs("skip", &input.skip)?,
        date_from: input.date_from,
        simulation: input.simulation,
    };
    if params.date_from.is_some() && input.frequency_secs.is_some() {
        tracing::warn!(
            schedule = %input.name,
            "an automatic schedule with a date from pushes the same tickets again at every run"
        );
    }
    let schedule = Created {
        function: FunctionKind::PushCancelled,
        batch_size: input.batch_size,
        frequency_secs: input.frequency_secs,
        forced: !params.force.is_empty(),
    };
    create(store, &interface, &input.name, schedule, &params).await
}

/// A Push Controlled schedule as the operator types it (DOMAIN.md §5.4); empty strings
/// mean "not set".
#[derive(Debug, Clone, Default)]
pub struct PushControlledScheduleInput {
    pub interface: String,
    pub name: String,
    pub batch_size: i64,
    pub force: String,
    pub skip: String,
    pub date_from: Option<DateTime<Utc>>,
    pub simulation: bool,
    /// Seconds between automatic runs; `None` for a manual schedule.
    pub frequency_secs: Option<i64>,
}

/// Creates a Push Controlled schedule after checking every field.
pub async fn create_push_controlled_schedule(
    store: &dyn TicketingStore,
    input: PushControlledScheduleInput,
) -> anyhow::Result<Schedule> {
    let interface = schedule_interface(store, &input.interface, &input.name).await?;
    let params = PushControlledParams {
        force: parse_refs("force", &input.force)?,
        skip: parse_refs("skip", &input.skip)?,
        date_from: input.date_from,
        simulation: input.simulation,
    };
    let schedule = Created {
        function: FunctionKind::PushControlled,
        batch_size: input.batch_size,
        frequency_secs: input.frequency_secs,
        forced: !params.force.is_empty(),
    };
    create(store, &interface, &input.name, schedule, &params).await
}

/// A Privileges injection schedule as the operator types it (DOMAIN.md §5.5); empty
/// strings mean "not set".
#[derive(Debug, Clone, Default)]
pub struct PrivilegesScheduleInput {
    pub interface: String,
    pub name: String,
    pub batch_size: i64,
    /// `salesChannelCode;posCode`.
    pub point_of_sales: String,
    /// Sales channel, season, product family and product; the other filters of
    /// injection do not apply to cards and are refused.
    pub filters: InjectionFilters,
    pub force: String,
    pub skip: String,
    pub simulation: bool,
    /// Seconds between automatic runs; `None` for a manual schedule.
    pub frequency_secs: Option<i64>,
}

/// Creates a Privileges injection schedule after checking every field.
pub async fn create_privileges_schedule(
    store: &dyn TicketingStore,
    input: PrivilegesScheduleInput,
) -> anyhow::Result<Schedule> {
    let interface = schedule_interface(store, &input.interface, &input.name).await?;
    let f = clean_filters(input.filters, &InjectionFilters::default());
    for (name, value) in [
        ("performance", &f.performance),
        ("tariff", &f.tariff),
        ("category", &f.category),
        ("file number", &f.file_number),
    ] {
        if value.is_some() {
            anyhow::bail!(
                "a {name} filter does not apply to membership and season cards: filter \
                 them by product, product family, season or sales channel"
            );
        }
    }
    let params = PrivilegesParams {
        point_of_sales: parse_point_of_sales(&input.point_of_sales)?,
        filters: f,
        force: parse_refs("force", &input.force)?,
        skip: parse_refs("skip", &input.skip)?,
        simulation: input.simulation,
    };
    let schedule = Created {
        function: FunctionKind::PrivilegesInjection,
        batch_size: input.batch_size,
        frequency_secs: input.frequency_secs,
        forced: !params.force.is_empty(),
    };
    create(store, &interface, &input.name, schedule, &params).await
}

/// A Feedback schedule as the operator types it (DOMAIN.md §5.2).
#[derive(Debug, Clone, Default)]
pub struct FeedbackScheduleInput {
    pub interface: String,
    pub name: String,
    /// Changed tickets applied per execution at most.
    pub batch_size: i64,
    pub skip: String,
    /// Seconds between automatic runs; `None` for a manual schedule.
    pub frequency_secs: Option<i64>,
}

/// Creates a Feedback schedule after checking every field. An interface has one
/// Feedback schedule: one feedback at a time per wallet organizer (DOMAIN.md §5.2),
/// because two executions of one schedule never overlap, even across processes (the
/// execution lease); a second one is refused naming the first.
pub async fn create_feedback_schedule(
    store: &dyn TicketingStore,
    input: FeedbackScheduleInput,
) -> anyhow::Result<Schedule> {
    let interface = schedule_interface(store, &input.interface, &input.name).await?;
    if let Some(other) = store
        .schedules(interface.id)
        .await?
        .into_iter()
        .find(|s| s.function == FunctionKind::Feedback)
    {
        anyhow::bail!(
            "interface {} has a Feedback schedule already, {}: one feedback at a time per \
             wallet organizer (change it with `schedule update`)",
            interface.name,
            other.name
        );
    }
    let params = FeedbackParams {
        skip: parse_refs("skip", &input.skip)?,
    };
    let schedule = Created {
        function: FunctionKind::Feedback,
        batch_size: input.batch_size,
        frequency_secs: input.frequency_secs,
        forced: false,
    };
    create(store, &interface, &input.name, schedule, &params).await
}

/// What `schedule update` changes on a schedule of any function; `None` keeps the
/// stored value. A filter given as an empty string is removed. An option the
/// schedule's function does not have is refused, naming it.
#[derive(Debug, Clone, Default)]
pub struct ScheduleChange {
    pub batch_size: Option<i64>,
    /// Injection and Privileges injection.
    pub point_of_sales: Option<String>,
    /// Injection; Privileges injection takes the sales channel, season, product family
    /// and product.
    pub filters: InjectionFilters,
    /// Injection only.
    pub barcode_prefix: Option<String>,
    /// Injection only.
    pub barcode_suffix: Option<String>,
    /// Injection only.
    pub mandatory_holder_fields: Option<String>,
    /// Injection only.
    pub main_applicant_rule: Option<String>,
    pub force: Option<String>,
    pub skip: Option<String>,
    pub simulation: Option<bool>,
    /// Push Cancelled only: the "Notify spectator" box.
    pub notify_spectator: Option<bool>,
    /// Push Cancelled and Push Controlled: `Some(None)` removes the date.
    pub date_from: Option<Option<DateTime<Utc>>>,
    /// `Some(None)`: launched manually from now on.
    pub frequency_secs: Option<Option<i64>>,
}

impl ScheduleChange {
    /// The options given that `function` does not have, by their command-line names.
    fn foreign_to(&self, function: FunctionKind) -> Vec<&'static str> {
        use FunctionKind::*;
        let f = &self.filters;
        let card_filters = [Injection, PrivilegesInjection];
        let options: [(&str, bool, &[FunctionKind]); 12] = [
            ("--pos", self.point_of_sales.is_some(), &card_filters),
            ("--sales-channel", f.sales_channel.is_some(), &card_filters),
            ("--season", f.season.is_some(), &card_filters),
            (
                "--product-family",
                f.product_family.is_some(),
                &card_filters,
            ),
            ("--product", f.product.is_some(), &card_filters),
            ("--performance", f.performance.is_some(), &[Injection]),
            ("--tariff", f.tariff.is_some(), &[Injection]),
            ("--category", f.category.is_some(), &[Injection]),
            ("--file-number", f.file_number.is_some(), &[Injection]),
            (
                "--barcode-prefix, --barcode-suffix, --mandatory-holder-fields, --main-applicant",
                self.barcode_prefix.is_some()
                    || self.barcode_suffix.is_some()
                    || self.mandatory_holder_fields.is_some()
                    || self.main_applicant_rule.is_some(),
                &[Injection],
            ),
            (
                "--notify-spectator",
                self.notify_spectator.is_some(),
                &[PushCancelled],
            ),
            (
                "--date-from",
                self.date_from.is_some(),
                &[PushCancelled, PushControlled],
            ),
        ];
        options
            .into_iter()
            .filter(|(_, given, allowed)| *given && !allowed.contains(&function))
            .map(|(name, ..)| name)
            .collect()
    }
}

/// The parameters stored with a schedule, as its function reads them.
fn stored<T: serde::de::DeserializeOwned>(s: &Schedule) -> anyhow::Result<T> {
    serde_json::from_value(s.params.clone()).map_err(|e| {
        anyhow::anyhow!(
            "schedule {}: its stored parameters are not valid: {e}",
            s.name
        )
    })
}

/// Updates the schedule named `name`, each given field checked exactly as at
/// creation; an option its function does not have is refused naming it.
pub async fn update_schedule(
    store: &dyn TicketingStore,
    name: &str,
    c: ScheduleChange,
) -> anyhow::Result<Schedule> {
    let current = store
        .schedule_by_name(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no schedule is named {name:?}"))?;
    let function = current.function;
    let foreign = c.foreign_to(function);
    if !foreign.is_empty() {
        anyhow::bail!(
            "schedule {name} runs {}: {} does not apply to it",
            function.label(),
            foreign.join(", ")
        );
    }
    let refs = |given: &Option<String>, what: &str, stored: TicketRefs| match given {
        Some(v) => parse_refs(what, v),
        None => Ok(stored),
    };
    let params = match function {
        FunctionKind::Injection => {
            let mut p: InjectionParams = stored(&current)?;
            if let Some(v) = &c.point_of_sales {
                p.point_of_sales = parse_point_of_sales(v)?;
            }
            p.filters = clean_filters(c.filters, &p.filters);
            p.barcode_prefix = c.barcode_prefix.unwrap_or(p.barcode_prefix);
            p.barcode_suffix = c.barcode_suffix.unwrap_or(p.barcode_suffix);
            if let Some(v) = &c.mandatory_holder_fields {
                p.mandatory_holder_fields = parse_holder_fields(v)?;
            }
            if let Some(v) = &c.main_applicant_rule {
                p.main_applicant_rule = parse_main_applicant_rule(v)?;
            }
            p.force = refs(&c.force, "force", p.force)?;
            p.skip = refs(&c.skip, "skip", p.skip)?;
            p.simulation = c.simulation.unwrap_or(p.simulation);
            serde_json::to_value(p)?
        }
        FunctionKind::PushCancelled => {
            let mut p: PushCancelledParams = stored(&current)?;
            p.notify_spectator = c.notify_spectator.unwrap_or(p.notify_spectator);
            p.date_from = c.date_from.unwrap_or(p.date_from);
            p.force = refs(&c.force, "force", p.force)?;
            p.skip = refs(&c.skip, "skip", p.skip)?;
            p.simulation = c.simulation.unwrap_or(p.simulation);
            serde_json::to_value(p)?
        }
        FunctionKind::PushControlled => {
            let mut p: PushControlledParams = stored(&current)?;
            p.date_from = c.date_from.unwrap_or(p.date_from);
            p.force = refs(&c.force, "force", p.force)?;
            p.skip = refs(&c.skip, "skip", p.skip)?;
            p.simulation = c.simulation.unwrap_or(p.simulation);
            serde_json::to_value(p)?
        }
        FunctionKind::PrivilegesInjection => {
            let mut p: PrivilegesParams = stored(&current)?;
            if let Some(v) = &c.point_of_sales {
                p.point_of_sales = parse_point_of_sales(v)?;
            }
            p.filters = clean_filters(c.filters, &p.filters);
            p.force = refs(&c.force, "force", p.force)?;
            p.skip = refs(&c.skip, "skip", p.skip)?;
            p.simulation = c.simulation.unwrap_or(p.simulation);
            serde_json::to_value(p)?
        }
        FunctionKind::Feedback => {
            if c.force.is_some() || c.simulation.is_some() {
                anyhow::bail!(
                    "schedule {name} runs {}: --force and --simulation do not apply to it",
                    function.label()
                );
            }
            let mut p: FeedbackParams = stored(&current)?;
            p.skip = refs(&c.skip, "skip", p.skip)?;
            serde_json::to_value(p)?
        }
    };
    let forced = params["force"]["ids"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
        || params["force"]["tax_numbers"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
    let timing = Timing {
        batch_size: c.batch_size.unwrap_or(current.batch_size),
        frequency_secs: c.frequency_secs.unwrap_or(current.frequency_secs),
        window: (current.starts_at, current.ends_at),
    };
    let new = schedule_record(
        current.interface_id,
        current.name.clone(),
        function,
        timing,
        forced,
        &params,
    )?;
    Ok(store.update_schedule(current.id, new).await?)
}

/// The stored form of an injection schedule, after the checks that concern the whole
/// schedule (batch size, frequency).
fn injection_schedule(
    interface_id: i64,
    name: String,
    batch_size: i64,
    frequency_secs: Option<i64>,
    window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    params: &InjectionParams,
) -> anyhow::Result<NewSchedule> {
    let timing = Timing {
        batch_size,
        frequency_secs,
        window,
    };
    schedule_record(
        interface_id,
        name,
        FunctionKind::Injection,
        timing,
        !params.force.is_empty(),
        params,
    )
}

/// A new schedule without a start/end window (every function but injection).
struct Created {
    function: FunctionKind,
    batch_size: i64,
    frequency_secs: Option<i64>,
    /// The parameters hold a force list (warned about on an automatic schedule).
    forced: bool,
}

/// Stores a new schedule of `interface` after the checks of [`schedule_record`].
async fn create(
    store: &dyn TicketingStore,
    interface: &tixbridge_store::InterfaceConfig,
    name: &str,
    c: Created,
    params: &impl serde::Serialize,
) -> anyhow::Result<Schedule> {
    let timing = Timing {
        batch_size: c.batch_size,
        frequency_secs: c.frequency_secs,
        window: (None, None),
    };
    let new = schedule_record(
        interface.id,
        name.trim().to_owned(),
        c.function,
        timing,
        c.forced,
        params,
    )?;
    Ok(store.create_schedule(new).await?)
}

/// The interface a new schedule belongs to, once its name is not empty.
async fn schedule_interface(
    store: &dyn TicketingStore,
    interface: &str,
    schedule_name: &str,
) -> anyhow::Result<tixbridge_store::InterfaceConfig> {
    if schedule_name.trim().is_empty() {
        anyhow::bail!("the schedule name is empty");
    }
    store
        .interface_by_name(interface)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no interface is named {interface:?}"))
}

/// When and how much a schedule runs.
struct Timing {
    batch_size: i64,
    frequency_secs: Option<i64>,
    window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
}

/// The stored form of a schedule of any function, after the checks that concern the
/// whole schedule (batch size, frequency; a warning for a force list on an automatic
/// schedule).
fn schedule_record(
    interface_id: i64,
    name: String,
    function: FunctionKind,
    timing: Timing,
    forced: bool,
    params: &impl serde::Serialize,
) -> anyhow::Result<NewSchedule> {
    let Timing {
        batch_size,
        frequency_secs,
        window: (starts_at, ends_at),
    } = timing;
    if batch_size < 1 {
        anyhow::bail!("batch size {batch_size}: must be at least 1");
    }
    if let Some(f) = frequency_secs
        && f < 1
    {
        anyhow::bail!("frequency {f}: must be at least one second");
    }
    if forced && frequency_secs.is_some() {
        tracing::warn!(
            schedule = %name,
            "an automatic schedule with a force list sends those tickets again at every run"
        );
    }
    Ok(NewSchedule {
        interface_id,
        name,
        function,
        launch_mode: if frequency_secs.is_some() {
            LaunchMode::Automatic
        } else {
            LaunchMode::Manual
        },
        frequency_secs,
        starts_at,
        ends_at,
        batch_size,
        params: serde_json::to_value(params)?,
    })
}

/// The filters given over the current ones: `None` keeps, an empty value removes.
fn clean_filters(given: InjectionFilters, current: &InjectionFilters) -> InjectionFilters {
    let pick = |g: Option<String>, c: &Option<String>| match g {
        None => c.clone(),
        Some(v) if v.trim().is_empty() => None,
        Some(v) => Some(v),
    };
    InjectionFilters {
        sales_channel: pick(given.sales_channel, &current.sales_channel),
        season: pick(given.season, &current.season),
        product_family: pick(given.product_family, &current.product_family),
        product: pick(given.product, &current.product),
        performance: pick(given.performance, &current.performance),
        tariff: pick(given.tariff, &current.tariff),
        category: pick(given.category, &current.category),
        file_number: pick(given.file_number, &current.file_number),
    }
}

fn parse_point_of_sales(v: &str) -> anyhow::Result<PointOfSales> {
    PointOfSales::parse(v).map_err(anyhow::Error::msg)
}

fn parse_holder_fields(v: &str) -> anyhow::Result<Vec<HolderField>> {
    HolderField::parse_list(v).map_err(anyhow::Error::msg)
}

fn parse_refs(list: &str, v: &str) -> anyhow::Result<TicketRefs> {
    TicketRefs::parse(v).map_err(|e| anyhow::anyhow!("{list} list: {e}"))
}
