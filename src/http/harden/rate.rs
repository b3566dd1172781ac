//! Request rates (governor's GCRA, keyed): a limit of N per minute lets a burst of N through,
//! then one more every 60/N seconds. What is limited, and by what:
//!
//! | requests | counted per | limit |
//! |---|---|---|
//! | `/api/...` | key (a hash of the `Authorization` header), else client address | `api_per_minute` |
//! | `POST /console/login` | client address | `sign_in_per_minute` |
//! | `POST /l/{token}`, `POST /l/{token}/resend` | token, and client address | `link_token_per_minute`, `link_address_per_minute` |
//! | `POST /enroll` | client address | `enroll_per_minute` |
//!
//! The client address is the TCP peer: behind a reverse proxy it is the proxy's, so every client
//! shares one budget (raise the per-address limits there, or turn them off and limit at the
//! proxy). IPv6 clients count per /64, the block one subscriber usually holds. A refusal is 429
//! with `Retry-After`: JSON `rate_limited` on the API, a short page elsewhere.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use super::is_api;
use crate::config::Limits;
use crate::http::ApiError;

/// A keyed limiter, or `None` when its limit is 0 (off).
type Keyed<K> = Option<DefaultKeyedRateLimiter<K>>;

/// Who an API request is counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Caller {
    /// The SHA-256 of the `Authorization` header: the key itself is not kept.
    Key([u8; 32]),
    Address(IpAddr),
}

pub(super) struct RateLimits {
    api: Keyed<Caller>,
    sign_in: Keyed<IpAddr>,
    link_token: Keyed<[u8; 32]>,
    link_address: Keyed<IpAddr>,
    enroll: Keyed<IpAddr>,
    clock: DefaultClock,
    /// When the limiters last forgot the clients they no longer hold back.
    swept: Mutex<Instant>,
}

/// How often the limiters drop the state of clients whose budget is full again.
const SWEEP: Duration = Duration::from_secs(60);

fn keyed<K: Clone + Eq + std::hash::Hash>(per_minute: u32) -> Keyed<K> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::dashmap(Quota::per_minute(n)))
}

impl RateLimits {
    pub fn new(limits: &Limits) -> Self {
        Self {
            api: keyed(limits.api_per_minute),
            sign_in: keyed(limits.sign_in_per_minute),
            link_token: keyed(limits.link_token_per_minute),
            link_address: keyed(limits.link_address_per_minute),
            enroll: keyed(limits.enroll_per_minute),
            clock: DefaultClock::default(),
            swept: Mutex::new(Instant::now()),
        }
    }

    /// `Err` with the wait before the request would pass.
    fn check(&self, request: &Request) -> Result<(), Refused> {
        let address = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| client(info.0.ip()));
        // Without the server's ConnectInfo (a router driven in-process) all share one address.
        let address = address.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let path = request.uri().path();
        let post = request.method() == Method::POST;
        if is_api(path) {
            let caller = match request.headers().get(header::AUTHORIZATION) {
                Some(value) => Caller::Key(Sha256::digest(value.as_bytes()).into()),
                None => Caller::Address(address),
            };
            let counted = if matches!(caller, Caller::Key(_)) { "key" } else { "address" };
            return self.one(&self.api, &caller, Surface::Api { counted });
        }
        if post && path == "/console/login" {
            return self.one(&self.sign_in, &address, Surface::Page);
        }
        if post && path == "/enroll" {
            return self.one(&self.enroll, &address, Surface::Page);
        }
        if let Some(token) = link_token(post, path) {
            let token: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            self.one(&self.link_token, &token, Surface::Page)?;
            return self.one(&self.link_address, &address, Surface::Page);
        }
        Ok(())
    }

    fn one<K: Clone + Eq + std::hash::Hash>(
        &self,
        limiter: &Keyed<K>,
        key: &K,
        surface: Surface,
    ) -> Result<(), Refused> {
        let Some(limiter) = limiter else { return Ok(()) };
        limiter
            .check_key(key)
            .map_err(|not_until| Refused { wait: not_until.wait_time_from(self.clock.now()), surface })
    }

    /// Forgets, once a minute, the clients whose budget has refilled, so that the limiters hold
    /// only the clients being held back.
    fn sweep(&self) {
        let Ok(mut swept) = self.swept.try_lock() else { return };
        if swept.elapsed() < SWEEP {
            return;
        }
        *swept = Instant::now();
        if let Some(limiter) = &self.api {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        for limiter in [&self.sign_in, &self.link_address, &self.enroll].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.link_token {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The token of a link's action or resend request.
fn link_token(post: bool, path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/l/").filter(|_| post)?;
    let token = rest.strip_suffix("/resend").unwrap_or(rest);
    (!token.is_empty() && !token.contains('/')).then_some(token)
}

/// The address a client is counted by: IPv6 by its /64.
fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mask = !0u128 << 64;
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        },
        v4 => v4,
    }
}

/// Where the refused request was going, which decides how the refusal reads.
#[derive(Clone, Copy, Debug)]
enum Surface {
    /// The JSON API; `counted` says by what ("key" or "address").
    Api { counted: &'static str },
    /// A link page or the console: a person with a browser.
    Page,
}

struct Refused {
    wait: Duration,
    surface: Surface,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        // Whole seconds, rounded up: a client that waits this long gets through.
        let seconds = self.wait.as_secs() + u64::from(self.wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        let mut response = match self.surface {
            Surface::Api { counted } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from this {counted}; try again in {seconds} s"),
            )
            .into_response(),
            Surface::Page => {
                let wait = if seconds == 1 { "a second".to_owned() } else { format!("{seconds} seconds") };
                (StatusCode::TOO_MANY_REQUESTS, Html(PAGE.replace("{wait}", &wait))).into_response()
            }
        };
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        response
    }
}

const PAGE: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"robots\" content=\"noindex\">\n\
<title>Too many attempts</title>\n<link rel=\"stylesheet\" href=\"/assets/pages.css\">\n</head>\n<body>\n<main>\n\
<h1>Too many attempts</h1>\n<p>Please wait {wait}, then try again.</p>\n</main>\n</body>\n</html>\n";

/// The middleware: refuses a request over its limit before anything else runs.
pub(super) async fn limit(State(limits): State<std::sync::Arc<RateLimits>>, request: Request, next: Next) -> Response {
    limits.sweep();
    match limits.check(&request) {
        Ok(()) => next.run(request).await,
        Err(refused) => {
            tracing::info!(
                path = %request.uri().path(),
                retry_after_ms = refused.wait.as_millis() as u64,
                "rate limited"
            );
            refused.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_counted_by_their_token_and_other_paths_are_not_links() {
        assert_eq!(link_token(true, "/l/abc"), Some("abc"));
        assert_eq!(link_token(true, "/l/abc/resend"), Some("abc"));
        assert_eq!(link_token(false, "/l/abc"), None, "showing a page is not limited");
        assert_eq!(link_token(true, "/l/"), None);
        assert_eq!(link_token(true, "/l/abc/other"), None);
        assert_eq!(link_token(true, "/console/login"), None);
    }

    #[test]
    fn ipv6_clients_count_by_their_64_block_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client(a), client(b));
        assert_ne!(client(a), client(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
