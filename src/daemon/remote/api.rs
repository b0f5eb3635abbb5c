//! The routes of the remote API (docs/api.md), each a thin layer over the
//! store (reads) or the daemon's own handlers (decisions, replies, runs).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::handlers;
use super::super::Shared;
use super::auth::{self, PairingCheck};
use super::page;
use super::stream::EventStream;
use super::Remote;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    new_id, now, AgentSpec, ApprovalState, DecidedBy, DeviceEnv, Event, RemoteDevice, RunOptions,
    RunState, Scope,
};
use crate::store::{ApprovalFilter, Decision, RunFilter, Store, STALE};

/// No request body may be larger: the largest is a run's prompt (256 KiB).
const MAX_BODY: usize = 320 * 1024;
/// A body over [`MAX_BODY`] but at most this large is read (and dropped)
/// before the 413 goes out. Closing with it unread resets the connection,
/// and a client still sending (most send the whole request before reading)
/// gets "broken pipe" instead of the answer. A larger one is not worth
/// reading: its connection is closed as it comes.
const DRAIN_AT_MOST: u64 = 64 * 1024 * 1024;
/// A device's `last_seen_at` is written at most this often.
const SEEN_EVERY: i64 = 30;

/// The peer's address, set on each connection.
#[derive(Clone, Copy)]
pub struct Peer(pub SocketAddr);

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    remote: Arc<Remote>,
}

pub fn router(shared: Arc<Shared>, remote: Arc<Remote>) -> Router {
    let app = App { shared, remote };
    Router::new()
        .route("/v1/pair", post(pair))
        .route("/v1/status", get(status))
        .route("/v1/runs", get(list_runs).post(start_run))
        .route("/v1/runs/{id}", get(show_run))
        .route("/v1/runs/{id}/events", get(list_events))
        .route("/v1/runs/{id}/events/stream", get(stream_events))
        .route("/v1/runs/{id}/reply", post(reply))
        .route("/v1/runs/{id}/cancel", post(cancel))
        .route("/v1/approvals", get(list_approvals))
        .route("/v1/approvals/{id}", get(show_approval))
        .route("/v1/approvals/{id}/decision", post(decide))
        .merge(page::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(app.clone(), check_host))
        .with_state(app)
}

/// An error as the API sends it: `{error, hint}` and a status code, with
/// more fields where the contract says (a decision's current state).
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>, hint: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({ "error": error.into(), "hint": hint.into() }),
        }
    }

    fn with(mut self, key: &str, value: Value) -> ApiError {
        self.body[key] = value;
        self
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        let status = match err.kind {
            ErrorKind::Usage => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::DaemonUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            body: json!({ "error": err.message, "hint": err.hint }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

type ApiResult<T> = std::result::Result<T, ApiError>;

/// A JSON body whose every rejection (not JSON, wrong fields, too large)
/// is an [`ApiError`].
struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if let Some(length) = declared.filter(|&n| n > MAX_BODY as u64) {
            if length <= DRAIN_AT_MOST {
                let mut body = req.into_body();
                while let Some(Ok(_)) = http_body_util::BodyExt::frame(&mut body).await {}
            }
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is {} KiB: too large", length / 1024),
                format!("a request body may be {} KiB at most", MAX_BODY / 1024),
            ));
        }
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(body_error(rejection)),
        }
    }
}

fn body_error(rejection: JsonRejection) -> ApiError {
    // JSON of the wrong shape is a bad request like any other (axum says 422).
    let status = match rejection.status() {
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        status => status,
    };
    let hint = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("a request body may be {} KiB at most", MAX_BODY / 1024)
    } else {
        "send a JSON object with `Content-Type: application/json`, as docs/api.md shows".into()
    };
    ApiError::new(status, rejection.body_text(), hint)
}

/// Refuses requests whose `Host` is not a name of this daemon: a page on
/// another site that got its DNS name pointed at us (DNS rebinding) must
/// not reach the API.
async fn check_host(State(app): State<App>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !app.remote.host_allowed(host) {
        let shown: String = host.chars().take(100).collect();
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the host '{}' is not a name of this daemon",
                shown.escape_debug()
            ),
            "connect by the address `m device pair` printed, or add the name to [remote] hosts",
        )
        .into_response();
    }
    let mut response = next.run(request).await;
    // Answers are private to the device that asked, and never framed.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(page::CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint",
        "docs/api.md lists the endpoints, all under /v1/ (the phone page is at /)",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method",
        "docs/api.md lists the method of each endpoint",
    )
}

/// A paired device, by its bearer token.
struct Device(RemoteDevice);

impl FromRequestParts<App> for Device {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> ApiResult<Self> {
        let token = Token::from_request_parts(parts, app).await?;
        let id = token.id.clone();
        let found =
            handlers::read(&app.shared, move |store| store.remote_device_with_hash(&id)).await?;
        token.device(app, found)
    }
}

/// A bearer token as sent, not yet checked. A route that reads the
/// database anyway checks it in the same read ([`Token::device`]): each
/// read waits for a blocking thread, and under load that wait was a
/// decision's largest cost after the commit (p99 ~3 ms of ~9 ms).
struct Token {
    id: String,
    secret: String,
}

impl FromRequestParts<App> for Token {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> ApiResult<Self> {
        let token = bearer(&parts.headers).ok_or_else(|| unauthorized("no bearer token"))?;
        let (id, secret) = auth::split_token(&token).ok_or_else(|| unauthorized("not a token"))?;
        Ok(Token {
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }
}

impl Token {
    /// The device, if `found` (its record and secret's hash, read by the
    /// token's id) is the token's.
    fn device(self, app: &App, found: Option<(RemoteDevice, String)>) -> ApiResult<Device> {
        let device = match found {
            Some((device, hash)) if auth::secret_matches(&self.secret, &hash) => device,
            _ => {
                return Err(unauthorized(
                    "this token is not a paired device's (unpaired?)",
                ))
            }
        };
        if device
            .last_seen_at
            .is_none_or(|at| now() - at >= SEEN_EVERY)
        {
            let (writer, id) = (app.shared.writer.clone(), device.id.clone());
            // Off the request's path, in the writer's next transaction. On
            // a connection of its own it took the database's write lock
            // from under the writer, which then slept in SQLite's busy
            // handler with this very request's decision.
            tokio::spawn(async move {
                if let Err(err) = writer
                    .write(move |batch| batch.touch_remote_device(&id))
                    .await
                {
                    tracing::debug!("cannot note when a device was seen: {}", err.message);
                }
            });
        }
        Ok(Device(device))
    }
}

fn unauthorized(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        why,
        "pair this device with `m device pair`, then send `Authorization: Bearer TOKEN`",
    )
}

impl Device {
    fn may(&self, scope: Scope) -> ApiResult<()> {
        if self.0.scopes.contains(&scope) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("this device was paired without the `{scope}` scope"),
            format!(
                "pair it again with `m device pair --scope {}`",
                Scope::join(&[self.0.scopes.as_slice(), &[scope]].concat())
            ),
        ))
    }

    fn decider(&self) -> DecidedBy {
        DecidedBy::Device {
            id: self.0.id.clone(),
            name: self.0.name.clone(),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PairBody {
    code: String,
    name: Option<String>,
    #[serde(default = "ios")]
    platform: String,
    apns_token: Option<String>,
    apns_env: Option<DeviceEnv>,
}

fn ios() -> String {
    "ios".into()
}

async fn pair(
    State(app): State<App>,
    Extension(Peer(peer)): Extension<Peer>,
    Body(body): Body<PairBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // Checked before the code is used, so a typo does not cost the code.
    if !["ios", "web"].contains(&body.platform.as_str()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown platform '{}'", body.platform.escape_debug()),
            "use \"ios\" (the m app) or \"web\" (the phone page)",
        ));
    }
    let apns_token = body
        .apns_token
        .as_deref()
        .map(crate::model::parse_apns_token)
        .transpose()?;
    let name = body.name.as_deref().map(str::trim).unwrap_or("");
    if name.chars().count() > 100 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the device's name is longer than 100 characters",
            "give a shorter name",
        ));
    }
    let grant = match app.remote.pairings.redeem(&body.code, peer.ip()) {
        PairingCheck::Paired(grant) => grant,
        PairingCheck::Refused => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this pairing code is wrong, used or expired",
                "run `m device pair` again and scan the new code (a code works once, and only for a while)",
            ))
        }
        PairingCheck::Limited => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed pairings from this address",
                "wait a minute, then try the code again",
            ))
        }
    };
    let id = new_id();
    let (token, hash) = auth::new_token(&id);
    let device = RemoteDevice {
        id: id.clone(),
        name: grant
            .name
            .or_else(|| (!name.is_empty()).then(|| name.to_string()))
            .unwrap_or_else(|| format!("{} device", body.platform)),
        platform: body.platform,
        scopes: grant.scopes,
        apns_token,
        created_at: now(),
        last_seen_at: Some(now()),
    };
    let env = body.apns_env.unwrap_or(DeviceEnv::Production);
    let stored = device.clone();
    let db = app.shared.paths.database();
    tokio::task::spawn_blocking(move || Store::open(&db)?.add_remote_device(&stored, &hash, env))
        .await
        .map_err(|e| Error::failure(format!("pairing crashed: {e}")))??;
    tracing::info!(device = %device.id, name = %device.name, "paired a device");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "device_id": device.id,
            "name": device.name,
            "token": token,
            "scopes": device.scopes,
        })),
    ))
}

async fn status(State(app): State<App>, device: Device) -> ApiResult<Json<Value>> {
    device.may(Scope::Read)?;
    let daemon = handlers::status(&app.shared);
    let pending = handlers::read(&app.shared, |store| {
        store.count_approvals(ApprovalState::Pending)
    })
    .await?;
    Ok(Json(json!({
        "version": daemon.version,
        "started_at": daemon.started_at,
        "active_runs": daemon.active_runs,
        "pending_approvals": pending,
        "device": device.0,
    })))
}

#[derive(Deserialize)]
struct RunsQuery {
    state: Option<String>,
    repo: Option<String>,
    limit: Option<u32>,
}

async fn list_runs(
    State(app): State<App>,
    device: Device,
    Query(query): Query<RunsQuery>,
) -> ApiResult<Json<Value>> {
    device.may(Scope::Read)?;
    let states = match query.state.as_deref() {
        None | Some("") | Some("all") => Vec::new(),
        Some("active") => RunState::ACTIVE.to_vec(),
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse())
            .collect::<Result<Vec<RunState>>>()?,
    };
    let views = handlers::read(&app.shared, move |store| {
        let repo_id = match &query.repo {
            Some(repo) => Some(store.find_repo(repo)?.id),
            None => None,
        };
        let runs = store.list_runs(&RunFilter {
            repo_id,
            states,
            limit: Some(query.limit.unwrap_or(50).min(500)),
        })?;
        runs.iter()
            .map(|run| store.run_view(run))
            .collect::<Result<Vec<Value>>>()
    })
    .await?;
    Ok(Json(Value::Array(views)))
}

async fn show_run(
    State(app): State<App>,
    device: Device,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    device.may(Scope::Read)?;
    let view = handlers::read(&app.shared, move |store| {
        store.run_view(&store.find_run(&id)?)
    })
    .await?;
    Ok(Json(view))
}

#[derive(Deserialize)]
struct EventsQuery {
    since: Option<i64>,
    limit: Option<u32>,
}

async fn list_events(
    State(app): State<App>,
    device: Device,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
) -> ApiResult<Json<Vec<Event>>> {
    device.may(Scope::Read)?;
    let events = handlers::read(&app.shared, move |store| {
        let run = store.find_run(&id)?;
        let limit = query.limit.unwrap_or(1000).min(5000);
        store.list_events(&run.id, query.since.unwrap_or(0), &[], Some(limit))
    })
    .await?;
    Ok(Json(events))
}

/// Server-sent events: each event's `id` is its seq, so a client that lost
/// the connection resumes with `Last-Event-ID` (or `?since=`), with no gap
/// and no duplicate; `event: end` closes a run that ended.
async fn stream_events(
    State(app): State<App>,
    device: Device,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    device.may(Scope::Read)?;
    let run = handlers::read(&app.shared, move |store| store.find_run(&id)).await?;
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let since = resumed.or(query.since).unwrap_or(0);
    let stream = EventStream::new(
        app.shared.clone(),
        run.id,
        since,
        app.remote.revoked.subscribe(),
        device.0.id.clone(),
    );
    let keep_alive = KeepAlive::new()
        .interval(app.remote.heartbeat)
        .text("heartbeat");
    Ok(Sse::new(stream).keep_alive(keep_alive))
}

#[derive(Deserialize)]
struct ApprovalsQuery {
    state: Option<String>,
    run: Option<String>,
}

async fn list_approvals(
    State(app): State<App>,
    device: Device,
    Query(query): Query<ApprovalsQuery>,
) -> ApiResult<Json<Value>> {
    device.may(Scope::Read)?;
    let states = match query.state.as_deref() {
        None | Some("") => vec![ApprovalState::Pending],
        Some("all") => Vec::new(),
        Some(state) => vec![state.parse()?],
    };
    let approvals = handlers::read(&app.shared, move |store| {
        let run_id = match &query.run {
            Some(run) => Some(store.find_run(run)?.id),
            None => None,
        };
        store.list_approvals(&ApprovalFilter { run_id, states })
    })
    .await?;
    Ok(Json(json!(approvals)))
}

async fn show_approval(
    State(app): State<App>,
    device: Device,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    device.may(Scope::Read)?;
    let approval = handlers::read(&app.shared, move |store| store.find_approval(&id)).await?;
    Ok(Json(json!(approval)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    decision: String,
    reason: Option<String>,
    content_hash: String,
}

/// A decision on what the device saw (`content_hash`). Phones retry, so
/// the same decision again answers 200 with the approval as it stands;
/// another one on an approval already decided is 409 with its state; a
/// hash that is not the approval's is 409 `stale`, and nothing is decided.
async fn decide(
    State(app): State<App>,
    token: Token,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    // The device and the approval in one read; the body once the device
    // may decide.
    let device_id = token.id.clone();
    let (found, approval) = handlers::read(&app.shared, move |store| {
        Ok((
            store.remote_device_with_hash(&device_id)?,
            store.find_approval(&id),
        ))
    })
    .await?;
    let device = token.device(&app, found)?;
    device.may(Scope::Decide)?;
    let Body(body) = Body::<DecideBody>::from_request(request, &app).await?;
    let approve = match body.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown decision '{}'", other.escape_debug()),
                "send \"approve\" or \"reject\"",
            ))
        }
    };
    let approval = approval?;
    let wanted = if approve {
        ApprovalState::Approved
    } else {
        ApprovalState::Rejected
    };
    let decision = Decision {
        approve,
        reason: body.reason.filter(|r| !r.trim().is_empty()),
        by: device.decider(),
        seen_hash: Some(body.content_hash.clone()),
    };
    // A phone approves this request only: no grant for the rest of the run.
    let once = handlers::Grant {
        always: false,
        persist: false,
    };
    let approval_id = approval.id.clone();
    match handlers::decide_on(&app.shared, approval, decision, once).await {
        Ok(approval) => Ok(Json(json!(approval))),
        Err(err) if err.kind == ErrorKind::Conflict => {
            let now =
                handlers::read(&app.shared, move |store| store.get_approval(&approval_id)).await?;
            // Stale first: a review closed as stale is "rejected" by m,
            // which a retried rejection must not take for its own.
            if err.message.starts_with(STALE) {
                let run_id = now.run_id.clone();
                let pending = handlers::read(&app.shared, move |store| {
                    store.list_approvals(&ApprovalFilter {
                        run_id: Some(run_id),
                        states: vec![ApprovalState::Pending],
                    })
                })
                .await?;
                // A review asked again is the run's pending diff approval.
                let again = (now.state != ApprovalState::Pending)
                    .then(|| {
                        pending
                            .iter()
                            .find(|a| a.approval_type == now.approval_type)
                            .map(|a| a.id.clone())
                    })
                    .flatten();
                let mut error = ApiError::from(err)
                    .with("code", json!(STALE))
                    .with("state", json!(now.state))
                    .with("approval", json!(now));
                if let Some(again) = again {
                    error = error.with("asked_again", json!(again));
                }
                return Err(error);
            }
            let same_content = body.content_hash.eq_ignore_ascii_case(&now.content_hash);
            if now.state == wanted && same_content {
                return Ok(Json(json!(now)));
            }
            Err(ApiError::from(err)
                .with("code", json!("decided"))
                .with("state", json!(now.state))
                .with("approval", json!(now)))
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    text: Option<String>,
    value: Option<Value>,
}

/// Answers the run's oldest open question. `value` (a number, a boolean,
/// a choice) is checked against the question's form as `m reply` text is.
async fn reply(
    State(app): State<App>,
    device: Device,
    Path(id): Path<String>,
    Body(body): Body<ReplyBody>,
) -> ApiResult<Json<Value>> {
    device.may(Scope::Decide)?;
    let text = match (body.text, body.value) {
        (Some(text), None) => text,
        (None, Some(Value::String(text))) => text,
        (None, Some(value @ (Value::Number(_) | Value::Bool(_)))) => value.to_string(),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "a reply is {\"text\": \"...\"} or {\"value\": ...}, one of them",
                "a value is a string, a number or a boolean, as the question's form asks",
            ))
        }
    };
    let run = handlers::read(&app.shared, move |store| store.find_run(&id)).await?;
    handlers::reply(&app.shared, &run.id, Some(text), false, device.decider()).await?;
    Ok(Json(json!({ "ok": true })))
}

async fn cancel(
    State(app): State<App>,
    device: Device,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    device.may(Scope::Control)?;
    let run = handlers::read(&app.shared, move |store| store.find_run(&id)).await?;
    handlers::cancel_run(&app.shared, &run.id).await?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    repo: String,
    prompt: String,
    /// A named agent (`m agents`), started as `m run start --agent NAME`.
    agent: String,
    review: Option<bool>,
}

/// Starts a run with a named agent, with the config's options as
/// `m run start` has them by default.
async fn start_run(
    State(app): State<App>,
    device: Device,
    Body(body): Body<StartBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    device.may(Scope::Control)?;
    let config = crate::config::load(&app.shared.paths)?;
    let argv = crate::presets::command(&body.agent, config.agent_command(&body.agent))?;
    let agent = AgentSpec::Acp {
        preset: Some(body.agent.clone()),
        argv,
    };
    let repo_key = body.repo.clone();
    let repo = handlers::read(&app.shared, move |store| store.find_repo(&repo_key)).await?;
    let options = RunOptions {
        review: body.review.unwrap_or(config.run.review) && repo.git_url.is_some(),
        auto_approve: config.approvals.auto_approve.clone(),
        allow_commands: config.approvals.allow_commands.clone(),
        once: false,
        // `[run] timeout` and `[approvals]`' deadlines hold for a phone's
        // runs as for a terminal's.
        timeout_seconds: config.run.timeout.map(|t| t.as_secs()),
        timeout_excludes_waiting: false,
        approval_timeout_seconds: config
            .approvals
            .timeout
            .map(|t| t.as_secs())
            .filter(|secs| *secs > 0),
        on_timeout: config.approvals.on_timeout,
        remind_after_seconds: config.approvals.remind_after.map(|t| t.as_secs()),
    };
    let started = crate::protocol::StartRunRequest {
        repo_id: repo.id,
        prompt: body.prompt,
        agent,
        base: None,
        options,
        // The agent gets the daemon's environment: a phone has none to give.
        env: None,
        // A repo busy with a run is a conflict the phone hears at once.
        queue: false,
    };
    let run = match handlers::start_run(&app.shared, started).await? {
        crate::protocol::Response::Run { run } => run,
        other => {
            return Err(Error::failure(format!("unexpected answer to a start: {other:?}")).into())
        }
    };
    let view = handlers::read(&app.shared, move |store| store.run_view(&run)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}
