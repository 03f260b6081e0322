//! The node's network API (HTTP/1.1 over TCP, axum), for users and for other operators.
//!
//! Why HTTP: every client language speaks it, load balancers and `curl` work, and axum gives
//! body limits and back-pressure for free. The bodies are opaque protocol bytes (encoded
//! `pose-types` messages that the enclave signs and encrypts), so HTTP adds no trust.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /v1/messages` | one encoded message (from a user or an enclave) | `202` accepted, `400` rejected with the reason, `413` too large, `503` busy |
//! | `GET /v1/mailbox/{address}?wait_ms=N` | - | `200`, the messages queued for `address`, encoded as a list (long poll up to `N` ms, at most [`WAIT_MS_MAX`]) |
//! | `GET /v1/status` | - | `200`, JSON: enclave address, attestation, contracts, epochs, sequence numbers |
//! | `GET /metrics` | - | `200`, Prometheus metrics |

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pose_types::codec::{BoundedBytes, BoundedVec, Encode};
use pose_types::limits::MESSAGE_BYTES_MAX;
use pose_types::Address;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::mailbox::{Mailboxes, FETCH_BATCH_MAX};
use crate::metrics::Metrics;

/// Longest long poll a client may ask for, in milliseconds.
pub const WAIT_MS_MAX: u64 = 30_000;

/// A message handed to the node's main loop; `done` learns whether the enclave accepted it.
#[derive(Debug)]
pub struct Inbound {
    /// The encoded message, as received.
    pub bytes: Vec<u8>,
    /// Where the main loop reports the enclave's verdict (`Err` holds the rejection text).
    pub done: oneshot::Sender<Result<(), String>>,
}

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Into the main loop. Bounded: a full queue answers `503`.
    pub inbound: mpsc::Sender<Inbound>,
    /// Messages for users.
    pub mailboxes: Arc<Mailboxes>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The status document the main loop keeps current.
    pub status: Arc<RwLock<serde_json::Value>>,
}

/// A list of messages as `GET /v1/mailbox` returns it.
pub type MailboxBatch = BoundedVec<BoundedBytes<MESSAGE_BYTES_MAX>, FETCH_BATCH_MAX>;

/// The router with every route and the body limit.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/messages", post(post_message))
        .route("/v1/mailbox/{address}", get(get_mailbox))
        .route("/v1/status", get(get_status))
        .route("/metrics", get(get_metrics))
        .layer(DefaultBodyLimit::max(MESSAGE_BYTES_MAX))
        .with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

async fn post_message(State(api): State<ApiState>, body: Bytes) -> Response {
    let started = Instant::now();
    if body.is_empty() {
        api.metrics.count("messages", "rejected");
        return error(
            StatusCode::BAD_REQUEST,
            "empty body: POST one encoded pose message as application/octet-stream",
        );
    }
    let (done, verdict) = oneshot::channel();
    let inbound = Inbound {
        bytes: body.to_vec(),
        done,
    };
    if api.inbound.try_send(inbound).is_err() {
        api.metrics.count("messages", "busy");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "node busy: its queue is full; retry after a short pause",
        );
    }
    let response = match verdict.await {
        Ok(Ok(())) => {
            api.metrics.count("messages", "ok");
            StatusCode::ACCEPTED.into_response()
        }
        Ok(Err(reason)) => {
            api.metrics.count("messages", "rejected");
            error(StatusCode::BAD_REQUEST, format!("rejected: {reason}"))
        }
        Err(_) => {
            api.metrics.count("messages", "busy");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "node shutting down; retry on another pool member",
            )
        }
    };
    api.metrics
        .handle_seconds
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Query of `GET /v1/mailbox/{address}`.
#[derive(Deserialize)]
pub struct MailboxQuery {
    /// How long to wait for a first message, in milliseconds (0: answer at once).
    #[serde(default)]
    pub wait_ms: u64,
}

/// Parses a 0x-prefixed 20-byte hex address.
pub fn parse_address(text: &str) -> Option<Address> {
    let hex_digits = text.strip_prefix("0x")?;
    let bytes = hex::decode(hex_digits).ok()?;
    Some(Address(bytes.try_into().ok()?))
}

async fn get_mailbox(
    State(api): State<ApiState>,
    Path(address): Path<String>,
    Query(query): Query<MailboxQuery>,
) -> Response {
    let Some(address) = parse_address(&address) else {
        api.metrics.count("mailbox", "rejected");
        return error(
            StatusCode::BAD_REQUEST,
            format!("`{address}` is not a 0x-prefixed 20-byte hex address"),
        );
    };
    let wait = Duration::from_millis(query.wait_ms.min(WAIT_MS_MAX));
    let messages = api.mailboxes.fetch(address, wait).await;
    let items: Vec<BoundedBytes<MESSAGE_BYTES_MAX>> = messages
        .into_iter()
        .filter_map(|m| BoundedBytes::try_from(m).ok())
        .collect();
    let Ok(batch) = MailboxBatch::new(items) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "mailbox batch too large");
    };
    api.metrics.count("mailbox", "ok");
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        batch.to_bytes(),
    )
        .into_response()
}

async fn get_status(State(api): State<ApiState>) -> Response {
    let status = api.status.read().unwrap_or_else(|p| p.into_inner()).clone();
    Json(status).into_response()
}

async fn get_metrics(State(api): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use pose_types::codec::Decode;
    use tower::ServiceExt;

    fn state() -> (ApiState, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(4);
        let state = ApiState {
            inbound: tx,
            mailboxes: Arc::new(Mailboxes::default()),
            metrics: Arc::new(Metrics::default()),
            status: Arc::new(RwLock::new(serde_json::json!({"enclave": "0x00"}))),
        };
        (state, rx)
    }

    async fn body_text(response: Response) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_message_reaches_the_main_loop_and_its_verdict_comes_back() {
        let (api, mut rx) = state();
        let app = router(api);
        tokio::spawn(async move {
            while let Some(inbound) = rx.recv().await {
                let verdict = if inbound.bytes == b"good" {
                    Ok(())
                } else {
                    Err("bad signature".to_owned())
                };
                let _ = inbound.done.send(verdict);
            }
        });
        let ok = app
            .clone()
            .oneshot(
                Request::post("/v1/messages")
                    .body(Body::from("good"))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::ACCEPTED);
        let bad = app
            .oneshot(
                Request::post("/v1/messages")
                    .body(Body::from("evil"))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert!(body_text(bad).await.contains("bad signature"));
    }

    #[tokio::test]
    async fn oversized_and_empty_bodies_get_clear_errors() {
        let (api, _rx) = state();
        let app = router(api);
        let huge = vec![0u8; MESSAGE_BYTES_MAX + 1];
        let response = app
            .clone()
            .oneshot(
                Request::post("/v1/messages")
                    .body(Body::from(huge))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let response = app
            .oneshot(Request::post("/v1/messages").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(body_text(response).await.contains("empty body"));
    }

    #[tokio::test]
    async fn mailbox_returns_queued_messages_and_refuses_bad_addresses() {
        let (api, _rx) = state();
        let user = Address([0xab; 20]);
        api.mailboxes.deliver(user, b"reply".to_vec());
        let app = router(api);
        let uri = format!("/v1/mailbox/{user}");
        let response = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let batch = MailboxBatch::from_bytes(&bytes).unwrap();
        assert_eq!(batch.as_slice()[0].as_ref(), b"reply");
        let response = app
            .oneshot(
                Request::get("/v1/mailbox/0x12")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn metrics_count_requests() {
        let (api, _rx) = state();
        let metrics = api.metrics.clone();
        let app = router(api);
        let _ = app
            .clone()
            .oneshot(Request::post("/v1/messages").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let response = app
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let text = body_text(response).await;
        assert!(
            text.contains("pose_api_requests_total{route=\"messages\",outcome=\"rejected\"} 1"),
            "{text}"
        );
        assert!(metrics.render().contains("pose_chain_lag_blocks"));
    }
}
