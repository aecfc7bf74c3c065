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

use super::Gateway;
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

fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("")
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
                "Send a consumer key as Authorization: Bearer <key> (tokendesk consumer add).",
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
            crate::desk::tokens::record_hand_out(&gateway.dir(), &consumer, &target);
            (
                StatusCode::OK,
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(json!({
                    "access_token": handed.token.expose(),
                    "token_type": "Bearer",
                    "expires_at": handed.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                })),
            )
                .into_response()
        }
        Err(e) => {
            let message = gateway.data().settings.consumer_status_message.clone();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({
                    "error": "no_token",
                    "message": message,
                    "reason": e.to_string(),
                })),
            )
                .into_response()
        }
    }
}

/// 200 while the vault is open and no token needs the admin, else 503; names no
/// one beyond the data sources.
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
    let status = if need_action == 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({
            "vault": "open",
            "data_sources": data.data_sources.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
            "tokens": rows.len(),
            "need_action": need_action,
            "by_state": by_state,
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
    let text = gateway.metrics.render(
        &rows,
        *gateway
            .next_keepalive
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
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
