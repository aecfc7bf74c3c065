//! The device authorization grant against the loopback provider, in virtual time.

use crate::support;

use std::time::Duration;

use crate::support::provider::{Endpoint, Fault, PollAnswer, TestProvider};
use crate::support::{connect, microsoft_config, oidc_config};
use chrono::{TimeZone, Utc};
use tokendesk::clock::{Clock, ManualClock};
use tokendesk::identity::IdentityError;
use tokendesk::identity::{
    DeviceAuthorization, ErrorKind, IdentityClient, PollEvent, Scopes, TokenSet,
};
use tokio_util::sync::CancellationToken;

fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap())
}

async fn sign_in(client: &IdentityClient, clock: &ManualClock) -> Result<TokenSet, IdentityError> {
    let authorization = client.start_device_authorization(clock.now()).await?;
    wait(client, &authorization, clock).await
}

/// Polls in virtual time until the flow ends, without a cancel.
async fn wait(
    client: &IdentityClient,
    authorization: &DeviceAuthorization,
    clock: &ManualClock,
) -> Result<TokenSet, IdentityError> {
    client
        .wait_for_device_approval(
            authorization,
            clock,
            clock,
            &CancellationToken::new(),
            |_| {},
        )
        .await
}

fn secs(list: &[u64]) -> Vec<Duration> {
    list.iter().map(|s| Duration::from_secs(*s)).collect()
}

#[tokio::test]
async fn pending_then_approved_waits_the_interval_and_names_the_user() {
    let provider = TestProvider::microsoft();
    provider.script_polls(&[
        PollAnswer::Pending,
        PollAnswer::Pending,
        PollAnswer::Pending,
        PollAnswer::Approve,
    ]);
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    assert!(client.endpoints().discovered);
    let clock = clock();
    let tokens = sign_in(&client, &clock).await.expect("signed in");

    assert_eq!(clock.waits(), secs(&[5, 5, 5, 5]));
    assert!(tokens.refresh_token.is_some());
    let identity = tokens.identity.expect("id_token read");
    assert!(identity.matches("sales@contoso.com"));
    assert_eq!(identity.tid.as_deref(), Some(support::provider::TENANT_ID));
    assert_eq!(
        tokens.access_expires_at,
        clock.now() + chrono::Duration::seconds(3599)
    );

    let device_requests = provider.requests_to(Endpoint::DeviceCode);
    assert_eq!(device_requests.len(), 1);
    let form = &device_requests[0].form;
    assert_eq!(
        form.get("scope").map(String::as_str),
        Some("https://outlook.office365.com/EWS.AccessAsUser.All offline_access openid profile")
    );
    assert!(
        !form.contains_key("client_secret"),
        "a public client must not send a secret"
    );
    assert_eq!(provider.requests_to(Endpoint::Token).len(), 4);
}

#[tokio::test]
async fn slow_down_adds_five_seconds_to_every_later_poll() {
    let provider = TestProvider::microsoft();
    provider.script_polls(&[
        PollAnswer::SlowDown,
        PollAnswer::Pending,
        PollAnswer::SlowDown,
        PollAnswer::Approve,
    ]);
    let client = connect(microsoft_config(&provider, Scopes::Graph)).await;
    let clock = clock();
    sign_in(&client, &clock).await.expect("signed in");
    assert_eq!(clock.waits(), secs(&[5, 10, 10, 15]));
}

#[tokio::test]
async fn missing_interval_means_five_seconds_and_old_spelling_is_read() {
    let provider = TestProvider::microsoft();
    provider.set_interval(None);
    provider.use_old_verification_url_spelling();
    provider.script_polls(&[PollAnswer::Pending, PollAnswer::Approve]);
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    let clock = clock();
    let authorization = client
        .start_device_authorization(clock.now())
        .await
        .unwrap();
    assert!(
        authorization
            .verification_uri
            .as_str()
            .ends_with("/devicelogin")
    );
    assert!(
        authorization
            .message
            .as_deref()
            .unwrap()
            .contains(&authorization.user_code)
    );
    wait(&client, &authorization, &clock).await.unwrap();
    assert_eq!(clock.waits(), secs(&[5, 5]));
}

#[tokio::test]
async fn a_fifteen_minute_code_expires_locally_in_virtual_time() {
    let provider = TestProvider::microsoft();
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    let clock = clock();
    let started = clock.now();
    let error = sign_in(&client, &clock).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Expired);
    assert!(error.message.contains("expired"));
    assert_eq!(clock.now() - started, chrono::Duration::minutes(15));
    // 900 s at one poll per 5 s: 179 polls (the last wait ends at the deadline).
    assert_eq!(provider.requests_to(Endpoint::Token).len(), 179);
}

#[tokio::test]
async fn short_code_lifetime_stops_at_the_deadline_not_after() {
    let provider = TestProvider::microsoft();
    provider.set_expires_in(12);
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    let clock = clock();
    let error = sign_in(&client, &clock).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Expired);
    assert_eq!(clock.waits(), secs(&[5, 5, 2]));
}

#[tokio::test]
async fn provider_side_expiry_declines_and_bad_codes_stop_polling() {
    let provider = TestProvider::microsoft();
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;

    provider.script_polls(&[PollAnswer::Pending, PollAnswer::Expire]);
    let error = sign_in(&client, &clock()).await.unwrap_err();
    assert_eq!(
        (error.kind, error.error.as_deref()),
        (ErrorKind::Expired, Some("expired_token"))
    );

    provider.script_polls(&[PollAnswer::Decline]);
    let error = sign_in(&client, &clock()).await.unwrap_err();
    assert_eq!(
        (error.kind, error.error.as_deref()),
        (ErrorKind::Declined, Some("authorization_declined"))
    );
    assert!(error.message.contains("declined"));

    let clock = clock();
    let mut authorization = client
        .start_device_authorization(clock.now())
        .await
        .unwrap();
    authorization.device_code = tokendesk::Secret::new("not-a-code-the-provider-issued");
    let error = wait(&client, &authorization, &clock).await.unwrap_err();
    assert_eq!(error.error.as_deref(), Some("bad_verification_code"));
    assert_eq!(provider.requests_to(Endpoint::Token).len(), 4);
}

#[tokio::test]
async fn oidc_profile_access_denied_and_complete_uri() {
    let provider = TestProvider::oidc();
    let client = connect(oidc_config(&provider)).await;
    let clock = clock();
    let authorization = client
        .start_device_authorization(clock.now())
        .await
        .unwrap();
    let complete = authorization
        .verification_uri_complete
        .clone()
        .expect("complete uri");
    assert!(complete.as_str().contains(&authorization.user_code));
    assert_eq!(authorization.page_to_open(), &complete);
    provider.script_polls(&[PollAnswer::Pending, PollAnswer::Decline]);
    let error = wait(&client, &authorization, &clock).await.unwrap_err();
    assert_eq!(
        (error.kind, error.error.as_deref()),
        (ErrorKind::Declined, Some("access_denied"))
    );
}

#[tokio::test]
async fn cancel_between_polls_returns_nothing() {
    let provider = TestProvider::microsoft();
    provider.script_polls(&[
        PollAnswer::Pending,
        PollAnswer::Pending,
        PollAnswer::Approve,
    ]);
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    let clock = clock();
    let authorization = client
        .start_device_authorization(clock.now())
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    let result = client
        .wait_for_device_approval(&authorization, &clock, &clock, &cancel, |event| {
            if event == (PollEvent::Polled { polls: 2 }) {
                canceller.cancel();
            }
        })
        .await;
    let error = result.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Cancelled);
    assert_eq!(
        provider.requests_to(Endpoint::Token).len(),
        2,
        "no poll after cancel"
    );
}

#[tokio::test]
async fn cancel_while_the_approval_is_in_flight_discards_it() {
    let provider = TestProvider::microsoft();
    provider.script_polls(&[PollAnswer::Approve]);
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    let clock = clock();
    let authorization = client
        .start_device_authorization(clock.now())
        .await
        .unwrap();
    provider.fail_next(Endpoint::Token, Fault::Slow(Duration::from_millis(400)));
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        canceller.cancel();
    });
    let result = client
        .wait_for_device_approval(&authorization, &clock, &clock, &cancel, |_| {})
        .await;
    assert_eq!(result.unwrap_err().kind, ErrorKind::Cancelled);
}

#[tokio::test]
async fn a_passing_outage_while_polling_is_ridden_out() {
    let provider = TestProvider::microsoft();
    provider.script_polls(&[PollAnswer::Pending, PollAnswer::Approve]);
    provider.fail_next(
        Endpoint::Token,
        Fault::Status {
            status: 503,
            retry_after: Some(20),
        },
    );
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    let clock = clock();
    sign_in(&client, &clock)
        .await
        .expect("signed in after the outage");
    // The 503 asked for 20 s; the pending answer then resets to the interval.
    assert_eq!(clock.waits(), secs(&[5, 20, 5]));
}

#[tokio::test]
async fn no_refresh_token_names_offline_access() {
    let provider = TestProvider::microsoft();
    provider.script_polls(&[PollAnswer::Approve]);
    provider.fail_next(Endpoint::Token, Fault::NoRefreshToken);
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    let error = sign_in(&client, &clock()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::AdminAction);
    assert!(error.message.contains("offline_access"));
}

#[tokio::test]
async fn discovery_falls_back_to_documented_paths() {
    let provider = TestProvider::microsoft();
    provider.set_discovery_available(false);
    provider.script_polls(&[PollAnswer::Approve]);
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    assert!(!client.endpoints().discovered);
    assert!(
        client
            .endpoints()
            .token
            .as_str()
            .ends_with("/contoso.onmicrosoft.com/oauth2/v2.0/token")
    );
    sign_in(&client, &clock())
        .await
        .expect("signed in through the fallback endpoints");
}

#[tokio::test]
async fn unknown_tenant_is_reported_not_papered_over() {
    let provider = TestProvider::microsoft();
    let mut config = microsoft_config(&provider, Scopes::Ews);
    if let tokendesk::identity::Authority::Microsoft { tenant, .. } = &mut config.authority {
        *tenant = "fabrikam.onmicrosoft.com".into();
    }
    let error = IdentityClient::connect(support::quick_http(), config)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::AdminAction);
    assert!(error.has_code(90002));
    assert!(error.message.contains("tenant"));
    assert!(error.trace_id.is_some() && error.correlation_id.is_some());
}

#[tokio::test]
async fn client_secret_is_sent_only_when_set() {
    let provider = TestProvider::microsoft();
    provider.set_client_secret(Some("s3cret"));
    let config = microsoft_config(&provider, Scopes::Ews);

    let client = connect(config.clone()).await;
    let error = client
        .start_device_authorization(Utc::now())
        .await
        .unwrap_err();
    assert!(error.has_code(7000218));
    assert!(error.message.contains("Allow public client flows"));

    let mut with_secret = config.clone();
    with_secret.client_secret = Some(tokendesk::Secret::new("s3cret"));
    provider.script_polls(&[PollAnswer::Approve]);
    let client = connect(with_secret).await;
    sign_in(&client, &clock())
        .await
        .expect("confidential client signs in");
    assert!(
        provider.requests_to(Endpoint::Token).iter().all(|r| r
            .form
            .get("client_secret")
            .map(String::as_str)
            == Some("s3cret"))
    );

    provider.set_client_secret(None);
    let mut public_with_secret = config;
    public_with_secret.client_secret = Some(tokendesk::Secret::new("s3cret"));
    let client = connect(public_with_secret).await;
    let error = client
        .start_device_authorization(Utc::now())
        .await
        .unwrap_err();
    assert!(error.has_code(700025));
    assert!(error.message.contains("remove the client secret"));
}
