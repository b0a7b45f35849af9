//! HTTP contract tests of the wallet service (WALLET-API.md): each check runs against
//! the real service on SQLite, and on PostgreSQL when `TIXBRIDGE_TEST_PG` is set
//! (mandatory under `CI=true`).

mod contract;
mod http_layer;
mod input;
mod lifecycle;
mod privileges;
mod rate;
mod rules;
mod support;

/// One `#[tokio::test]` per check and backend: `sqlite::NAME` and `postgres::NAME`.
macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::support::on_sqlite(|app| async move {
                        crate::contract::$name(&app).await
                    })
                    .await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::support::on_postgres(|app| async move {
                        crate::contract::$name(&app).await
                    })
                    .await;
                }
            )*
        }
    };
}

macro_rules! lifecycle_tests {
    ($($name:ident),* $(,)?) => {
        mod lifecycle_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::support::on_sqlite(|app| async move {
                        crate::lifecycle::$name(&app).await
                    })
                    .await;
                }
            )*
        }
        mod lifecycle_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::support::on_postgres(|app| async move {
                        crate::lifecycle::$name(&app).await
                    })
                    .await;
                }
            )*
        }
    };
}

lifecycle_tests!(
    a_ticket_lives_its_whole_life_through_the_app,
    the_stored_event_decides_expiry_for_every_ticket,
    refusals_name_their_reason_and_change_nothing,
    rejected_and_cancelled_transfers_fail_back_to_the_sender,
    back_office_transfers_ignore_rules_but_not_control,
    deletion_is_pending_then_confirmed_and_listed_apart,
    the_feed_pages_by_change,
    the_track_record_reports_and_verifies,
    a_ticket_row_altered_behind_the_log_is_caught,
    organizers_are_isolated_on_every_endpoint,
    csv_injection_answers_per_row,
    csv_injection_reads_spreadsheet_dialects,
    openapi_documents_every_route,
    metrics_are_prometheus_text,
);

/// Checks that need their own service configuration.
mod configured {
    use crate::support::{
        on_postgres_with, on_sqlite_with, owned_on_postgres, owned_on_sqlite, test_config,
    };

    fn quick_transfers() -> tixbridge_wallet::ServiceConfig {
        let mut c = test_config();
        c.settings.transfer_timeout = chrono::Duration::seconds(1);
        c
    }

    fn no_sandbox() -> tixbridge_wallet::ServiceConfig {
        let mut c = test_config();
        c.sandbox = false;
        c
    }

    fn slow_deletions() -> tixbridge_wallet::ServiceConfig {
        let mut c = test_config();
        c.settings.deletion_delay = chrono::Duration::seconds(3);
        c
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_pending_transfers_time_out() {
        on_sqlite_with(quick_transfers(), |app| async move {
            crate::lifecycle::pending_transfers_time_out(&app).await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_pending_transfers_time_out() {
        on_postgres_with(quick_transfers(), |app| async move {
            crate::lifecycle::pending_transfers_time_out(&app).await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_sessions_need_sandbox_mode() {
        on_sqlite_with(no_sandbox(), |app| async move {
            crate::lifecycle::sessions_need_sandbox_mode(&app).await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_sessions_need_sandbox_mode() {
        on_postgres_with(no_sandbox(), |app| async move {
            crate::lifecycle::sessions_need_sandbox_mode(&app).await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_deletion_survives_a_restart() {
        owned_on_sqlite(
            slow_deletions(),
            crate::lifecycle::deletion_survives_a_restart,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_deletion_survives_a_restart() {
        owned_on_postgres(
            slow_deletions(),
            crate::lifecycle::deletion_survives_a_restart,
        )
        .await;
    }
}

contract_tests!(
    service_endpoints_answer,
    organizer_calls_need_a_key,
    basic_auth_and_header_are_both_accepted,
    too_many_tickets_is_413,
    an_oversized_body_is_413,
    empty_and_malformed_bodies_are_400,
    a_missing_field_is_named_while_others_succeed,
    re_injection_is_idempotent,
    different_content_updates_the_ticket,
    another_organizers_ticket_is_not_found,
    events_and_statistics,
    list_filters,
);

/// One `#[tokio::test]` per check of `crate::$module` and backend, in `mod $module_sqlite`
/// and `mod $module_postgres`.
macro_rules! each_backend {
    ($sqlite:ident, $postgres:ident, $module:ident: $($name:ident),* $(,)?) => {
        mod $sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::support::on_sqlite(|app| async move {
                        crate::$module::$name(&app).await
                    })
                    .await;
                }
            )*
        }
        mod $postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::support::on_postgres(|app| async move {
                        crate::$module::$name(&app).await
                    })
                    .await;
                }
            )*
        }
    };
}

each_backend!(
    rules_sqlite,
    rules_postgres,
    rules: emails_compare_without_case,
    pagination_keys_beyond_the_head_are_refused,
    barcodes_belong_to_one_ticket,
    conflicting_credentials_are_refused,
    the_document_is_what_the_service_accepts,
);
