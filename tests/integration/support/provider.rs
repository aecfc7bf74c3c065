//! An identity provider on 127.0.0.1 for the tests, the GUI tests and the benchmarks.
//!
//! Profile `Microsoft` speaks the Microsoft identity platform's v2.0 wire format:
//! tenant-scoped discovery, `/oauth2/v2.0/devicecode` and `/token`, error bodies with
//! `error_codes`, `trace_id` and `correlation_id`, plus Graph's `/v1.0/me` and an
//! EWS endpoint. Profile `Oidc` is a plain RFC 8628 + OpenID Connect provider whose
//! refresh tokens rotate and where replaying a rotated token revokes the grant.
//! Behaviour is scripted per test: answers for the device-code polls, and faults
//! queued per endpoint (errors, 429, 500, dropped connections, slow or broken bodies).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Microsoft,
    Oidc,
}

/// How the provider answers one device-code poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollAnswer {
    Pending,
    SlowDown,
    Approve,
    Decline,
    Expire,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Discovery,
    /// The browser sign-in's authorization endpoint (GET, answers with a redirect).
    Authorize,
    DeviceCode,
    Token,
    UserInfo,
    GraphMe,
    /// Graph's `POST /v1.0/me/sendMail` (the mail is kept, see `sent_mail`).
    GraphSendMail,
    Ews,
    /// RFC 7009 (the OpenID profile only).
    Revocation,
}

/// A misbehaviour for the next request to one endpoint.
#[derive(Debug, Clone)]
pub enum Fault {
    /// An OAuth error body; in the Microsoft profile with `error_codes` and ids.
    OAuth {
        status: u16,
        error: String,
        codes: Vec<u32>,
    },
    /// A bare HTTP status, optionally with Retry-After seconds.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Headers and half a body, then the connection is cut.
    DropConnection,
    /// A 200 whose body is not JSON.
    Malformed,
    /// A 200 JSON body of this many bytes.
    Oversized(usize),
    /// Wait this long before answering normally.
    Slow(Duration),
    /// Answer the token request without a refresh token.
    NoRefreshToken,
    /// Redeem normally (rotating the refresh token), then spoil the success answer.
    Spoil(Spoil),
    /// A 307 to this URL: a client that follows it posts the form there again.
    Redirect(String),
}

/// Where a stored refresh token's grant stands at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantState {
    /// The token is the grant's newest: it will redeem.
    Current,
    /// The provider moved on to `current`; sending this one would be a replay.
    Rotated { current: String },
    /// The grant was revoked (a replay); `current` was its newest token.
    Revoked { current: String },
    /// The provider never issued it.
    Unknown,
}

/// How a success answer that already rotated the refresh token is spoiled.
#[derive(Debug, Clone)]
pub enum Spoil {
    /// An id_token that is not a JWT.
    BrokenIdToken,
    /// A token type tokendesk does not handle.
    TokenType(&'static str),
    /// An empty access_token.
    EmptyAccessToken,
    /// Padding to this many bytes.
    Oversized(usize),
}

impl Fault {
    pub fn aadsts(error: &str, code: u32) -> Fault {
        Fault::OAuth {
            status: 400,
            error: error.into(),
            codes: vec![code],
        }
    }
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub upn: String,
    pub oid: String,
    pub name: String,
}

impl TestUser {
    pub fn new(upn: &str) -> Self {
        TestUser {
            upn: upn.into(),
            oid: format!("oid-{}", upn.split('@').next().unwrap_or(upn)),
            name: upn.split('@').next().unwrap_or(upn).to_string(),
        }
    }
}

/// One request as the provider saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub endpoint: Endpoint,
    pub method: String,
    pub form: BTreeMap<String, String>,
    pub authorization: Option<String>,
}

#[derive(Debug, Clone)]
struct Grant {
    user: TestUser,
    scope: String,
    current_refresh: String,
    last_used: DateTime<Utc>,
    revoked: bool,
}

/// An authorization code handed to the browser, waiting to be redeemed.
#[derive(Debug)]
struct AuthCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    scope: String,
    consumed: bool,
}

/// How the person at the browser answers the authorization page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BrowserAnswer {
    #[default]
    Approve,
    Deny,
}

#[derive(Debug)]
struct DeviceCode {
    user_code: String,
    scope: String,
    consumed: bool,
}

#[derive(Debug)]
struct State {
    profile: Profile,
    tenant: String,
    tenant_id: String,
    client_id: String,
    client_secret: Option<String>,
    interval: Option<u64>,
    expires_in: u64,
    old_verification_url_spelling: bool,
    discovery_available: bool,
    rotate: bool,
    access_lifetime: i64,
    inactivity_window: chrono::Duration,
    now: Option<DateTime<Utc>>,
    user: TestUser,
    poll_script: VecDeque<PollAnswer>,
    faults: HashMap<Endpoint, VecDeque<Fault>>,
    /// Faults for one tenant's endpoints only (two data sources on one provider).
    tenant_faults: HashMap<(String, Endpoint), VecDeque<Fault>>,
    token_latency: Duration,
    device_codes: HashMap<String, DeviceCode>,
    grants: Vec<Grant>,
    /// Every refresh token ever issued, mapped to its grant.
    refresh_index: HashMap<String, usize>,
    access_tokens: HashMap<String, (TestUser, DateTime<Utc>)>,
    requests: Vec<Recorded>,
    counter: u64,
    denied_upns: HashSet<String>,
    /// (grant, token) pairs presented after the grant had moved on.
    replayed: HashSet<(usize, String)>,
    /// A refresh-token lifetime stated in token answers (`refresh_token_expires_in`
    /// in the Microsoft profile, Keycloak's `refresh_expires_in` in the OIDC one).
    refresh_lifetime: Option<i64>,
    /// Whether the id_token carries the account's claims (or only `sub`).
    claims_in_id_token: bool,
    /// A wrong `iss` / `aud` in id_tokens, for the checks.
    id_token_issuer: Option<String>,
    id_token_audience: Option<String>,
    /// `token_endpoint_auth_methods_supported` of the OIDC profile's discovery.
    auth_methods: Vec<String>,
    /// The only client authentication method the token endpoint accepts.
    required_auth_method: Option<String>,
    /// The method each authenticated request used, in order.
    auth_methods_used: Vec<String>,
    /// When each refresh token was handed out (wall clock of this process).
    issued_at: HashMap<String, std::time::Instant>,
    /// Hostile device-code answers: a user code and a "complete" page of our choosing.
    user_code_override: Option<String>,
    complete_override: Option<String>,
    auth_codes: HashMap<String, AuthCode>,
    browser_answer: BrowserAnswer,
    /// Mails sent through Graph: the sending account and the request's JSON.
    sent_mail: Vec<(String, Value)>,
}

/// A running provider. Dropping it stops the server.
pub struct TestProvider {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

pub const TENANT_ID: &str = "7d548d61-6361-4a6e-85e6-509e2c05d05e";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const OIDC_REALM: &str = "realms/test";

impl TestProvider {
    pub fn microsoft() -> Self {
        Self::start(Profile::Microsoft)
    }

    pub fn oidc() -> Self {
        Self::start(Profile::Oidc)
    }

    pub fn start(profile: Profile) -> Self {
        let state = Arc::new(Mutex::new(State {
            profile,
            tenant: "contoso.onmicrosoft.com".into(),
            tenant_id: TENANT_ID.into(),
            client_id: CLIENT_ID.into(),
            client_secret: None,
            interval: Some(5),
            expires_in: 900,
            old_verification_url_spelling: false,
            discovery_available: true,
            rotate: true,
            access_lifetime: 3599,
            inactivity_window: chrono::Duration::days(90),
            now: None,
            user: TestUser::new("sales@contoso.com"),
            poll_script: VecDeque::new(),
            faults: HashMap::new(),
            tenant_faults: HashMap::new(),
            token_latency: Duration::ZERO,
            device_codes: HashMap::new(),
            grants: Vec::new(),
            refresh_index: HashMap::new(),
            access_tokens: HashMap::new(),
            requests: Vec::new(),
            counter: 0,
            denied_upns: HashSet::new(),
            replayed: HashSet::new(),
            user_code_override: None,
            complete_override: None,
            auth_codes: HashMap::new(),
            browser_answer: BrowserAnswer::Approve,
            sent_mail: Vec::new(),
            issued_at: HashMap::new(),
            refresh_lifetime: None,
            claims_in_id_token: true,
            id_token_issuer: None,
            id_token_audience: None,
            auth_methods: Vec::new(),
            required_auth_method: None,
            auth_methods_used: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let shared = Shared {
            state: state.clone(),
            base: format!("http://{addr}"),
            in_flight: in_flight.clone(),
            max_in_flight: max_in_flight.clone(),
        };
        std::thread::Builder::new()
            .name("test-provider".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("provider runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    let app = axum::Router::new().fallback(move |method, uri, headers, body| {
                        let shared = shared.clone();
                        async move { shared.handle(method, uri, headers, body).await }
                    });
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                });
            })
            .expect("provider thread");
        TestProvider {
            addr,
            state,
            in_flight,
            max_in_flight,
            shutdown: Some(tx),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}", self.addr)).expect("base url")
    }

    pub fn profile(&self) -> Profile {
        self.lock().profile
    }

    pub fn tenant(&self) -> String {
        self.lock().tenant.clone()
    }

    /// The issuer URL for the OIDC profile.
    pub fn issuer_url(&self) -> Url {
        Url::parse(&format!("http://{}/{OIDC_REALM}", self.addr)).expect("issuer url")
    }

    pub fn graph_root(&self) -> Url {
        self.base_url()
    }

    pub fn ews_url(&self) -> Url {
        Url::parse(&format!("http://{}/EWS/Exchange.asmx", self.addr)).expect("ews url")
    }

    pub fn set_client_secret(&self, secret: Option<&str>) {
        self.lock().client_secret = secret.map(String::from);
    }

    pub fn set_interval(&self, interval: Option<u64>) {
        self.lock().interval = interval;
    }

    pub fn set_expires_in(&self, seconds: u64) {
        self.lock().expires_in = seconds;
    }

    pub fn use_old_verification_url_spelling(&self) {
        self.lock().old_verification_url_spelling = true;
    }

    pub fn set_discovery_available(&self, available: bool) {
        self.lock().discovery_available = available;
    }

    pub fn set_rotation(&self, rotate: bool) {
        self.lock().rotate = rotate;
    }

    pub fn set_access_lifetime(&self, seconds: i64) {
        self.lock().access_lifetime = seconds;
    }

    pub fn set_inactivity_window(&self, window: chrono::Duration) {
        self.lock().inactivity_window = window;
    }

    /// The provider's own notion of now, for inactivity expiry in virtual time.
    pub fn set_now(&self, now: DateTime<Utc>) {
        self.lock().now = Some(now);
    }

    pub fn set_user(&self, upn: &str) {
        self.lock().user = TestUser::new(upn);
    }

    pub fn set_token_latency(&self, latency: Duration) {
        self.lock().token_latency = latency;
    }

    pub fn script_polls(&self, answers: &[PollAnswer]) {
        self.lock().poll_script.extend(answers.iter().copied());
    }

    /// The user approves: the next poll succeeds.
    /// How the next authorization pages are answered (approve by default).
    pub fn set_browser_answer(&self, answer: BrowserAnswer) {
        self.lock().browser_answer = answer;
    }

    /// Plays the browser: asks the authorization endpoint at `url` and returns where
    /// it sends the browser back (tokendesk's listener, with the code or an error).
    pub fn browser_redirect(url: &str) -> String {
        tokendesk::identity::http::install_crypto_provider();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            let response = client.get(url).send().await.expect("the provider answers");
            response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(String::from)
                .unwrap_or_else(|| panic!("no redirect from {url}: {}", response.status()))
        })
    }

    pub fn approve(&self) {
        self.lock().poll_script.push_back(PollAnswer::Approve);
    }

    pub fn fail_next(&self, endpoint: Endpoint, fault: Fault) {
        self.lock()
            .faults
            .entry(endpoint)
            .or_default()
            .push_back(fault);
    }

    /// A fault for the next request to `endpoint` under `tenant` only.
    pub fn fail_next_for_tenant(&self, tenant: &str, endpoint: Endpoint, fault: Fault) {
        self.lock()
            .tenant_faults
            .entry((tenant.to_ascii_lowercase(), endpoint))
            .or_default()
            .push_back(fault);
    }

    /// Token answers state this refresh-token lifetime in seconds.
    pub fn set_refresh_lifetime(&self, seconds: Option<i64>) {
        self.lock().refresh_lifetime = seconds;
    }

    /// Id_tokens name only the subject (the claims are in the userinfo answer).
    pub fn set_claims_in_id_token(&self, claims: bool) {
        self.lock().claims_in_id_token = claims;
    }

    /// Id_tokens carry this `iss` / `aud` instead of the right ones.
    pub fn set_id_token_origin(&self, issuer: Option<&str>, audience: Option<&str>) {
        let mut state = self.lock();
        state.id_token_issuer = issuer.map(String::from);
        state.id_token_audience = audience.map(String::from);
    }

    /// The OIDC profile lists these client authentication methods in discovery, and
    /// its token endpoint accepts only `required` (when given).
    pub fn set_client_auth(&self, listed: &[&str], required: Option<&str>) {
        let mut state = self.lock();
        state.auth_methods = listed.iter().map(|m| m.to_string()).collect();
        state.required_auth_method = required.map(String::from);
    }

    /// The client authentication method of every authenticated request so far.
    pub fn auth_methods_used(&self) -> Vec<String> {
        self.lock().auth_methods_used.clone()
    }

    /// Device-code answers carry this user code and `verification_uri_complete`.
    pub fn set_device_overrides(&self, user_code: Option<&str>, complete: Option<&str>) {
        let mut state = self.lock();
        state.user_code_override = user_code.map(String::from);
        state.complete_override = complete.map(String::from);
    }

    /// Whether the grant of this user's newest sign-in was revoked (a replay).
    pub fn grant_revoked(&self, upn: &str) -> bool {
        self.lock()
            .grants
            .iter()
            .rev()
            .find(|g| g.user.upn.eq_ignore_ascii_case(upn))
            .is_some_and(|g| g.revoked)
    }

    /// Grants revoked so far (replays detected).
    pub fn revoked_grants(&self) -> usize {
        self.lock().grants.iter().filter(|g| g.revoked).count()
    }

    /// Asserts that every token the vault holds is its grant's current one: no
    /// grant was lost and none would be replayed.
    pub fn assert_every_grant_current(&self, data: &tokendesk::vault::VaultData) {
        for owner in data.each_token() {
            let token = owner.record().refresh_token.as_ref().expect("a token");
            assert_eq!(
                self.grant_state(token.expose()),
                GrantState::Current,
                "{}",
                owner.account()
            );
        }
    }

    /// Where the grant of this refresh token stands.
    pub fn grant_state(&self, refresh_token: &str) -> GrantState {
        let state = self.lock();
        let Some(&index) = state.refresh_index.get(refresh_token) else {
            return GrantState::Unknown;
        };
        let grant = &state.grants[index];
        if grant.revoked {
            GrantState::Revoked {
                current: grant.current_refresh.clone(),
            }
        } else if grant.current_refresh == refresh_token {
            GrantState::Current
        } else {
            GrantState::Rotated {
                current: grant.current_refresh.clone(),
            }
        }
    }

    /// When the provider handed out this refresh token.
    pub fn issued_at(&self, refresh_token: &str) -> Option<std::time::Instant> {
        self.lock().issued_at.get(refresh_token).copied()
    }

    /// Refresh tokens presented after their grant had already rotated them away.
    pub fn replays(&self) -> usize {
        self.lock().replayed.len()
    }

    /// Revokes every grant of this user (password reset, admin revocation).
    pub fn revoke_user(&self, upn: &str) {
        for grant in self.lock().grants.iter_mut() {
            if grant.user.upn.eq_ignore_ascii_case(upn) {
                grant.revoked = true;
            }
        }
    }

    /// Mails sent through Graph's sendMail: (sending account, request JSON).
    pub fn sent_mail(&self) -> Vec<(String, Value)> {
        self.lock().sent_mail.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.endpoint == endpoint)
            .collect()
    }

    /// Every refresh token the provider ever issued.
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        self.lock().refresh_index.keys().cloned().collect()
    }

    /// Every access token the provider ever issued.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.lock().access_tokens.keys().cloned().collect()
    }

    /// The refresh token a grant currently accepts (its newest).
    pub fn current_refresh_token_of(&self, upn: &str) -> Option<String> {
        self.lock()
            .grants
            .iter()
            .rev()
            .find(|g| g.user.upn.eq_ignore_ascii_case(upn) && !g.revoked)
            .map(|g| g.current_refresh.clone())
    }

    /// Mints a grant directly, as if `upn` had signed in at `at`; returns the refresh token.
    pub fn issue_grant(&self, upn: &str, scope: &str, at: DateTime<Utc>) -> String {
        let mut state = self.lock();
        let user = TestUser::new(upn);
        state.new_grant(user, scope.into(), at)
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

    fn next_id(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn random_suffix(&mut self) -> String {
        let n = self.next_id();
        let bytes: [u8; 12] = rand::random();
        format!(
            "{n}-{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    }

    fn new_grant(&mut self, user: TestUser, scope: String, at: DateTime<Utc>) -> String {
        let refresh = format!("rt-{}", self.random_suffix());
        let index = self.grants.len();
        self.grants.push(Grant {
            user,
            scope,
            current_refresh: refresh.clone(),
            last_used: at,
            revoked: false,
        });
        self.refresh_index.insert(refresh.clone(), index);
        self.issued_at
            .insert(refresh.clone(), std::time::Instant::now());
        refresh
    }

    fn id_token(&self, user: &TestUser, base: &str) -> String {
        self.id_token_with_nonce(user, base, None)
    }

    fn id_token_with_nonce(&self, user: &TestUser, base: &str, nonce: Option<&str>) -> String {
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let issuer = match self.profile {
            Profile::Microsoft => format!("{base}/{}/v2.0", self.tenant_id),
            Profile::Oidc => format!("{base}/{OIDC_REALM}"),
        };
        let issuer = self.id_token_issuer.clone().unwrap_or(issuer);
        let audience = self
            .id_token_audience
            .clone()
            .unwrap_or_else(|| self.client_id.clone());
        let mut claims = if self.claims_in_id_token {
            json!({
                "aud": audience,
                "iss": issuer,
                "preferred_username": user.upn,
                "email": user.upn,
                "name": user.name,
                "oid": user.oid,
                "sub": user.oid,
                "tid": self.tenant_id,
            })
        } else {
            // oidc-provider's default: the id_token names only the subject; the
            // claims come from the userinfo endpoint.
            json!({ "aud": audience, "iss": issuer, "sub": user.oid })
        };
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        format!(
            "{}.{}.c2lnbmF0dXJl",
            enc.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            enc.encode(claims.to_string())
        )
    }

    /// A token answer for `grant`, with a new refresh token when rotating.
    fn token_answer(
        &mut self,
        grant_index: usize,
        base: &str,
        rotate: bool,
        with_refresh: bool,
    ) -> Value {
        let access = format!("at-{}", self.random_suffix());
        let now = self.now();
        let user = self.grants[grant_index].user.clone();
        self.access_tokens.insert(
            access.clone(),
            (
                user.clone(),
                now + chrono::Duration::seconds(self.access_lifetime),
            ),
        );
        let mut body = json!({
            "token_type": "Bearer",
            "scope": self.grants[grant_index].scope,
            "expires_in": self.access_lifetime,
            "ext_expires_in": self.access_lifetime,
            "access_token": access,
            "id_token": self.id_token(&user, base),
        });
        if with_refresh {
            let refresh = if rotate {
                let refresh = format!("rt-{}", self.random_suffix());
                self.refresh_index.insert(refresh.clone(), grant_index);
                self.issued_at
                    .insert(refresh.clone(), std::time::Instant::now());
                self.grants[grant_index].current_refresh = refresh.clone();
                refresh
            } else {
                self.grants[grant_index].current_refresh.clone()
            };
            if rotate || self.profile == Profile::Microsoft {
                body["refresh_token"] = Value::String(refresh);
            }
        }
        if let Some(seconds) = self.refresh_lifetime {
            let name = match self.profile {
                Profile::Microsoft => "refresh_token_expires_in",
                Profile::Oidc => "refresh_expires_in",
            };
            body[name] = json!(seconds);
        }
        body
    }

    fn error_body(&mut self, error: &str, codes: &[u32], description: &str) -> Value {
        match self.profile {
            Profile::Microsoft => {
                let code = codes.first().copied().unwrap_or(0);
                let trace = format!("trace-{}", self.next_id());
                let correlation = format!("corr-{}", self.next_id());
                json!({
                    "error": error,
                    "error_description": format!("AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} Timestamp: 2026-11-22 10:00:00Z"),
                    "error_codes": codes,
                    "timestamp": "2026-11-22 10:00:00Z",
                    "trace_id": trace,
                    "correlation_id": correlation,
                    "error_uri": "https://login.microsoftonline.com/error?code=".to_string() + &code.to_string(),
                })
            }
            Profile::Oidc => json!({ "error": error, "error_description": description }),
        }
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    base: String,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(body.to_string()))
        .expect("response")
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn route(&self, method: &Method, path: &str) -> Option<(Endpoint, Option<String>)> {
        let state = self.lock();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match state.profile {
            Profile::Microsoft => match (method, segments.as_slice()) {
                (&Method::GET, [tenant, "v2.0", ".well-known", "openid-configuration"]) => {
                    Some((Endpoint::Discovery, Some(tenant.to_string())))
                }
                (&Method::GET, [tenant, "oauth2", "v2.0", "authorize"]) => {
                    Some((Endpoint::Authorize, Some(tenant.to_string())))
                }
                (&Method::POST, [tenant, "oauth2", "v2.0", "devicecode"]) => {
                    Some((Endpoint::DeviceCode, Some(tenant.to_string())))
                }
                (&Method::POST, [tenant, "oauth2", "v2.0", "token"]) => {
                    Some((Endpoint::Token, Some(tenant.to_string())))
                }
                (&Method::GET, ["oidc", "userinfo"]) => Some((Endpoint::UserInfo, None)),
                (&Method::GET, ["v1.0", "me"]) => Some((Endpoint::GraphMe, None)),
                (&Method::POST, ["v1.0", "me", "sendMail"]) => {
                    Some((Endpoint::GraphSendMail, None))
                }
                (&Method::POST, ["EWS", "Exchange.asmx"]) => Some((Endpoint::Ews, None)),
                _ => None,
            },
            Profile::Oidc => match (method, segments.as_slice()) {
                (&Method::GET, ["realms", "test", ".well-known", "openid-configuration"]) => {
                    Some((Endpoint::Discovery, None))
                }
                (&Method::POST, ["realms", "test", "device"]) => Some((Endpoint::DeviceCode, None)),
                (&Method::GET, ["realms", "test", "auth"]) => Some((Endpoint::Authorize, None)),
                (&Method::POST, ["realms", "test", "token"]) => Some((Endpoint::Token, None)),
                (&Method::GET, ["realms", "test", "userinfo"]) => Some((Endpoint::UserInfo, None)),
                (&Method::POST, ["realms", "test", "revoke"]) => Some((Endpoint::Revocation, None)),
                _ => None,
            },
        }
    }

    async fn handle(self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let now_in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight
            .fetch_max(now_in_flight, Ordering::SeqCst);
        let _guard = InFlight(self.in_flight.clone());

        let Some((endpoint, tenant)) = self.route(&method, uri.path()) else {
            return json_response(404, &json!({"error": "not_found"}));
        };
        if endpoint == Endpoint::Authorize {
            let query: BTreeMap<String, String> =
                url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            self.lock().requests.push(Recorded {
                endpoint,
                method: method.to_string(),
                form: query.clone(),
                authorization: None,
            });
            return self.authorize(tenant, &query);
        }
        let mut form: BTreeMap<String, String> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        if matches!(
            endpoint,
            Endpoint::Token | Endpoint::DeviceCode | Endpoint::Revocation
        ) && let Some(problem) = self.client_authentication(authorization.as_deref(), &mut form)
        {
            return problem;
        }
        let (fault, latency) = {
            let mut state = self.lock();
            state.requests.push(Recorded {
                endpoint,
                method: method.to_string(),
                form: form.clone(),
                authorization: authorization.clone(),
            });
            let tenant_key = tenant
                .as_deref()
                .map(|t| (t.to_ascii_lowercase(), endpoint));
            let fault = tenant_key
                .and_then(|key| {
                    state
                        .tenant_faults
                        .get_mut(&key)
                        .and_then(|q| q.pop_front())
                })
                .or_else(|| state.faults.get_mut(&endpoint).and_then(|q| q.pop_front()));
            let latency = if endpoint == Endpoint::Token {
                state.token_latency
            } else {
                Duration::ZERO
            };
            (fault, latency)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut no_refresh = false;
        let mut spoil = None;
        match fault {
            None => {}
            Some(Fault::Spoil(how)) => spoil = Some(how),
            Some(Fault::Redirect(location)) => {
                return Response::builder()
                    .status(307)
                    .header(header::LOCATION, location)
                    .body(Body::empty())
                    .expect("response");
            }
            Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
            Some(Fault::NoRefreshToken) => no_refresh = true,
            Some(Fault::OAuth {
                status,
                error,
                codes,
            }) => {
                let body = self.lock().error_body(&error, &codes, "Scripted failure.");
                return json_response(status, &body);
            }
            Some(Fault::Status {
                status,
                retry_after,
            }) => {
                let mut builder = Response::builder()
                    .status(status)
                    .header(header::CONTENT_TYPE, "text/html");
                if let Some(seconds) = retry_after {
                    builder = builder.header(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                return builder
                    .body(Body::from(format!(
                        "<html><body>HTTP {status}</body></html>"
                    )))
                    .expect("response");
            }
            Some(Fault::DropConnection) => {
                let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                    Ok(Bytes::from_static(b"{\"access_token\":\"at-partial")),
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "cut",
                    )),
                ];
                return Response::builder()
                    .status(200)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::CONTENT_LENGTH, "4096")
                    .body(Body::from_stream(futures_util::stream::iter(chunks)))
                    .expect("response");
            }
            Some(Fault::Malformed) => {
                return Response::builder()
                    .status(200)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(
                        "{\"access_token\": \"at-1\", \"expires_in\": 3599,",
                    ))
                    .expect("response");
            }
            Some(Fault::Oversized(size)) => {
                let filler = "x".repeat(size);
                return json_response(200, &json!({ "access_token": "at-big", "padding": filler }));
            }
        }
        match endpoint {
            Endpoint::Revocation => self.revocation(&form),
            Endpoint::Discovery => self.discovery(tenant),
            Endpoint::DeviceCode => self.device_code(tenant, &form),
            Endpoint::Authorize => json_response(405, &json!({"error": "invalid_request"})),
            Endpoint::Token => {
                let response = self.token(tenant, &form, no_refresh);
                match spoil {
                    Some(how) if response.status() == StatusCode::OK => {
                        spoiled(response, how).await
                    }
                    _ => response,
                }
            }
            Endpoint::UserInfo | Endpoint::GraphMe | Endpoint::Ews => {
                self.api(endpoint, authorization.as_deref())
            }
            Endpoint::GraphSendMail => self.send_mail(authorization.as_deref(), &body),
        }
    }

    /// Reads `client_secret_basic` credentials into the form (RFC 6749 §2.3.1), and
    /// refuses two methods at once or the one the provider was told not to take.
    fn client_authentication(
        &self,
        authorization: Option<&str>,
        form: &mut BTreeMap<String, String>,
    ) -> Option<Response> {
        let basic = authorization.and_then(|a| a.strip_prefix("Basic "));
        let mut state = self.lock();
        let method = match basic {
            Some(encoded) => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default();
                let (id, secret) = decoded.split_once(':').unwrap_or((&decoded, ""));
                let decode = |v: &str| {
                    url::form_urlencoded::parse(format!("v={v}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                if form.contains_key("client_secret") {
                    let body = state.error_body(
                        "invalid_request",
                        &[],
                        "client authentication must only be provided using one mechanism",
                    );
                    return Some(json_response(400, &body));
                }
                form.insert("client_id".into(), decode(id));
                form.insert("client_secret".into(), decode(secret));
                Some("client_secret_basic")
            }
            None if form.contains_key("client_secret") => Some("client_secret_post"),
            None => None,
        };
        state.auth_methods_used.extend(method.map(String::from));
        match (state.required_auth_method.clone(), method) {
            (Some(required), Some(used)) if required != used => {
                let body = state.error_body(
                    "invalid_client",
                    &[],
                    &format!("the client must authenticate with {required}, not {used}"),
                );
                Some(json_response(401, &body))
            }
            _ => None,
        }
    }

    fn tenant_error(&self, tenant: &Option<String>) -> Option<Response> {
        let mut state = self.lock();
        let tenant = tenant.as_deref()?;
        let known = [
            state.tenant.as_str(),
            state.tenant_id.as_str(),
            "organizations",
            "common",
        ];
        if known.iter().any(|t| t.eq_ignore_ascii_case(tenant)) {
            return None;
        }
        let body = state.error_body(
            "invalid_tenant",
            &[90002],
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        );
        Some(json_response(400, &body))
    }

    fn discovery(&self, tenant: Option<String>) -> Response {
        if let Some(error) = self.tenant_error(&tenant) {
            return error;
        }
        let state = self.lock();
        if !state.discovery_available {
            return json_response(404, &json!({"error": "not_found"}));
        }
        let base = &self.base;
        let document = match state.profile {
            Profile::Microsoft => {
                let t = tenant.unwrap_or_default();
                json!({
                    "issuer": format!("{base}/{}/v2.0", state.tenant_id),
                    "authorization_endpoint": format!("{base}/{t}/oauth2/v2.0/authorize"),
                    "token_endpoint": format!("{base}/{t}/oauth2/v2.0/token"),
                    "device_authorization_endpoint": format!("{base}/{t}/oauth2/v2.0/devicecode"),
                    "userinfo_endpoint": format!("{base}/oidc/userinfo"),
                    "jwks_uri": format!("{base}/{t}/discovery/v2.0/keys"),
                    "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                    "scopes_supported": ["openid", "profile", "email", "offline_access"],
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                    "tenant_region_scope": "EU",
                    "cloud_instance_name": "microsoftonline.com",
                })
            }
            Profile::Oidc => json!({
                "issuer": format!("{base}/{OIDC_REALM}"),
                "authorization_endpoint": format!("{base}/{OIDC_REALM}/auth"),
                "authorization_response_iss_parameter_supported": true,
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint": format!("{base}/{OIDC_REALM}/token"),
                "device_authorization_endpoint": format!("{base}/{OIDC_REALM}/device"),
                "userinfo_endpoint": format!("{base}/{OIDC_REALM}/userinfo"),
                "revocation_endpoint": format!("{base}/{OIDC_REALM}/revoke"),
                "grant_types_supported": ["refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
                "token_endpoint_auth_methods_supported": state.auth_methods,
            }),
        };
        json_response(200, &document)
    }

    /// RFC 7009: the grant of a known refresh token is revoked; an unknown token is
    /// answered with 200 as well (2.2), a missing one with 400.
    fn revocation(&self, form: &BTreeMap<String, String>) -> Response {
        let Some(token) = form.get("token") else {
            return json_response(400, &json!({"error": "invalid_request"}));
        };
        let mut state = self.lock();
        if let Some(&index) = state.refresh_index.get(token) {
            state.grants[index].revoked = true;
        }
        Response::builder()
            .status(200)
            .body(Body::empty())
            .expect("response")
    }

    fn client_error(&self, form: &BTreeMap<String, String>) -> Option<Response> {
        let mut state = self.lock();
        let client_id = form.get("client_id").map(String::as_str).unwrap_or("");
        if client_id != state.client_id {
            let error = if state.profile == Profile::Microsoft {
                "unauthorized_client"
            } else {
                "invalid_client"
            };
            let body = state.error_body(
                error,
                &[700016],
                &format!(
                    "Application with identifier '{client_id}' was not found in the directory."
                ),
            );
            return Some(json_response(400, &body));
        }
        let sent = form.get("client_secret");
        let expected = state.client_secret.clone();
        let problem = match (&expected, sent) {
            (None, Some(_)) => Some((
                700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
            )),
            (Some(_), None) => Some((
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )),
            (Some(expected), Some(sent)) if expected != sent => {
                Some((7000215, "Invalid client secret provided."))
            }
            _ => None,
        };
        problem.map(|(code, text)| {
            let body = state.error_body("invalid_client", &[code], text);
            json_response(401, &body)
        })
    }

    fn device_code(&self, tenant: Option<String>, form: &BTreeMap<String, String>) -> Response {
        if let Some(error) = self.tenant_error(&tenant) {
            return error;
        }
        if let Some(error) = self.client_error(form) {
            return error;
        }
        let mut state = self.lock();
        let scope = form.get("scope").cloned().unwrap_or_default();
        if scope.trim().is_empty() {
            let body = state.error_body(
                "invalid_request",
                &[900144],
                "The request body must contain the following parameter: 'scope'.",
            );
            return json_response(400, &body);
        }
        let device_code = format!("dc-{}", state.random_suffix());
        let n = state.next_id();
        let user_code = format!("{:04X}-{:04X}", (n * 7919) % 65536, (n * 104729) % 65536);
        state.device_codes.insert(
            device_code.clone(),
            DeviceCode {
                user_code: user_code.clone(),
                scope,
                consumed: false,
            },
        );
        let base = &self.base;
        let mut body = json!({
            "device_code": device_code,
            "user_code": user_code,
            "expires_in": state.expires_in,
        });
        let page = match state.profile {
            Profile::Microsoft => format!("{base}/devicelogin"),
            Profile::Oidc => format!("{base}/{OIDC_REALM}/device"),
        };
        let key = if state.old_verification_url_spelling {
            "verification_url"
        } else {
            "verification_uri"
        };
        body[key] = Value::String(page.clone());
        if let Some(interval) = state.interval {
            body["interval"] = json!(interval);
        }
        if let Some(code) = &state.user_code_override {
            body["user_code"] = Value::String(code.clone());
        }
        if let Some(complete) = &state.complete_override {
            body["verification_uri_complete"] = Value::String(complete.clone());
            return json_response(200, &body);
        }
        match state.profile {
            Profile::Microsoft => {
                body["message"] = Value::String(format!(
                    "To sign in, use a web browser to open the page {page} and enter the code {user_code} to authenticate."
                ));
            }
            Profile::Oidc => {
                body["verification_uri_complete"] =
                    Value::String(format!("{page}?user_code={user_code}"));
            }
        }
        json_response(200, &body)
    }

    fn token(
        &self,
        tenant: Option<String>,
        form: &BTreeMap<String, String>,
        no_refresh: bool,
    ) -> Response {
        if let Some(error) = self.tenant_error(&tenant) {
            return error;
        }
        if let Some(error) = self.client_error(form) {
            return error;
        }
        match form.get("grant_type").map(String::as_str) {
            Some("urn:ietf:params:oauth:grant-type:device_code") => {
                self.device_token(form, no_refresh)
            }
            Some("refresh_token") => self.refresh(form, no_refresh),
            Some("authorization_code") => self.code_token(form, no_refresh),
            other => {
                let body = self.lock().error_body(
                    "unsupported_grant_type",
                    &[70003],
                    &format!(
                        "The app requested an unsupported grant type '{}'.",
                        other.unwrap_or("")
                    ),
                );
                json_response(400, &body)
            }
        }
    }

    /// The authorization endpoint: checks the request as Microsoft does (client,
    /// response type, a loopback redirect URI, PKCE S256), then sends the browser
    /// back with a code (or the person's refusal), `state` and `iss`.
    fn authorize(&self, tenant: Option<String>, query: &BTreeMap<String, String>) -> Response {
        let mut state = self.lock();
        let get = |name: &str| query.get(name).cloned().unwrap_or_default();
        let redirect_uri = get("redirect_uri");
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| redirect_uri.starts_with(p));
        let problem = if get("client_id") != state.client_id {
            Some("unauthorized_client")
        } else if !loopback {
            Some("invalid_request: redirect_uri")
        } else if get("response_type") != "code" {
            Some("unsupported_response_type")
        } else if get("code_challenge_method") != "S256" || get("code_challenge").len() < 43 {
            Some("invalid_request: PKCE S256 required")
        } else {
            None
        };
        if let Some(problem) = problem {
            // No redirect for a request that cannot be trusted: an error page.
            return json_response(400, &json!({ "error": problem }));
        }
        let issuer = match state.profile {
            Profile::Microsoft => format!("{}/{}/v2.0", self.base, state.tenant_id),
            Profile::Oidc => format!("{}/{OIDC_REALM}", self.base),
        };
        let _ = tenant;
        let mut back = Url::parse(&redirect_uri).expect("loopback redirect URI");
        {
            let mut pairs = back.query_pairs_mut();
            match state.browser_answer {
                BrowserAnswer::Deny => {
                    pairs.append_pair("error", "access_denied");
                    pairs.append_pair("error_description", "The user declined.");
                }
                BrowserAnswer::Approve => {
                    let code = format!("code-{}", state.random_suffix());
                    state.auth_codes.insert(
                        code.clone(),
                        AuthCode {
                            client_id: get("client_id"),
                            redirect_uri: redirect_uri.clone(),
                            challenge: get("code_challenge"),
                            nonce: query.get("nonce").cloned(),
                            scope: get("scope"),
                            consumed: false,
                        },
                    );
                    pairs.append_pair("code", &code);
                }
            }
            pairs.append_pair("state", &get("state"));
            pairs.append_pair("iss", &issuer);
        }
        Response::builder()
            .status(302)
            .header(header::LOCATION, back.as_str())
            .body(Body::empty())
            .expect("response")
    }

    /// The code grant: the code once, for the same client and redirect URI, with
    /// the verifier whose S256 is the challenge.
    fn code_token(&self, form: &BTreeMap<String, String>, no_refresh: bool) -> Response {
        let mut state = self.lock();
        let code = form.get("code").cloned().unwrap_or_default();
        let get = |name: &str| form.get(name).cloned().unwrap_or_default();
        let verifier = get("code_verifier");
        let challenge = {
            let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
        };
        let refused = match state.auth_codes.get(&code) {
            None => Some((70000, "The provided authorization code is invalid.")),
            Some(entry) if entry.consumed => {
                Some((54005, "OAuth2 Authorization code was already redeemed."))
            }
            Some(entry) if entry.client_id != get("client_id") => {
                Some((70000, "The code was issued to another client."))
            }
            Some(entry) if entry.redirect_uri != get("redirect_uri") => Some((
                50148,
                "The redirect URI does not match the authorization request's.",
            )),
            Some(entry) if entry.challenge != challenge => Some((
                501481,
                "The Code_Verifier does not match the code_challenge.",
            )),
            Some(_) => None,
        };
        if let Some((number, text)) = refused {
            let body = state.error_body("invalid_grant", &[number], text);
            return json_response(400, &body);
        }
        let (scope, nonce) = {
            let entry = state.auth_codes.get_mut(&code).expect("checked");
            entry.consumed = true;
            (entry.scope.clone(), entry.nonce.clone())
        };
        let user = state.user.clone();
        let now = state.now();
        let with_refresh = !no_refresh && scope.split_whitespace().any(|s| s == "offline_access");
        state.new_grant(user.clone(), scope, now);
        let index = state.grants.len() - 1;
        let base = self.base.clone();
        let mut body = state.token_answer(index, &base, false, false);
        body["id_token"] = Value::String(state.id_token_with_nonce(&user, &base, nonce.as_deref()));
        if with_refresh {
            body["refresh_token"] = Value::String(state.grants[index].current_refresh.clone());
        }
        json_response(200, &body)
    }

    fn device_token(&self, form: &BTreeMap<String, String>, no_refresh: bool) -> Response {
        let mut state = self.lock();
        let device_code = form.get("device_code").cloned().unwrap_or_default();
        let microsoft = state.profile == Profile::Microsoft;
        let Some(entry) = state.device_codes.get(&device_code) else {
            let body = state.error_body(
                "bad_verification_code",
                &[70019],
                "Verification code was not recognized.",
            );
            return json_response(400, &body);
        };
        if entry.consumed {
            let body = state.error_body(
                "invalid_grant",
                &[70000],
                "The device code was already redeemed.",
            );
            return json_response(400, &body);
        }
        let scope = entry.scope.clone();
        let answer = state.poll_script.pop_front().unwrap_or(PollAnswer::Pending);
        let (error, code, text) = match answer {
            PollAnswer::Pending => (
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            ),
            PollAnswer::SlowDown => ("slow_down", 70016, "Polling too fast."),
            PollAnswer::Decline => (
                if microsoft {
                    "authorization_declined"
                } else {
                    "access_denied"
                },
                70000,
                "The user declined the authorization request.",
            ),
            PollAnswer::Expire => (
                "expired_token",
                70020,
                "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
            ),
            PollAnswer::Approve => {
                if let Some(entry) = state.device_codes.get_mut(&device_code) {
                    entry.consumed = true;
                }
                let user = state.user.clone();
                if state.denied_upns.contains(&user.upn) {
                    let body = state.error_body(
                        "invalid_grant",
                        &[53003],
                        "Access has been blocked by Conditional Access policies.",
                    );
                    return json_response(400, &body);
                }
                let now = state.now();
                let with_refresh =
                    !no_refresh && scope.split_whitespace().any(|s| s == "offline_access");
                state.new_grant(user, scope.clone(), now);
                let index = state.grants.len() - 1;
                let base = self.base.clone();
                // The first answer of a grant carries the grant's first refresh token.
                let mut body = state.token_answer(index, &base, false, false);
                if with_refresh {
                    body["refresh_token"] =
                        Value::String(state.grants[index].current_refresh.clone());
                }
                return json_response(200, &body);
            }
        };
        let body = state.error_body(error, &[code], text);
        json_response(400, &body)
    }

    fn refresh(&self, form: &BTreeMap<String, String>, no_refresh: bool) -> Response {
        let mut state = self.lock();
        let token = form.get("refresh_token").cloned().unwrap_or_default();
        let now = state.now();
        let Some(&index) = state.refresh_index.get(&token) else {
            let body = state.error_body(
                "invalid_grant",
                &[9002313],
                "Invalid request. Request is malformed or invalid.",
            );
            return json_response(400, &body);
        };
        let grant = state.grants[index].clone();
        if grant.revoked {
            let body = state.error_body("invalid_grant", &[50173], "The provided grant has expired due to it being revoked, a fresh auth token is needed.");
            return json_response(400, &body);
        }
        if now - grant.last_used > state.inactivity_window {
            let body = state.error_body(
                "invalid_grant",
                &[700082],
                "The refresh token has expired due to inactivity. The token was issued on 2026-01-01 and was inactive for 90.00:00:00.",
            );
            return json_response(400, &body);
        }
        if token != grant.current_refresh {
            state.replayed.insert((index, token.clone()));
        }
        if state.profile == Profile::Oidc && token != grant.current_refresh {
            // Replay of a rotated token: treat the grant as stolen (RFC 9700 §4.14.2).
            state.grants[index].revoked = true;
            let body = state.error_body(
                "invalid_grant",
                &[],
                "Refresh token replayed; the grant was revoked.",
            );
            return json_response(400, &body);
        }
        state.grants[index].last_used = now;
        let rotate = state.rotate;
        let base = self.base.clone();
        let mut body = state.token_answer(index, &base, rotate, !no_refresh);
        if let Some(scope) = form.get("scope").filter(|s| !s.trim().is_empty()) {
            // An access token for another resource or fewer scopes, as Microsoft
            // answers a refresh that names a scope: it says which it serves.
            body["scope"] = Value::String(scope.clone());
        }
        json_response(200, &body)
    }

    /// Graph's sendMail: a valid access token whose scope names Mail.Send, and a
    /// message with a recipient; answered 202 as Graph does.
    fn send_mail(&self, authorization: Option<&str>, body: &[u8]) -> Response {
        let mut state = self.lock();
        let token = authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or("");
        let now = state.now();
        let Some(user) = state
            .access_tokens
            .get(token)
            .filter(|(_, expires)| *expires > now)
            .map(|(user, _)| user.clone())
        else {
            return json_response(
                401,
                &json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}),
            );
        };
        let scoped = state
            .requests
            .iter()
            .rev()
            .filter(|r| r.endpoint == Endpoint::Token)
            .any(|r| r.form.get("scope").is_some_and(|s| s.contains("Mail.Send")));
        if !scoped {
            return json_response(
                403,
                &json!({"error": {"code": "ErrorAccessDenied", "message": "Access is denied. Check credentials and try again."}}),
            );
        }
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return json_response(
                400,
                &json!({"error": {"code": "RequestBodyRead", "message": "The body is not JSON."}}),
            );
        };
        if request["message"]["toRecipients"][0]["emailAddress"]["address"]
            .as_str()
            .is_none()
        {
            return json_response(
                400,
                &json!({"error": {"code": "ErrorInvalidRecipients", "message": "At least one recipient is not valid."}}),
            );
        }
        state.sent_mail.push((user.upn.clone(), request));
        Response::builder()
            .status(202)
            .body(Body::empty())
            .expect("response")
    }

    fn api(&self, endpoint: Endpoint, authorization: Option<&str>) -> Response {
        let state = self.lock();
        let token = authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or("");
        let now = state.now();
        let user = match state.access_tokens.get(token) {
            Some((user, expires)) if *expires > now => user.clone(),
            _ => {
                return json_response(
                    401,
                    &json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}),
                );
            }
        };
        match endpoint {
            Endpoint::GraphMe => json_response(
                200,
                &json!({
                    "id": user.oid,
                    "displayName": user.name,
                    "mail": user.upn,
                    "userPrincipalName": user.upn,
                }),
            ),
            Endpoint::UserInfo => json_response(
                200,
                &json!({"sub": user.oid, "email": user.upn, "preferred_username": user.upn, "name": user.name}),
            ),
            _ => Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
                .body(Body::from(format!(
                    r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetFolderResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages><m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Folders><t:Folder><t:FolderId Id="root-{}"/><t:DisplayName>Top of Information Store</t:DisplayName></t:Folder></m:Folders></m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse></s:Body></s:Envelope>"#,
                    user.oid
                )))
                .expect("response"),
        }
    }
}

/// A success answer made unusable after the refresh token was already rotated.
async fn spoiled(response: Response, how: Spoil) -> Response {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("answer body");
    let mut body: Value = serde_json::from_slice(&bytes).expect("json answer");
    match how {
        Spoil::BrokenIdToken => body["id_token"] = Value::String("not.a-jwt!".into()),
        Spoil::TokenType(kind) => body["token_type"] = Value::String(kind.into()),
        Spoil::EmptyAccessToken => body["access_token"] = Value::String(String::new()),
        Spoil::Oversized(size) => body["padding"] = Value::String("x".repeat(size)),
    }
    json_response(200, &body)
}

/// A server on 127.0.0.1 that records every request body it receives: where a
/// redirect would have sent a form.
pub struct Recorder {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<String>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Recorder {
    pub fn start() -> Self {
        let bodies: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let seen = bodies.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("recorder runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().fallback(move |body: Bytes| {
                    let seen = seen.clone();
                    async move {
                        seen.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(String::from_utf8_lossy(&body).to_string());
                        json_response(
                            200,
                            &json!({"access_token": "stolen", "token_type": "Bearer"}),
                        )
                    }
                });
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        Recorder {
            addr,
            bodies,
            shutdown: Some(tx),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/steal", self.addr)
    }

    pub fn bodies(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
