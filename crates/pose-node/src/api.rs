//! The node's network API (HTTP/1.1 over TCP, axum), for users and for other operators.
//!
//! Why HTTP: every client language speaks it, load balancers and `curl` work, and axum gives
//! body limits and back-pressure for free. The bodies are opaque protocol bytes (encoded
//! `pose-types` messages that the enclave signs and encrypts), so HTTP adds no trust.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /v1/messages` | one encoded message (from a user or an enclave) | `202` accepted, `400` rejected with the reason, `413` too large, `503` busy |
//! | `GET /v1/mailbox/{address}?wait_ms=N&time_ms=T&sig=0x..` | - | `200`, the messages queued for `address`, encoded as a list (long poll up to `N` ms, at most [`WAIT_MS_MAX`]); `401` without a signature, `403` with a wrong, stale or reused one (nothing is taken) |
//! | `GET /v1/status` | - | `200`, JSON: enclave address, attestation, contracts, epochs, sequence numbers |
//! | `GET /v1/contracts` | - | `200`, JSON: every contract's pool, executor, epoch, sequence number on chain, open challenges and executor changes, and the node URLs known ([`crate::explorer`]) |
//! | `GET /explorer` | - | `200`, the explorer page (HTML, polls the two routes above) |
//! | `GET /metrics` | - | `200`, Prometheus metrics |
//!
//! `GET /v1/status` and `GET /v1/contracts` are public and read-only; they answer any origin
//! (`Access-Control-Allow-Origin: *`) so that a node's explorer page can ask the other nodes
//! whether they are up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pose_client::transport::{mailbox_fetch_digest, MAILBOX_FETCH_WINDOW_MS};
use pose_types::codec::{BoundedBytes, BoundedVec, Encode};
use pose_types::limits::MESSAGE_BYTES_MAX;
use pose_types::{Address, SignatureBytes};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::explorer::{self, Explorer};
use crate::mailbox::{Mailboxes, FETCH_BATCH_MAX, MAILBOXES_MAX};
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
    /// This node's enclave: mailbox fetches are signed for it.
    pub enclave: Address,
    /// The time of each user's latest accepted mailbox fetch (a fetch must be newer).
    pub fetch_times: Arc<Mutex<BTreeMap<Address, u64>>>,
    /// The contracts as the chain shows them, for `GET /v1/contracts`.
    pub explorer: Arc<Mutex<Explorer>>,
}

/// A list of messages as `GET /v1/mailbox` returns it.
pub type MailboxBatch = BoundedVec<BoundedBytes<MESSAGE_BYTES_MAX>, FETCH_BATCH_MAX>;

/// The router with every route and the body limit.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/messages", post(post_message))
        .route("/v1/mailbox/{address}", get(get_mailbox))
        .route("/v1/status", get(get_status))
        .route("/v1/contracts", get(get_contracts))
        .route("/explorer", get(get_explorer))
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
    /// The fetch's time (milliseconds since the Unix epoch) the user signed.
    pub time_ms: Option<u64>,
    /// The user's signature (0x-prefixed hex, 65 bytes) over
    /// [`pose_client::transport::mailbox_fetch_digest`] of this node's enclave, the user and
    /// `time_ms`.
    pub sig: Option<String>,
}

/// Checks that a mailbox fetch is signed by `user` for this node and is newer than the user's
/// last accepted one and within [`MAILBOX_FETCH_WINDOW_MS`] of the node's clock; records it.
/// The error is the status and reason to answer.
fn authorize_fetch(
    api: &ApiState,
    user: Address,
    query: &MailboxQuery,
    now_ms: u64,
) -> Result<(), (StatusCode, String)> {
    let (Some(time_ms), Some(sig)) = (query.time_ms, query.sig.as_deref()) else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "unsigned mailbox fetch: only the user may empty its mailbox; add `time_ms` (now, \
             in milliseconds) and `sig`, the user's signature over the mailbox fetch digest \
             (docs/protocol.md section 6.3)"
                .to_owned(),
        ));
    };
    let forbidden = |why: String| (StatusCode::FORBIDDEN, why);
    let sig = sig
        .strip_prefix("0x")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 65]>::try_from(b).ok())
        .ok_or_else(|| forbidden("`sig` is not a 0x-prefixed 65-byte hex signature".into()))?;
    if time_ms.abs_diff(now_ms) > MAILBOX_FETCH_WINDOW_MS {
        return Err(forbidden(format!(
            "the fetch's time {time_ms} ms is more than {MAILBOX_FETCH_WINDOW_MS} ms from the \
             node's clock {now_ms} ms; sign the current time"
        )));
    }
    let digest = mailbox_fetch_digest(api.enclave, user, time_ms);
    if let Err(e) = pose_crypto::verify(&digest, &SignatureBytes(sig), &user) {
        return Err(forbidden(format!(
            "the fetch is not signed by {user} for this node's enclave {}: {e}",
            api.enclave
        )));
    }
    let mut times = api.fetch_times.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(last) = times.get(&user) {
        if time_ms <= *last {
            return Err(forbidden(format!(
                "the fetch's time {time_ms} ms is not after the user's last fetch ({last} ms): \
                 a signed fetch is used once; sign a new one"
            )));
        }
    }
    // Entries older than the window cannot matter any more (such times are refused anyway).
    if times.len() >= MAILBOXES_MAX {
        times.retain(|_, t| t.saturating_add(MAILBOX_FETCH_WINDOW_MS) >= now_ms);
    }
    times.insert(user, time_ms);
    Ok(())
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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
    if let Err((status, why)) = authorize_fetch(&api, address, &query, wall_ms()) {
        api.metrics.count("mailbox", "refused");
        return error(status, why);
    }
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
    ([(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], Json(status)).into_response()
}

async fn get_contracts(State(api): State<ApiState>) -> Response {
    let view = api
        .explorer
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .to_json();
    ([(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], Json(view)).into_response()
}

async fn get_explorer() -> Response {
    Html(explorer::PAGE).into_response()
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
            enclave: NODE_ENCLAVE,
            fetch_times: Default::default(),
            explorer: Default::default(),
        };
        (state, rx)
    }

    const NODE_ENCLAVE: Address = Address([0xee; 20]);

    /// The mailbox URI of `key`'s user with a fetch signed by `signer` for `enclave` at
    /// `time_ms`.
    fn signed_uri(
        key: &pose_crypto::SigningKey,
        signer: &pose_crypto::SigningKey,
        enclave: Address,
        time_ms: u64,
    ) -> String {
        let user = key.address();
        let sig = signer.sign_digest(&mailbox_fetch_digest(enclave, user, time_ms));
        format!(
            "/v1/mailbox/{user}?time_ms={time_ms}&sig=0x{}",
            hex::encode(sig.0)
        )
    }

    async fn get(app: &Router, uri: String) -> Response {
        app.clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap()
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
        let key = pose_crypto::SigningKey::random(&mut pose_crypto::OsRng);
        let user = key.address();
        api.mailboxes.deliver(user, b"reply".to_vec());
        let app = router(api);
        let response = get(&app, signed_uri(&key, &key, NODE_ENCLAVE, wall_ms())).await;
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

    /// Only the user may empty its mailbox: a fetch without a signature, signed by someone
    /// else, signed for another node, too old, or replayed is refused and takes nothing.
    #[tokio::test]
    async fn an_unsigned_or_wrongly_signed_fetch_is_refused_and_drains_nothing() {
        let (api, _rx) = state();
        let key = pose_crypto::SigningKey::random(&mut pose_crypto::OsRng);
        let thief = pose_crypto::SigningKey::random(&mut pose_crypto::OsRng);
        let user = key.address();
        api.mailboxes.deliver(user, b"reply".to_vec());
        let app = router(api);
        let now = wall_ms();

        let unsigned = get(&app, format!("/v1/mailbox/{user}")).await;
        assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
        assert!(body_text(unsigned).await.contains("unsigned mailbox fetch"));
        let refused = [
            (signed_uri(&key, &thief, NODE_ENCLAVE, now), "not signed by"),
            (
                signed_uri(&key, &key, Address([0x11; 20]), now),
                "not signed by",
            ),
            (
                signed_uri(&key, &key, NODE_ENCLAVE, now - 2 * MAILBOX_FETCH_WINDOW_MS),
                "from the node's clock",
            ),
            (
                format!("/v1/mailbox/{user}?time_ms={now}&sig=0x1234"),
                "65-byte",
            ),
        ];
        for (uri, why) in refused {
            let response = get(&app, uri.clone()).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{uri}");
            let text = body_text(response).await;
            assert!(text.contains(why), "{uri}: {text}");
        }

        // Nothing was taken: the user's own fetch gets the reply.
        let own = signed_uri(&key, &key, NODE_ENCLAVE, now);
        let response = get(&app, own.clone()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let batch = MailboxBatch::from_bytes(&bytes).unwrap();
        assert_eq!(batch.as_slice().len(), 1);
        assert_eq!(batch.as_slice()[0].as_ref(), b"reply");
        // A signed fetch is used once.
        let replayed = get(&app, own).await;
        assert_eq!(replayed.status(), StatusCode::FORBIDDEN);
        assert!(body_text(replayed).await.contains("used once"));
    }

    /// The explorer page and its data are served read-only, and the data answers any origin.
    #[tokio::test]
    async fn the_explorer_page_and_its_data_are_served() {
        let (api, _rx) = state();
        api.explorer
            .lock()
            .unwrap()
            .set_node(Address([0x22; 20]), "http://127.0.0.1:1".into());
        let app = router(api);
        let page = get(&app, "/explorer".into()).await;
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let html = body_text(page).await;
        assert!(html.contains("/v1/contracts"), "{html}");
        let data = get(&app, "/v1/contracts".into()).await;
        assert_eq!(data.status(), StatusCode::OK);
        assert_eq!(data.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let json: serde_json::Value = serde_json::from_str(&body_text(data).await).unwrap();
        assert_eq!(json["contracts"], serde_json::json!([]));
        assert_eq!(
            json["nodes"][Address([0x22; 20]).to_string()],
            "http://127.0.0.1:1"
        );
        let post = app
            .oneshot(Request::post("/v1/contracts").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
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
