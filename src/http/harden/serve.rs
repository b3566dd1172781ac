//! The accept loop. `axum::serve` sets no timeout and accepts until the process runs out of
//! files, so 1,100 half-sent requests under `ulimit -n 1024` stopped even `/healthz`. This serves
//! the same router with hyper's HTTP/1.1 connection (what `axum::serve` runs: HTTP/1.1 only, as
//! before) and adds what it lacked:
//!
//! - a client has `header_timeout` to send a request's head (hyper's clock, started when the
//!   connection begins to wait for a request) and, while no request is in progress, may stay
//!   silent for `idle_timeout` at most;
//! - at most `max_connections` connections are open, a cap below the file limit; when it is
//!   reached, a new connection closes the one that has waited longest for a request (never one
//!   with a request in progress), so a crowd of half-sent requests cannot lock out a client that
//!   talks: it costs each of them its connection instead;
//! - on shutdown, connections finish the request in progress and close.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;
use tracing::{debug, info, warn};

use crate::config::Config;

/// How the server treats connections; [`Serving::from_config`] reads it from `[limits]`.
#[derive(Clone, Debug)]
pub struct Serving {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// More connections than this are not worth a semaphore's bookkeeping, whatever the file limit.
const MOST_CONNECTIONS: usize = 1 << 20;

/// Files a pooled database connection may hold: SQLite opens the database, its WAL and its
/// shared-memory file per connection; PostgreSQL needs one socket (over-reserving is harmless).
const FILES_PER_DATABASE_CONNECTION: usize = 3;

impl Serving {
    /// The configured timeouts and connection cap. With `max_connections = 0` the cap is the
    /// file limit (the soft limit, first raised to the hard one as far as the system lets a
    /// process) less what the database pool and `reserved_files` need.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let limits = &config.limits;
        let reserve = limits.reserved_files + FILES_PER_DATABASE_CONNECTION * config.database_max_connections as usize;
        let files = open_file_limit();
        let max_connections = match (limits.max_connections, files) {
            (0, Some(files)) => {
                let cap = files.saturating_sub(reserve);
                anyhow::ensure!(
                    cap > 0,
                    "the file limit ({files}) leaves no room for connections after the {reserve} files kept for the \
                     database and the rest: raise it (`ulimit -n`) or set limits.max_connections"
                );
                cap
            }
            (0, None) => 1024,
            (configured, Some(files)) if configured + reserve > files => {
                warn!(
                    max_connections = configured,
                    file_limit = files,
                    reserve,
                    "limits.max_connections leaves too few files for the database and the rest: \
                     clients may be refused with `too many open files`"
                );
                configured
            }
            (configured, _) => configured,
        };
        Ok(Self {
            header_timeout: limits.header_timeout()?,
            idle_timeout: limits.idle_timeout()?,
            max_connections: max_connections.min(MOST_CONNECTIONS),
        })
    }
}

/// The soft limit on open files, raised to the hard limit first (as the Go runtime does); `None`
/// where there is no such limit to read.
fn open_file_limit() -> Option<usize> {
    if !rlimit::Resource::NOFILE.is_supported() {
        return None;
    }
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => soft,
        Err(err) => {
            debug!(error = %err, "raising the open-file limit failed; keeping the current one");
            rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?.0
        }
    };
    Some(usize::try_from(soft).unwrap_or(usize::MAX))
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the open connections
/// finish their requests. Handlers see the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    serving: Serving,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let tracker = Arc::new(Tracker::new(serving.max_connections));
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match tracker.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if !tracker.close_longest_waiting() {
                    debug!(%peer, "every connection has a request in progress: the new one waits for a slot");
                }
                // The semaphore is never closed, so `acquire_owned` only fails in theory.
                tokio::select! {
                    slot = tracker.slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_closed) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let connection = Connection {
            activity: tracker.join(),
            tracker: tracker.clone(),
            router: router.clone(),
            serving: serving.clone(),
            peer,
            _slot: slot,
        };
        tokio::spawn(connection.run(stream, stopping.clone()));
    }
    drop(listener);
    info!(open = tracker.open(), "no longer accepting connections; letting open requests finish");
    stop.send_replace(true);
    // Every connection holds a slot until it ends.
    let _all = tracker.slots.acquire_many(serving.max_connections as u32).await;
    Ok(())
}

/// `accept` fails when the process is out of files (which the cap should prevent) or a client
/// gave up while queued; the first is worth a pause, so as not to spin.
async fn accept_failed(err: std::io::Error) {
    let out_of_files = matches!(err.raw_os_error(), Some(code) if code == 23 || code == 24);
    if out_of_files {
        warn!(error = %err, "accepting a connection failed: too many open files; set limits.max_connections lower");
        tokio::time::sleep(Duration::from_millis(100)).await;
    } else {
        debug!(error = %err, "accepting a connection failed");
    }
}

/// The open connections: a slot each, and what each is doing, for choosing one to close.
struct Tracker {
    slots: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    started: Instant,
}

impl Tracker {
    fn new(max_connections: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_connections)),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn open(&self) -> usize {
        self.open.lock().map(|open| open.len()).unwrap_or_default()
    }

    fn join(&self) -> Arc<Activity> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new(id, self.started));
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, activity.clone());
        }
        activity
    }

    fn leave(&self, activity: &Activity) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&activity.id);
        }
    }

    /// Closes the connection that has waited longest for a request; false when every
    /// connection has a request in progress.
    fn close_longest_waiting(&self) -> bool {
        let Ok(open) = self.open.lock() else { return false };
        let mut waiting: Vec<&Arc<Activity>> = open.values().filter(|a| a.is_waiting()).collect();
        waiting.sort_by_key(|a| a.waiting_since.load(Ordering::Acquire));
        let closed = waiting.into_iter().find(|activity| activity.try_close());
        if let Some(activity) = closed {
            debug!(connection = activity.id, "the connection cap is reached: closed the connection waiting longest");
        }
        closed.is_some()
    }
}

/// What one connection is doing.
struct Activity {
    id: u64,
    /// Requests in progress, or [`CLOSING`] once the connection was chosen to close.
    requests: AtomicI64,
    /// When it began to wait for a request (accepted, or its last request ended), in
    /// milliseconds since `epoch`.
    waiting_since: AtomicU64,
    /// Whether bytes arrived since then: a request's head is on its way.
    heard: AtomicBool,
    /// Tells the connection's task that it was chosen to close.
    close: Notify,
    epoch: Instant,
}

const CLOSING: i64 = -1;

impl Activity {
    fn new(id: u64, epoch: Instant) -> Self {
        let activity = Self {
            id,
            requests: AtomicI64::new(0),
            waiting_since: AtomicU64::new(0),
            heard: AtomicBool::new(false),
            close: Notify::new(),
            epoch,
        };
        activity.waiting_since.store(activity.now(), Ordering::Release);
        activity
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_waiting(&self) -> bool {
        self.requests.load(Ordering::Acquire) == 0
    }

    /// Marks the connection closing if no request is in progress, and tells its task.
    fn try_close(&self) -> bool {
        let closing = self.requests.compare_exchange(0, CLOSING, Ordering::AcqRel, Ordering::Acquire).is_ok();
        if closing {
            self.close.notify_one();
        }
        closing
    }

    /// A request begins; `None` when the connection is already closing.
    fn begin(self: &Arc<Self>) -> Option<InProgress> {
        let mut current = self.requests.load(Ordering::Acquire);
        loop {
            if current == CLOSING {
                return None;
            }
            match self.requests.compare_exchange_weak(current, current + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(InProgress(self.clone())),
                Err(now) => current = now,
            }
        }
    }

    /// Completes once the connection has been silent, with no request in progress, for `idle`
    /// (and is then marked closing).
    async fn silent_for(&self, idle: Duration) {
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        loop {
            let quiet = self.is_waiting() && !self.heard.load(Ordering::Acquire);
            let waited = self.now().saturating_sub(self.waiting_since.load(Ordering::Acquire));
            if quiet && waited >= idle_ms && self.try_close() {
                return;
            }
            let wait = if quiet { idle_ms.saturating_sub(waited).max(1) } else { idle_ms };
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// A request in progress; dropping it (its response is ready, or it was abandoned) puts the
/// connection back to waiting for the next one.
struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.heard.store(false, Ordering::Release);
        activity.waiting_since.store(activity.now(), Ordering::Release);
        activity.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One accepted connection, with its slot under the cap.
struct Connection {
    activity: Arc<Activity>,
    tracker: Arc<Tracker>,
    router: Router,
    serving: Serving,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, stream: TcpStream, mut stopping: watch::Receiver<bool>) {
        let Connection { activity, tracker, router, serving, peer, _slot } = self;
        let service = {
            let activity = activity.clone();
            hyper::service::service_fn(move |request: Request<Incoming>| {
                let (router, activity) = (router.clone(), activity.clone());
                async move { Ok::<_, Infallible>(respond(router, &activity, peer, request).await) }
            })
        };
        let io = TokioIo::new(Observed { stream, activity: activity.clone() });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(serving.header_timeout).keep_alive(true);
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let silent = activity.silent_for(serving.idle_timeout);
        tokio::pin!(silent);
        let mut draining = false;
        loop {
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(err) = ended {
                        debug!(%peer, error = %err, "connection closed");
                    }
                    break;
                }
                () = &mut silent => {
                    debug!(%peer, "connection closed: silent for the idle timeout");
                    break;
                }
                () = activity.close.notified() => break,
                _ = stopping.wait_for(|stop| *stop), if !draining => {
                    connection.as_mut().graceful_shutdown();
                    draining = true;
                }
            }
        }
        tracker.leave(&activity);
    }
}

/// Runs one request through the router, the connection counted busy meanwhile.
async fn respond(
    router: Router,
    activity: &Arc<Activity>,
    peer: SocketAddr,
    mut request: Request<Incoming>,
) -> Response {
    let Some(_in_progress) = activity.begin() else {
        // Chosen to close as this head arrived: nothing was done, the client may retry.
        return (StatusCode::SERVICE_UNAVAILABLE, [(axum::http::header::CONNECTION, "close")]).into_response();
    };
    request.extensions_mut().insert(ConnectInfo(peer));
    router.oneshot(request.map(Body::new)).await.unwrap_or_else(|never| match never {})
}

/// The socket, noting when bytes arrive so that a connection sending a request's head is not
/// taken for a silent one.
struct Observed {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Observed {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.heard.store(true, Ordering::Release);
        }
        polled
    }
}

impl AsyncWrite for Observed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
