//! Creating interfaces and schedules from operator input: everything is checked here,
//! before it is stored, and errors name the field.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use tixbridge_core::model::{
    FunctionKind, HolderField, InjectionFilters, InjectionParams, InterfaceKind, MainApplicantRule,
    PointOfSales, parse_email_list, validate_interface_url,
};
use tixbridge_core::params::CustomParams;
use tixbridge_core::selection::TicketRefs;
use tixbridge_store::{
    InterfaceConfig, LaunchMode, NewInterface, NewSchedule, Schedule, TicketingStore,
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

pub async fn create_interface(
    store: &dyn TicketingStore,
    input: InterfaceInput,
) -> anyhow::Result<InterfaceConfig> {
    use secrecy::ExposeSecret;
    let kind: InterfaceKind = input.kind.parse().map_err(anyhow::Error::msg)?;
    validate_interface_url(&input.url).map_err(anyhow::Error::msg)?;
    if input.name.trim().is_empty() {
        anyhow::bail!("the interface name is empty");
    }
    if input.api_key.expose_secret().trim().is_empty() {
        anyhow::bail!("the API key (interface password) is empty");
    }
    let emails = parse_email_list(&input.notification_emails).map_err(anyhow::Error::msg)?;
    CustomParams::parse(&input.custom_params)?;
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

pub async fn create_injection_schedule(
    store: &dyn TicketingStore,
    input: InjectionScheduleInput,
) -> anyhow::Result<Schedule> {
    let interface = store
        .interface_by_name(&input.interface)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no interface is named {:?}", input.interface))?;
    if input.name.trim().is_empty() {
        anyhow::bail!("the schedule name is empty");
    }
    if input.batch_size < 1 {
        anyhow::bail!("batch size {}: must be at least 1", input.batch_size);
    }
    if let Some(f) = input.frequency_secs
        && f < 1
    {
        anyhow::bail!("frequency {f}: must be at least one second");
    }
    let mut filters = input.filters;
    for f in [
        &mut filters.sales_channel,
        &mut filters.season,
        &mut filters.product_family,
        &mut filters.product,
        &mut filters.performance,
        &mut filters.tariff,
        &mut filters.category,
        &mut filters.file_number,
    ] {
        if f.as_deref().is_some_and(|s| s.trim().is_empty()) {
            *f = None;
        }
    }
    let params = InjectionParams {
        point_of_sales: PointOfSales::parse(&input.point_of_sales).map_err(anyhow::Error::msg)?,
        filters,
        barcode_prefix: input.barcode_prefix,
        barcode_suffix: input.barcode_suffix,
        mandatory_holder_fields: HolderField::parse_list(&input.mandatory_holder_fields)
            .map_err(anyhow::Error::msg)?,
        main_applicant_rule: parse_main_applicant_rule(&input.main_applicant_rule)?,
        force: TicketRefs::parse(&input.force).map_err(|e| anyhow::anyhow!("force list: {e}"))?,
        skip: TicketRefs::parse(&input.skip).map_err(|e| anyhow::anyhow!("skip list: {e}"))?,
        simulation: input.simulation,
    };
    if !params.force.is_empty() && input.frequency_secs.is_some() {
        tracing::warn!(
            schedule = %input.name,
            "an automatic schedule with a force list sends those tickets again at every run"
        );
    }
    Ok(store
        .create_schedule(NewSchedule {
            interface_id: interface.id,
            name: input.name.trim().to_owned(),
            function: FunctionKind::Injection,
            launch_mode: if input.frequency_secs.is_some() {
                LaunchMode::Automatic
            } else {
                LaunchMode::Manual
            },
            frequency_secs: input.frequency_secs,
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            batch_size: input.batch_size,
            params: serde_json::to_value(&params)?,
        })
        .await?)
}
