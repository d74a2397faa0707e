//! "Sign in with Daydream": the desktop sign-in of Daydream's OBS and TouchDesigner plugins,
//! with the relay as the local party.
//!
//! `POST /v1/credentials/sign-in` opens a callback listener on an ephemeral loopback port and
//! returns Daydream's sign-in page URL carrying that port and a fresh state. The user signs in
//! there; Daydream sends the browser to `http://localhost:<port>/callback?token=<JWT>&state=…`.
//! A matching state has its token exchanged for an API key (`POST /v1/api-key` on the API URL
//! in effect), which is stored like `PUT /v1/credentials` stores one, and the browser goes on
//! to the success page. A browser on another machine than the relay (ComfyUI used remotely)
//! ends on its own `localhost`, where nothing listens: the address it shows is pasted into the
//! panel, which posts its token and state to `POST /v1/credentials/sign-in/callback`. A wrong
//! state changes nothing and the sign-in keeps waiting; no callback within the timeout ends it.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

use crate::AppState;
use crate::config::Secret;
use crate::credentials::CredentialsUpdate;
use crate::daydream::{DaydreamClient, DaydreamError, RetryPolicy};
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::{html, lock};

/// What the key is called on the Daydream dashboard, and the client type Daydream records.
const KEY_NAME: &str = "RTC Node for ComfyUI";
const USER_TYPE: &str = "comfyui";
/// Longest `wait_ms` of `GET /v1/credentials/sign-in` (below the 30 s request timeout).
const MAX_WAIT: Duration = Duration::from_secs(25);

/// Where a sign-in is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// None started since the relay started.
    Idle,
    /// Waiting for the browser to come back from Daydream.
    Waiting,
    /// The key is stored.
    SignedIn,
    /// Timed out, cancelled or the exchange failed; `message` says which.
    Failed,
}

/// Body of the sign-in routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignInView {
    /// Where it is.
    pub status: Phase,
    /// The page to open while waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_in_url: Option<String>,
    /// How long the sign-in waits, in milliseconds.
    pub timeout_ms: u64,
    /// Why it failed, or what happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug)]
struct Attempt {
    id: u64,
    state: Secret,
    success_url: String,
    /// An answer is being exchanged for a key: a second answer is refused and the timeout
    /// waits for the outcome.
    exchanging: bool,
    /// Ends the callback listener.
    stop: oneshot::Sender<()>,
}

#[derive(Debug, Default)]
struct Inner {
    last_id: u64,
    pending: Option<Attempt>,
}

/// The sign-in in progress, if any, and the last outcome.
#[derive(Debug)]
pub struct SignIn {
    inner: Mutex<Inner>,
    view: watch::Sender<SignInView>,
    timeout: Duration,
}

/// Why a callback was refused.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// Nothing is waiting.
    #[error("no sign-in is waiting (it finished, timed out or was cancelled); start it again")]
    NotWaiting,
    /// The state is not the one handed out.
    #[error(
        "this answer does not belong to the sign-in in progress (the state does not match); \
         nothing was stored. Use the sign-in page the panel opened"
    )]
    WrongState,
    /// No token came back.
    #[error("the answer carries no sign-in token; start the sign-in again")]
    NoToken,
    /// Daydream did not give a key for the token.
    #[error("{0}")]
    Exchange(String),
    /// The key could not be stored.
    #[error("{0}")]
    Store(ApiError),
}

impl From<CallbackError> for ApiError {
    fn from(e: CallbackError) -> Self {
        match e {
            CallbackError::NotWaiting => ApiError::conflict("no_sign_in", e.to_string()),
            CallbackError::WrongState => {
                ApiError::bad_request("sign_in_state_mismatch", e.to_string())
            }
            CallbackError::NoToken => ApiError::bad_request("sign_in_token_missing", e.to_string()),
            CallbackError::Exchange(message) => ApiError::BadGateway {
                code: "sign_in_exchange_failed",
                message,
            },
            CallbackError::Store(e) => e,
        }
    }
}

impl SignIn {
    /// Sign-ins that wait `timeout` for the browser.
    pub fn new(timeout: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            view: watch::Sender::new(SignInView {
                status: Phase::Idle,
                sign_in_url: None,
                timeout_ms: millis(timeout),
                message: None,
            }),
            timeout,
        }
    }

    /// The current view.
    pub fn view(&self) -> SignInView {
        self.view.borrow().clone()
    }

    fn outcome(&self, status: Phase, message: impl Into<String>) -> SignInView {
        SignInView {
            status,
            sign_in_url: None,
            timeout_ms: millis(self.timeout),
            message: Some(message.into()),
        }
    }

    /// Ends attempt `id` with `view` if it is still the pending one (a newer attempt, or
    /// whoever ended this one first, wins).
    fn end(&self, id: u64, view: SignInView) {
        self.end_if(id, view, |_| true);
    }

    /// Ends attempt `id` for lack of an answer, unless one is being exchanged right now.
    fn expire(&self, id: u64, view: SignInView) {
        self.end_if(id, view, |attempt| !attempt.exchanging);
    }

    fn end_if(&self, id: u64, view: SignInView, allowed: impl Fn(&Attempt) -> bool) {
        let mut inner = lock(&self.inner);
        if let Some(attempt) = inner.pending.take_if(|a| a.id == id && allowed(a)) {
            let _ = attempt.stop.send(());
            self.view.send_replace(view);
        }
    }

    /// Cancels the pending sign-in, if any.
    pub fn cancel(&self) -> SignInView {
        let id = lock(&self.inner).pending.as_ref().map(|a| a.id);
        if let Some(id) = id {
            self.end(id, self.outcome(Phase::Failed, "sign-in cancelled"));
        }
        self.view()
    }
}

/// Starts a sign-in, replacing one in progress.
pub async fn start(app: &Arc<AppState>) -> ApiResult<SignInView> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| ApiError::Internal(format!("sign-in callback listener: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| ApiError::Internal(format!("sign-in callback listener: {e}")))?
        .port();
    let page = sign_in_page(app);
    let nonce = crate::auth::random_token();
    let mut url = url::Url::parse(&page).map_err(|e| ApiError::Unprocessable {
        code: "invalid_sign_in_url",
        message: format!("the sign-in page URL {page:?} is invalid: {e}"),
    })?;
    url.query_pairs_mut()
        .append_pair("port", &port.to_string())
        .append_pair("state", &nonce);
    let sign_in = &app.sign_in;
    let (stop, stopped) = oneshot::channel();
    let id = {
        let mut inner = lock(&sign_in.inner);
        inner.last_id += 1;
        let id = inner.last_id;
        let previous = inner.pending.replace(Attempt {
            id,
            state: Secret::new(nonce),
            success_url: format!("{}/success", page.trim_end_matches('/')),
            exchanging: false,
            stop,
        });
        if let Some(previous) = previous {
            let _ = previous.stop.send(());
        }
        sign_in.view.send_replace(SignInView {
            status: Phase::Waiting,
            sign_in_url: Some(url.into()),
            timeout_ms: millis(sign_in.timeout),
            message: None,
        });
        id
    };
    tracing::info!(port, "sign-in started; waiting for the browser");
    tokio::spawn(serve_callback(app.clone(), id, listener, stopped));
    Ok(sign_in.view())
}

/// Daydream's page, or the local backend's when the API URL is the relay's own local backend.
fn sign_in_page(app: &AppState) -> String {
    let local = app.credentials.local_base();
    if app.credentials.api_url().trim_end_matches('/') == local {
        format!("{local}/sign-in/local")
    } else {
        app.config.sign_in_url.clone()
    }
}

/// Serves `/callback` (and `/`, which Daydream's plugins also accept) until the attempt ends,
/// times out, or the relay shuts down.
async fn serve_callback(
    app: Arc<AppState>,
    id: u64,
    listener: tokio::net::TcpListener,
    stopped: oneshot::Receiver<()>,
) {
    let router = Router::new()
        .route("/callback", get(browser_callback))
        .route("/", get(browser_callback))
        .with_state(app.clone());
    let timeout = app.sign_in.timeout;
    let mut shutdown = app.shutdown.subscribe();
    let on_end = app.clone();
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = stopped => {}
                _ = shutdown.wait_for(|down| *down) => {}
                () = tokio::time::sleep(timeout) => {
                    let message =
                        format!("no sign-in arrived within {timeout:?}; start it again");
                    tracing::warn!("sign-in timed out");
                    on_end.sign_in.expire(id, on_end.sign_in.outcome(Phase::Failed, message));
                }
            }
        })
        .await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "sign-in callback listener failed");
        app.sign_in.end(
            id,
            app.sign_in
                .outcome(Phase::Failed, "the sign-in callback listener failed"),
        );
    }
}

/// Checks the state, exchanges the token for a key and stores it.
pub async fn complete(
    app: &Arc<AppState>,
    token: Option<&str>,
    state: Option<&str>,
) -> Result<String, CallbackError> {
    let sign_in = &app.sign_in;
    let (id, success_url) = {
        let mut inner = lock(&sign_in.inner);
        let attempt = inner
            .pending
            .as_mut()
            .filter(|a| !a.exchanging)
            .ok_or(CallbackError::NotWaiting)?;
        if !state.is_some_and(|s| crate::auth::secrets_match(attempt.state.expose(), s)) {
            tracing::warn!("sign-in callback with a wrong state refused");
            return Err(CallbackError::WrongState);
        }
        attempt.exchanging = true;
        (attempt.id, attempt.success_url.clone())
    };
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    let Some(token) = token else {
        sign_in.end(
            id,
            sign_in.outcome(Phase::Failed, CallbackError::NoToken.to_string()),
        );
        return Err(CallbackError::NoToken);
    };
    let result = exchange(app, token).await;
    let outcome = match &result {
        Ok(()) => {
            app.events.log(
                "info",
                "signed in with Daydream; the API key is saved on the relay",
            );
            tracing::info!("signed in with Daydream; API key stored");
            sign_in.outcome(
                Phase::SignedIn,
                "signed in; the API key is saved on the relay",
            )
        }
        Err(e) => {
            tracing::warn!(error = %crate::telemetry::escaped(&e), "sign-in failed");
            sign_in.outcome(Phase::Failed, e.to_string())
        }
    };
    sign_in.end(id, outcome);
    result.map(|()| success_url)
}

async fn exchange(app: &Arc<AppState>, token: &str) -> Result<(), CallbackError> {
    let (timeout, retry) = app.credentials.call_settings();
    let api_url = app.credentials.api_url();
    let client = DaydreamClient::new(
        &api_url,
        Secret::new(token),
        timeout,
        RetryPolicy {
            attempts: 1,
            ..retry
        },
        app.credentials.dns_for(&api_url),
    )
    .map_err(|e| CallbackError::Exchange(format!("the API URL is unusable: {e}")))?;
    let key = client
        .create_api_key(KEY_NAME, USER_TYPE)
        .await
        .map_err(|e| CallbackError::Exchange(exchange_message(&e)))?;
    // The credentials file is written with fsync: off the async workers.
    let store = Arc::clone(app);
    let update = CredentialsUpdate {
        api_key: Some(Some(key.expose().to_owned())),
        api_url: None,
        backend: None,
    };
    crate::blocking(move || store.credentials.update(update))
        .await
        .and_then(|stored| stored)
        .map_err(CallbackError::Store)?;
    Ok(())
}

fn exchange_message(e: &DaydreamError) -> String {
    match e {
        DaydreamError::Unauthorized => {
            "Daydream did not accept the sign-in (the token was refused or has expired); \
             sign in again"
                .into()
        }
        other => format!("Daydream did not create an API key: {other}"),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Routes of this module (the browser callback has its own listener).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/v1/credentials/sign-in",
            get(get_sign_in).post(post_sign_in).delete(delete_sign_in),
        )
        .route("/v1/credentials/sign-in/callback", post(post_callback))
}

async fn post_sign_in(State(app): State<Arc<AppState>>) -> ApiResult<Json<SignInView>> {
    start(&app).await.map(Json)
}

#[derive(Debug, Deserialize)]
struct WaitQuery {
    wait_ms: Option<u64>,
}

/// The current view; with `wait_ms`, waits that long (at most 25 s) while the sign-in waits.
async fn get_sign_in(
    State(app): State<Arc<AppState>>,
    Query(query): Query<WaitQuery>,
) -> Json<SignInView> {
    let wait = Duration::from_millis(query.wait_ms.unwrap_or(0)).min(MAX_WAIT);
    let mut changes = app.sign_in.view.subscribe();
    let _ =
        tokio::time::timeout(wait, changes.wait_for(|view| view.status != Phase::Waiting)).await;
    Json(app.sign_in.view())
}

async fn delete_sign_in(State(app): State<Arc<AppState>>) -> Json<SignInView> {
    Json(app.sign_in.cancel())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackBody {
    token: String,
    state: String,
}

/// The answer of a browser that could not reach the relay's callback (another machine).
async fn post_callback(
    State(app): State<Arc<AppState>>,
    ApiJson(body): ApiJson<CallbackBody>,
) -> ApiResult<Json<SignInView>> {
    complete(&app, Some(&body.token), Some(&body.state)).await?;
    Ok(Json(app.sign_in.view()))
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    token: Option<String>,
    state: Option<String>,
}

/// Where Daydream sends the browser: on success on to Daydream's success page, else a page
/// that says what went wrong.
async fn browser_callback(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(|h| app.guard.host_allowed(h)) {
        return failure_page(
            StatusCode::FORBIDDEN,
            "the Host header does not name this machine",
        );
    }
    match complete(&app, query.token.as_deref(), query.state.as_deref()).await {
        Ok(success_url) => Redirect::to(&success_url).into_response(),
        Err(e) => {
            let message = e.to_string();
            failure_page(ApiError::from(e).status(), &message)
        }
    }
}

fn failure_page(status: StatusCode, message: &str) -> Response {
    html::page(
        status,
        "Sign-in failed",
        &format!(
            "<p>{}</p><p>Nothing was stored. Go back to RTC Node and try again.</p>",
            html::escape(message)
        ),
    )
}
