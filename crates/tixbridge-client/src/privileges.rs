//! The organizer API's digital privileges (WALLET-API.md "Digital privileges"): what
//! Privileges injection and Push Cancelled call for membership and season cards.

use reqwest::StatusCode;
use serde::Serialize;

use tixbridge_core::api::{ItemResult, MAX_TICKETS_PER_CALL};
use tixbridge_core::privilege::{Privilege, PrivilegeDeletion, PrivilegeRecord};

use crate::transport::Repeat;
use crate::{ClientError, WalletClient, encode_path, parse_answer};

impl WalletClient {
    /// The privileges endpoint: the interface URL with `privileges` for its `tickets`.
    fn privileges_url(&self) -> String {
        format!("{}/privileges", self.organizer_url())
    }

    /// Posts `{"privileges": [...]}` of 1 to 50 items to `url`; one result per item.
    async fn post_privileges<T: Serialize>(
        &self,
        url: &str,
        privileges: &[T],
        what: &str,
    ) -> Result<Vec<ItemResult>, ClientError> {
        if privileges.is_empty() || privileges.len() > MAX_TICKETS_PER_CALL {
            return Err(ClientError::Usage(format!(
                "a privilege {what} call carries 1 to {MAX_TICKETS_PER_CALL} privileges, not {}",
                privileges.len()
            )));
        }
        #[derive(Serialize)]
        struct Body<'a, T> {
            privileges: &'a [T],
        }
        let body = serde_json::to_vec(&Body { privileges })
            .map_err(|e| ClientError::Usage(format!("cannot encode the call: {e}")))?;
        self.post_results(url, body, privileges.len()).await
    }

    /// `POST /organizer/privileges` with 1 to 50 privileges; one result per privilege,
    /// in order. The same content again is `OK` and changes nothing, so a retry is safe.
    pub async fn inject_privileges(
        &self,
        privileges: &[Privilege],
    ) -> Result<Vec<ItemResult>, ClientError> {
        let url = self.privileges_url();
        self.post_privileges(&url, privileges, "injection").await
    }

    /// `POST /organizer/privileges/delete` with 1 to 50 deletions. Repeating is harmless.
    pub async fn delete_privileges(
        &self,
        deletions: &[PrivilegeDeletion],
    ) -> Result<Vec<ItemResult>, ClientError> {
        let url = format!("{}/delete", self.privileges_url());
        self.post_privileges(&url, deletions, "deletion").await
    }

    /// `GET /organizer/privileges/{privilegeId}`; `None` when the wallet does not know it.
    pub async fn privilege(&self, id: &str) -> Result<Option<PrivilegeRecord>, ClientError> {
        let url = format!("{}/{}", self.privileges_url(), encode_path(id));
        let answer = self.send(Repeat::Always, || self.http().get(&url)).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        parse_answer(answer).map(Some)
    }
}
