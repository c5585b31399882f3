//! The live server of `herald run --listen` (docs/server.md): takes events, replies, delivery
//! reports and call results over signed HTTP and hands them to the engine
//! (`driver::arrival::Inbox`), answering each request only after what it brought is durably
//! stored. It also shows the run: `/healthz`, `/metrics`, `/status`, `/report/{campaign}`.
//!
//! Connections are served by hyper directly (not `axum::serve`) so that a client that sends its
//! headers slowly is cut off, and the number of open connections is bounded.

pub mod calls;
mod hooks;
mod metrics_text;
mod reply;
mod routes;
pub mod twilio;

use std::sync::Arc;
use std::time::Duration;

use crate::driver::DriverError;
use crate::driver::arrival::Inbox;
use crate::driver::metrics::Metrics;
use crate::driver::run::Serving;
use crate::store::Store;

/// The largest request body taken; a larger one is answered 413.
pub const MAX_BODY: usize = 1024 * 1024;

/// How long a client may take to send its headers, and then its body.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once; further ones wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 1024;

/// Reads that walk the database (`/status`, `/metrics`, `/report`, `/export`) run at once, and
/// how long one waits for its turn before it is answered 503.
const MAX_SCANS: usize = 2;
const SCAN_WAIT: Duration = Duration::from_secs(10);

/// How far a signed request's timestamp may be from now before it is refused as a replay.
const TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// What every handler reads.
pub struct State {
    inbox: Arc<Inbox>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    /// The Standard Webhooks key of `server.secret` (`/events`, `/calls/generic`).
    webhook_key: Vec<u8>,
    /// `server.secret` as written: the unsubscribe tokens' key and the bearer token of what
    /// shows a contact's data.
    secret: Vec<u8>,
    /// `server.public_url` without a trailing `/`: the URL Twilio signs.
    public_url: Option<String>,
    /// The auth tokens of the `twilio` channels (a request may come from any of them).
    twilio_tokens: Vec<String>,
    calls: calls::Secrets,
    /// Turns of `MAX_SCANS` for the reads that walk the database.
    scans: Arc<tokio::sync::Semaphore>,
}

/// Starts the server when `listen` (from `--listen`) or `server.listen` names an address;
/// returns whether it did. Refuses to start without `server.secret`, since nothing it takes
/// could be checked.
pub fn start(serving: Serving<'_>, listen: Option<&str>) -> Result<bool, DriverError> {
    let server = serving.config.and_then(|c| c.server.as_ref());
    let Some(address) = listen.or(server.and_then(|s| s.listen.as_deref())) else { return Ok(false) };
    let Some(secret) = server.and_then(|s| s.secret.as_ref()) else {
        return Err(DriverError::Serve(
            "`--listen` needs `server.secret` in herald.yaml: what the server takes is signed with it (docs/server.md)"
                .into(),
        ));
    };
    let webhook_key = crate::channel::sign::webhook_key(secret.expose())
        .map_err(|e| DriverError::Serve(format!("server.secret ({}): {e}", secret.written())))?;
    let server = server.expect("a secret was found in it");
    let expose = |s: &Option<crate::config::Secret>| s.as_ref().map(|s| s.expose().to_string());
    let twilio_tokens = serving
        .config
        .into_iter()
        .flat_map(|c| &c.channels)
        .filter_map(|c| match &c.kind {
            crate::config::Kind::Twilio(t) => Some(t.auth_token.expose().to_string()),
            _ => None,
        })
        .collect();
    let state = Arc::new(State {
        inbox: serving.inbox,
        store: serving.store,
        metrics: serving.metrics,
        calls: calls::Secrets {
            vapi: expose(&server.vapi_secret),
            retell: expose(&server.retell_api_key),
            bland: expose(&server.bland_secret),
            generic: Some(webhook_key.clone()),
        },
        webhook_key,
        secret: secret.expose().as_bytes().to_vec(),
        public_url: server.public_url.as_ref().map(|u| u.trim_end_matches('/').to_string()),
        twilio_tokens,
        scans: Arc::new(tokio::sync::Semaphore::new(MAX_SCANS)),
    });
    let listener = std::net::TcpListener::bind(address)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| DriverError::Serve(format!("cannot listen on {address}: {e}")))?;
    let local = listener.local_addr().map_err(|e| DriverError::Serve(format!("cannot listen on {address}: {e}")))?;
    let _inside = serving.runtime.enter();
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(|e| DriverError::Serve(format!("{address}: {e}")))?;
    crate::say!("run: listening on http://{local}");
    serving.runtime.spawn(accept(listener, routes::router(state)));
    Ok(true)
}

/// Serves each connection on its own task, at most `MAX_CONNECTIONS` at once.
async fn accept(listener: tokio::net::TcpListener, router: axum::Router) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                crate::say!("run: server: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
            let io = hyper_util::rt::TokioIo::new(stream);
            // A connection that fails (a reset, a malformed request line) ends alone.
            let _ = builder.serve_connection(io, service).await;
            drop(slot);
        });
    }
}
