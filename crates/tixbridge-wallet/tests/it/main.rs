//! HTTP contract tests of the wallet service (WALLET-API.md): each check runs against
//! the real service on SQLite, and on PostgreSQL when `TIXBRIDGE_TEST_PG` is set
//! (mandatory under `CI=true`).

mod contract;
mod rate;
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
