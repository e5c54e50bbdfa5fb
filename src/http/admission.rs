//! `--limit-concurrency`: how many requests one worker serves at once. A request (an HTTP/1.1
//! request, an HTTP/2 stream, a WebSocket session) holds a [`Permit`] from its arrival until
//! its response body has ended or been dropped (a WebSocket: until its session ends). A request
//! arriving while every permit is out is refused at once, without calling the app: nothing
//! queues.
//!
//! The refusal depends on the protocol ([`refusal`]):
//!
//! - HTTP/1.1: `503 Service Unavailable` with `Retry-After: 1` and `connection: close` (the
//!   client's next request opens a new connection, which is where `--backpressure` applies).
//! - HTTP/2: `RST_STREAM(REFUSED_STREAM)`, which tells the client the stream was not processed
//!   at all and may be retried as is (RFC 9113 §8.7). The service returns [`Refused`] as its
//!   error: hyper's HTTP/2 server resets a stream whose service failed with the `h2::Reason`
//!   found in the error's source chain (`hyper::Error::h2_reason`), and goes on serving the
//!   connection's other streams.
//!
//! The counter is one atomic per worker (compare-and-swap up, subtract on release): no lock, no
//! queue. A warning is logged at most once per second, with the number of requests refused
//! since the previous one ([`RefusalLog`]).

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HeaderValue, CONNECTION, RETRY_AFTER};
use http::{Response, StatusCode, Version};

use super::body::ResponseBody;
use super::response::status_only;
use crate::bridge::{Bridge, Level};

/// The body of the HTTP/1.1 refusal.
const BUSY: &[u8] = b"Service Unavailable: the server is at its concurrency limit, retry shortly.\n";

/// The per-worker count of requests in flight, and its limit.
pub(crate) struct Admission {
    limit: usize,
    in_flight: AtomicUsize,
    log: RefusalLog,
}

impl Admission {
    /// `limit` requests at once (at least 1; 0, "off", means no `Admission` at all).
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            in_flight: AtomicUsize::new(0),
            log: RefusalLog::new(Instant::now()),
        })
    }

    /// A permit, or `None` when `limit` requests are in flight already.
    pub(crate) fn try_admit(self: &Arc<Self>) -> Option<Permit> {
        let mut current = self.in_flight.load(Ordering::Relaxed);
        loop {
            if current >= self.limit {
                return None;
            }
            match self
                .in_flight
                .compare_exchange_weak(current, current + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Some(Permit(Arc::clone(self))),
                Err(seen) => current = seen,
            }
        }
    }

    /// Requests holding a permit now.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Refuses a request of HTTP `version` that found no permit (see [`refusal`]), logging the
    /// warning when one is due (see [`RefusalLog`]).
    pub(crate) fn refuse(&self, version: Version, bridge: &Bridge) -> Result<Response<ResponseBody>, Refused> {
        if let Some(count) = self.log.refused(Instant::now()) {
            bridge.log(Level::Warning, || self.warning(count));
        }
        refusal(version)
    }

    fn warning(&self, count: u64) -> String {
        let s = if count == 1 { "" } else { "s" };
        format!(
            "Concurrency limit reached (--limit-concurrency {}): refused {count} request{s} since the last warning",
            self.limit
        )
    }
}

/// One request's place among the `limit`; given back when dropped.
pub(crate) struct Permit(Arc<Admission>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Release);
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permit")
    }
}

/// The minimum time between two refusal warnings.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Rate limit of the refusal warning: the first refusal is logged at once, later ones only
/// once [`LOG_EVERY`] has passed since the last line, each line counting every refusal since
/// the one before (lock-free: an atomic counter and the time the next line may be written).
struct RefusalLog {
    epoch: Instant,
    /// Milliseconds after `epoch` before which no line is written.
    next_ms: AtomicU64,
    /// Refusals not reported yet.
    pending: AtomicU64,
}

impl RefusalLog {
    fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            next_ms: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }

    /// Counts one refusal at `now`; `Some(n)` when a line is due, `n` being the refusals since
    /// the last line, this one included.
    fn refused(&self, now: Instant) -> Option<u64> {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let now_ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Acquire);
        if now_ms < next {
            return None;
        }
        let after = now_ms.saturating_add(LOG_EVERY.as_millis() as u64);
        // One thread wins the line; the others' refusals are in `pending` for it or the next.
        self.next_ms
            .compare_exchange(next, after, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        Some(self.pending.swap(0, Ordering::AcqRel))
    }
}

/// The service error that makes hyper's HTTP/2 server reset the stream with
/// `REFUSED_STREAM` (see the module docs). Never returned on HTTP/1.1.
pub(crate) struct Refused(h2::Error);

impl Refused {
    fn new() -> Self {
        Self(h2::Error::from(h2::Reason::REFUSED_STREAM))
    }
}

impl fmt::Debug for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Refused(REFUSED_STREAM)")
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request refused: the worker is at its concurrency limit")
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// What a request refused for lack of a permit gets, per HTTP version (see the module docs).
pub(crate) fn refusal(version: Version) -> Result<Response<ResponseBody>, Refused> {
    if version == Version::HTTP_2 {
        return Err(Refused::new());
    }
    let mut resp = status_only(StatusCode::SERVICE_UNAVAILABLE, BUSY);
    let headers = resp.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    Ok(resp)
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
