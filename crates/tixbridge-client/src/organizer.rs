//! The organizer API beyond injection: deletion, control, back-office transfer, the
//! change feed and the track record's verification — what the push and feedback
//! functions call.

use serde::Serialize;

use tixbridge_core::api::{
    ControlledTicket, DeleteTicket, DiffPage, ItemResult, MAX_DIFF_LIMIT, MAX_TICKETS_PER_CALL,
    Person, TicketList, TicketState, Verification,
};

use crate::transport::Repeat;
use crate::{ClientError, WalletClient, encode_path, parse_answer};

impl WalletClient {
    /// The organizer API's root: the interface URL without its `/tickets`.
    pub(crate) fn organizer_url(&self) -> &str {
        self.tickets_url
            .strip_suffix("/tickets")
            .unwrap_or(&self.tickets_url)
    }

    fn check_size(n: usize, what: &str) -> Result<(), ClientError> {
        if n == 0 || n > MAX_TICKETS_PER_CALL {
            return Err(ClientError::Usage(format!(
                "a {what} call carries 1 to {MAX_TICKETS_PER_CALL} tickets, not {n}"
            )));
        }
        Ok(())
    }

    async fn post_items<T: Serialize>(
        &self,
        url: &str,
        tickets: &[T],
    ) -> Result<Vec<ItemResult>, ClientError> {
        #[derive(Serialize)]
        struct Body<'a, T> {
            tickets: &'a [T],
        }
        let body = serde_json::to_vec(&Body { tickets })
            .map_err(|e| ClientError::Usage(format!("cannot encode the call: {e}")))?;
        self.post_results(url, body, tickets.len()).await
    }

    /// `POST /organizer/tickets/delete` with 1 to 50 tickets; one result per ticket
    /// (`DELETION_PENDING`, or `DELETED` once confirmed). Repeating is harmless.
    pub async fn delete(&self, tickets: &[DeleteTicket]) -> Result<Vec<ItemResult>, ClientError> {
        Self::check_size(tickets.len(), "deletion")?;
        let url = format!("{}/delete", self.tickets_url);
        self.post_items(&url, tickets).await
    }

    /// `POST /organizer/tickets/controlled` with 1 to 50 tickets. Repeating is harmless.
    pub async fn controlled(
        &self,
        tickets: &[ControlledTicket],
    ) -> Result<Vec<ItemResult>, ClientError> {
        Self::check_size(tickets.len(), "control")?;
        let url = format!("{}/controlled", self.tickets_url);
        self.post_items(&url, tickets).await
    }

    /// `POST /organizer/tickets/{id}/transfer`: a back-office transfer to `to`.
    ///
    /// Not idempotent (a second transfer of the same ticket is refused, or starts
    /// another one): it is resent only when the wallet certainly did not act on it (no
    /// connection, `429`, `503`). After [`ClientError::Dropped`] or
    /// [`ClientError::Timeout`] the transfer may have been applied: read the ticket
    /// ([`WalletClient::ticket`]) before sending it again.
    pub async fn transfer(&self, ticket_id: &str, to: &Person) -> Result<TicketState, ClientError> {
        #[derive(Serialize)]
        struct Body<'a> {
            to: &'a Person,
        }
        let url = format!("{}/{}/transfer", self.tickets_url, encode_path(ticket_id));
        let body = serde_json::to_vec(&Body { to })
            .map_err(|e| ClientError::Usage(format!("cannot encode the call: {e}")))?;
        self.send_json(Repeat::IfNotApplied, &url, body).await
    }

    /// `GET /organizer/tickets/diff`: the page of changes after `key` (empty: from the
    /// start). Commit `nextPageKey` only after applying the page.
    pub async fn diff(&self, key: &str, limit: usize) -> Result<DiffPage, ClientError> {
        self.diff_page(key, limit, "after").await
    }

    /// [`WalletClient::diff`] with each ticket's whole history (tixbridge's
    /// `history=all` extension) and the privileges changed in the same sequence
    /// (`privileges=include`): what Feedback reads, so that the earlier entries of a
    /// ticket paged late are not missed and cards come back too. A wallet without the
    /// extensions ignores them.
    pub async fn diff_whole_history(
        &self,
        key: &str,
        limit: usize,
    ) -> Result<DiffPage, ClientError> {
        self.diff_page(key, limit, "all").await
    }

    async fn diff_page(
        &self,
        key: &str,
        limit: usize,
        history: &str,
    ) -> Result<DiffPage, ClientError> {
        let limit = limit.clamp(1, MAX_DIFF_LIMIT).to_string();
        let url = format!("{}/diff", self.tickets_url);
        let answer = self
            .send(Repeat::Always, || {
                let privileges = if history == "all" {
                    "include"
                } else {
                    "exclude"
                };
                self.http().get(&url).query(&[
                    ("paginationKey", key),
                    ("limit", limit.as_str()),
                    ("history", history),
                    ("privileges", privileges),
                ])
            })
            .await?;
        parse_answer(answer)
    }

    /// `GET /organizer/tickets?paginationKey=K&limit=N` (tixbridge's keyset
    /// extension): up to `limit` tickets (at most 10,000) whose id sorts after `key`
    /// byte by byte (empty: from the first), ticket states with their barcode, and
    /// the key of the next page. What a reconciliation streams. A wallet without the
    /// extension answers without `nextPageKey`: [`ClientError::BadResponse`].
    pub async fn tickets_after(&self, key: &str, limit: usize) -> Result<TicketList, ClientError> {
        let limit = limit.clamp(1, 10_000).to_string();
        let url = self.tickets_url.clone();
        let answer = self
            .send(Repeat::Always, || {
                self.http()
                    .get(&url)
                    .query(&[("paginationKey", key), ("limit", limit.as_str())])
            })
            .await?;
        let list: TicketList = parse_answer(answer)?;
        if list.next_page_key.is_none() {
            return Err(ClientError::BadResponse(
                "the wallet does not page tickets by key (no nextPageKey): it lacks tixbridge's \
                 keyset extension of GET /organizer/tickets"
                    .into(),
            ));
        }
        Ok(list)
    }

    /// `GET /organizer/report/verify`: the wallet recomputes its track record's chain.
    pub async fn verify(&self) -> Result<Verification, ClientError> {
        let url = format!("{}/report/verify", self.organizer_url());
        let answer = self.send(Repeat::Always, || self.http().get(&url)).await?;
        parse_answer(answer)
    }
}
