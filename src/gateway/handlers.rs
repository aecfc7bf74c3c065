//! The gateway's HTTP answers: `/v1/token` for consumers with a key, `/healthz`
//! and `/metrics` for monitoring. Bad input gets a 400 with a JSON error; no token
//! or key is ever logged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Gateway, NoToken};
use crate::desk::consumers::{Refusal, authorize};
use crate::desk::model::TokenTarget;

/// Far more than any token request needs.
const MAX_URI_BYTES: usize = 4096;

pub(super) fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/token", axum::routing::get(token))
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", axum::routing::get(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(gateway.clone(), measured))
        .layer(axum::extract::DefaultBodyLimit::max(1024))
        .with_state(gateway)
}

/// Counts and times every request, and refuses oversized ones before routing.
async fn measured(State(gateway): State<Arc<Gateway>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = if request.uri().to_string().len() > MAX_URI_BYTES {
        error(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            "The request is too long.",
        )
    } else {
        next.run(request).await
    };
    gateway
        .metrics
        .request(response.status().as_u16(), started.elapsed());
    response
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "No such endpoint: the gateway serves /v1/token, /healthz and /metrics.",
    )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": code, "message": message })),
    )
        .into_response()
}

/// The consumer key: `Authorization: Bearer KEY` (the scheme in any case, as
/// RFC 9110 says), or `X-API-Key: KEY`, which Intrexx's REST call and many
/// integration tools send instead.
fn bearer(headers: &HeaderMap) -> &str {
    let from_authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let v = v.trim_start();
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest)
        })
        .map(str::trim);
    from_authorization
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        })
        .unwrap_or("")
}

/// Says that a still-valid token is handed out while its renewal fails.
pub(super) const RENEWAL_HEADER: &str = "x-tokendesk-renewal";

/// The parts of a request the gateway reads itself, for the fuzzer: a key from
/// its two headers and the token query. Never panics.
pub(super) fn read_request_parts(authorization: &[u8], api_key: &[u8], query: &[u8]) {
    let mut headers = HeaderMap::new();
    if let Ok(value) = header::HeaderValue::from_bytes(authorization) {
        headers.insert(header::AUTHORIZATION, value);
    }
    if let Ok(value) = header::HeaderValue::from_bytes(api_key) {
        headers.insert("x-api-key", value);
    }
    let _ = bearer(&headers);
    let query = String::from_utf8_lossy(query);
    if let Ok(uri) = format!("/v1/token?{query}").parse::<axum::http::Uri>() {
        let _ = Query::<TokenQuery>::try_from_uri(&uri);
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    data_source: Option<String>,
    user: Option<String>,
    scope: Option<String>,
}

async fn token(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The query could not be read: use ?data_source=NAME[&user=LOGIN][&scope=S].",
        );
    };
    let Some(data_source) = query.data_source.filter(|d| !d.trim().is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Say which token: ?data_source=NAME[&user=LOGIN].",
        );
    };
    let key = bearer(&headers);
    let user = query.user.as_deref().filter(|u| !u.trim().is_empty());
    let data = gateway.data();
    let consumer = match authorize(&data, key, &data_source, user) {
        Ok(consumer) => consumer.name.clone(),
        Err(Refusal::UnknownKey) => {
            gateway.bad_key(peer.ip()).await;
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid_key",
                "Send a consumer key as Authorization: Bearer <key> or X-API-Key: <key> (tokendesk consumer add).",
            );
        }
        Err(Refusal::NotAllowed) => {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "This consumer key is not allowed this data source or user.",
            );
        }
        Err(Refusal::NotFound) => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                "No such data source or user.",
            );
        }
    };
    gateway.good_key(peer.ip());
    let target = TokenTarget {
        data_source: data_source.clone(),
        app_user: user.map(String::from),
    };
    match gateway.access_token(&target, query.scope.as_deref()).await {
        Ok(handed) => {
            gateway.metrics.hand_out();
            gateway.tally.count(&consumer, &target, chrono::Utc::now());
            let mut body = json!({
                "access_token": handed.token.expose(),
                "token_type": "Bearer",
                "expires_at": handed.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            });
            let mut response =
                (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response();
            if let Some(reason) = handed.renewal_failing {
                body["renewal"] = json!({ "failing": true, "reason": reason });
                response
                    .headers_mut()
                    .insert(RENEWAL_HEADER, header::HeaderValue::from_static("failing"));
            }
            let (parts, _) = response.into_parts();
            (parts, axum::Json(body)).into_response()
        }
        Err(refused) => {
            let message = gateway.data().settings.consumer_status_message.clone();
            let (code, retry_after) = match &refused {
                NoToken::NeedsSignIn(_) => ("needs_sign_in", None),
                NoToken::Waiting { retry_after, .. } => ("renewal_failing", Some(*retry_after)),
                NoToken::Failed(_) => ("no_token", None),
            };
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({
                    "error": code,
                    "message": message,
                    "reason": refused.reason(),
                })),
            )
                .into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
            }
            response
        }
    }
}

/// The truth for monitoring: 200 `ok`; 503 `degraded` while renewal fails for
/// now (tokens are still served while they last), 503 `failing` when the vault
/// cannot be read or went backwards, or someone must sign in again. Names no one
/// beyond the data sources.
async fn healthz(State(gateway): State<Arc<Gateway>>) -> Response {
    let data = gateway.data();
    let now = chrono::Utc::now();
    let rows = crate::desk::status::token_rows(&data, None, now);
    let need_action = rows.iter().filter(|r| r.needs_attention()).count();
    let mut by_state = serde_json::Map::new();
    for row in &rows {
        let entry = by_state
            .entry(row.state.label().to_string())
            .or_insert(json!(0));
        *entry = json!(entry.as_u64().unwrap_or(0) + 1);
    }
    let (health, reasons) = gateway.health(need_action);
    let status = if health == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let vault = match gateway
        .store_problem
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_deref()
    {
        None => "open",
        Some(problem) if problem.contains("went back") => "rolled_back",
        Some(_) => "unreadable",
    };
    (
        status,
        axum::Json(json!({
            "status": health,
            "reasons": reasons,
            "vault": vault,
            "data_sources": data.data_sources.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
            "tokens": rows.len(),
            "need_action": need_action,
            "by_state": by_state,
            "connections": gateway.slots.open(),
            "next_keepalive": *gateway.next_keepalive.lock().unwrap_or_else(|e| e.into_inner()),
        })),
    )
        .into_response()
}

/// On loopback anyone on this machine may read it; beyond, only a consumer.
async fn metrics(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let data = gateway.data();
    if gateway.public {
        if !crate::desk::consumers::is_known_key(&data, bearer(&headers)) {
            gateway.bad_key(peer.ip()).await;
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid_key",
                "Off loopback, /metrics wants a consumer key: Authorization: Bearer <key>.",
            );
        }
        gateway.good_key(peer.ip());
    }
    let rows = crate::desk::status::token_rows(&data, None, chrono::Utc::now());
    let mut text = gateway.metrics.render(
        &rows,
        *gateway
            .next_keepalive
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    gateway.notify_totals.render(&mut text, &data);
    super::Metrics::render_connections(
        &mut text,
        gateway.slots.open(),
        gateway
            .slots
            .refused
            .load(std::sync::atomic::Ordering::Relaxed),
        gateway
            .slots
            .accept_errors
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
