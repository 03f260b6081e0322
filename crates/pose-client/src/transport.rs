//! The client side of the operator node's HTTP API (see `pose-node`'s `api` module for the
//! routes). Bodies are opaque, encoded pose messages; this layer adds no trust and no meaning.

use std::time::Duration;

use pose_crypto::SigningKey;
use pose_types::codec::{BoundedBytes, BoundedVec, Decode};
use pose_types::limits::MESSAGE_BYTES_MAX;
use pose_types::wire::sha256;
use pose_types::{Address, Hash32};

/// Route for posting one message.
pub const ROUTE_MESSAGES: &str = "/v1/messages";
/// Route prefix for a user's mailbox (`/v1/mailbox/{address}`).
pub const ROUTE_MAILBOX: &str = "/v1/mailbox";
/// Route of the node's status document.
pub const ROUTE_STATUS: &str = "/v1/status";
/// Most messages one mailbox fetch returns.
pub const MAILBOX_BATCH_MAX: usize = 64;

/// Domain string of a mailbox fetch signature.
pub const MAILBOX_FETCH_DOMAIN: &[u8] = b"pose.mailbox-fetch.v1";
/// How far a signed mailbox fetch's time may be from the node's clock, in milliseconds.
pub const MAILBOX_FETCH_WINDOW_MS: u64 = 60_000;

/// The digest a user signs to fetch (and so empty) its mailbox at the node hosting
/// `node_enclave`: `sha256("pose.mailbox-fetch.v1" || node_enclave (20) || user (20) ||
/// time_ms (u64, big-endian))`. The enclave address binds the signature to one node; the
/// time, which the node requires to be recent and to grow with every fetch of the user, makes
/// a captured signature useless for a second fetch (docs/protocol.md section 6.3).
pub fn mailbox_fetch_digest(node_enclave: Address, user: Address, time_ms: u64) -> Hash32 {
    sha256(&[
        MAILBOX_FETCH_DOMAIN,
        &node_enclave.0,
        &user.0,
        &time_ms.to_be_bytes(),
    ])
}

/// A list of messages as the mailbox route returns it.
pub type MailboxBatch = BoundedVec<BoundedBytes<MESSAGE_BYTES_MAX>, MAILBOX_BATCH_MAX>;

/// Why a call to a node failed, and whether retrying can help.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The node could not be reached or the connection broke: retry, or use another member.
    #[error("node {url} unreachable: {reason}; retry, or try another pool member")]
    Unreachable {
        /// The node's base URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The node's enclave refused the message: retrying the same bytes will not help.
    #[error("node {url} refused the message: {reason}")]
    Rejected {
        /// The node's base URL.
        url: String,
        /// The reason the node gave.
        reason: String,
    },
    /// The node is overloaded or shutting down: retry after a pause.
    #[error("node {url} is busy: {reason}; retry after a pause")]
    Busy {
        /// The node's base URL.
        url: String,
        /// The reason the node gave.
        reason: String,
    },
    /// The node answered something this client does not understand.
    #[error("node {url} answered unexpectedly: {reason}")]
    BadAnswer {
        /// The node's base URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

impl TransportError {
    /// True if the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Busy { .. })
    }
}

/// A connection pool to operator nodes.
#[derive(Clone, Debug)]
pub struct Transport {
    http: reqwest::Client,
}

impl Default for Transport {
    fn default() -> Self {
        Self::new(Duration::from_secs(40))
    }
}

impl Transport {
    /// A transport whose calls give up after `timeout` (keep it above the long-poll wait).
    pub fn new(timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        Self { http }
    }

    /// Posts one encoded message to the node at `base_url` (e.g. `http://127.0.0.1:7400`).
    pub async fn post_message(&self, base_url: &str, bytes: Vec<u8>) -> Result<(), TransportError> {
        let url = base_url.trim_end_matches('/').to_owned();
        let response = self
            .http
            .post(format!("{url}{ROUTE_MESSAGES}"))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|e| TransportError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let reason = error_text(response).await;
        Err(match status.as_u16() {
            503 => TransportError::Busy { url, reason },
            400 | 413 => TransportError::Rejected { url, reason },
            _ => TransportError::BadAnswer {
                url,
                reason: format!("HTTP {status}: {reason}"),
            },
        })
    }

    /// Fetches the messages queued for `user` at the node hosting `node_enclave`, waiting up
    /// to `wait` for the first. The fetch is signed by `user` ([`mailbox_fetch_digest`] over
    /// the current time), so only the user can empty its mailbox.
    pub async fn fetch_mailbox(
        &self,
        base_url: &str,
        node_enclave: Address,
        user: &SigningKey,
        wait: Duration,
    ) -> Result<Vec<Vec<u8>>, TransportError> {
        let url = base_url.trim_end_matches('/').to_owned();
        let time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let address = user.address();
        let sig = user.sign_digest(&mailbox_fetch_digest(node_enclave, address, time_ms));
        let response = self
            .http
            .get(format!(
                "{url}{ROUTE_MAILBOX}/{address}?wait_ms={}&time_ms={time_ms}&sig=0x{}",
                wait.as_millis(),
                hex::encode(sig.0)
            ))
            .send()
            .await
            .map_err(|e| TransportError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        if !response.status().is_success() {
            let status = response.status();
            let reason = error_text(response).await;
            return Err(match status.as_u16() {
                401 | 403 => TransportError::Rejected { url, reason },
                503 => TransportError::Busy { url, reason },
                _ => TransportError::BadAnswer {
                    url,
                    reason: format!("HTTP {status}: {reason}"),
                },
            });
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| TransportError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let batch = MailboxBatch::from_bytes(&body).map_err(|e| TransportError::BadAnswer {
            url,
            reason: format!("mailbox batch did not decode: {e}"),
        })?;
        Ok(batch
            .into_vec()
            .into_iter()
            .map(|m| m.as_ref().to_vec())
            .collect())
    }

    /// The node's status document.
    pub async fn status(&self, base_url: &str) -> Result<serde_json::Value, TransportError> {
        let url = base_url.trim_end_matches('/').to_owned();
        let response = self
            .http
            .get(format!("{url}{ROUTE_STATUS}"))
            .send()
            .await
            .map_err(|e| TransportError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        response
            .json()
            .await
            .map_err(|e| TransportError::BadAnswer {
                url,
                reason: format!("status is not JSON: {e}"),
            })
    }
}

async fn error_text(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::post;

    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn status_codes_map_to_errors_that_say_whether_to_retry() {
        let router = axum::Router::new().route(
            ROUTE_MESSAGES,
            post(|body: axum::body::Bytes| async move {
                match &body[..] {
                    b"ok" => (StatusCode::ACCEPTED, String::new()),
                    b"busy" => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        r#"{"error":"queue full"}"#.to_owned(),
                    ),
                    _ => (
                        StatusCode::BAD_REQUEST,
                        r#"{"error":"bad signature"}"#.to_owned(),
                    ),
                }
            }),
        );
        let url = serve(router).await;
        let t = Transport::default();
        t.post_message(&url, b"ok".to_vec()).await.unwrap();
        let busy = t.post_message(&url, b"busy".to_vec()).await.unwrap_err();
        assert!(
            busy.is_retryable() && busy.to_string().contains("queue full"),
            "{busy}"
        );
        let bad = t.post_message(&url, b"evil".to_vec()).await.unwrap_err();
        assert!(
            !bad.is_retryable() && bad.to_string().contains("bad signature"),
            "{bad}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_node_is_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let err = Transport::new(Duration::from_secs(2))
            .post_message(&url, b"x".to_vec())
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
