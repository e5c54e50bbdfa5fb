//! What one runtime thread has recorded: plain numbers, updated under the thread's own shard
//! lock and summed over the shards when a snapshot is taken. Gauges are kept as the sum of
//! their increments and decrements, so a connection that starts on one thread and ends on
//! another still adds up to zero.

use super::histogram::{Histogram, DURATION_BOUNDS, SIZE_BOUNDS};
use super::labels::TimeoutKind;

/// The request series of one label set (method, status code, protocol version).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RequestSeries {
    pub(crate) method: u8,
    pub(crate) status: u16,
    pub(crate) version: u8,
    /// Seconds from the request's head to the end of its response body.
    pub(crate) duration: Histogram<{ DURATION_BOUNDS.len() }>,
    /// Bytes of request body, for requests whose size was known (`Content-Length`, or none).
    pub(crate) request_size: Histogram<{ SIZE_BOUNDS.len() }>,
    /// Bytes of response body sent.
    pub(crate) response_size: Histogram<{ SIZE_BOUNDS.len() }>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Counts {
    pub(crate) connections_active: i64,
    pub(crate) connections_handled: u64,
    pub(crate) connections_err: u64,
    pub(crate) requests_handled: u64,
    pub(crate) requests_active: i64,
    pub(crate) static_handled: u64,
    pub(crate) static_err: u64,
    /// Requests refused by `--limit-concurrency` (HTTP/1.1 503, HTTP/2 REFUSED_STREAM).
    pub(crate) overload_refused: u64,
    pub(crate) timeouts: [u64; TimeoutKind::COUNT],
    pub(crate) ws_active: i64,
    pub(crate) ws_messages_in: u64,
    pub(crate) ws_messages_out: u64,
    /// Few label sets in practice: searched linearly.
    pub(crate) requests: Vec<RequestSeries>,
}

/// One finished request, as the handler saw it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Finished {
    pub(crate) method: u8,
    pub(crate) status: u16,
    pub(crate) version: u8,
    pub(crate) seconds: f64,
    pub(crate) request_size: Option<u64>,
    pub(crate) response_size: u64,
}

impl Counts {
    pub(crate) fn finish(&mut self, f: Finished) {
        let series = match self
            .requests
            .iter()
            .position(|s| s.status == f.status && s.method == f.method && s.version == f.version)
        {
            Some(i) => &mut self.requests[i],
            None => {
                self.requests.push(RequestSeries {
                    method: f.method,
                    status: f.status,
                    version: f.version,
                    ..RequestSeries::default()
                });
                self.requests.last_mut().expect("just pushed")
            }
        };
        series.duration.observe(&DURATION_BOUNDS, f.seconds);
        if let Some(size) = f.request_size {
            series.request_size.observe(&SIZE_BOUNDS, size as f64);
        }
        series.response_size.observe(&SIZE_BOUNDS, f.response_size as f64);
    }

    /// Adds `other` (another shard) into `self`.
    pub(crate) fn merge(&mut self, other: &Self) {
        self.connections_active += other.connections_active;
        self.connections_handled += other.connections_handled;
        self.connections_err += other.connections_err;
        self.requests_handled += other.requests_handled;
        self.requests_active += other.requests_active;
        self.static_handled += other.static_handled;
        self.static_err += other.static_err;
        self.overload_refused += other.overload_refused;
        for (a, b) in self.timeouts.iter_mut().zip(other.timeouts.iter()) {
            *a += b;
        }
        self.ws_active += other.ws_active;
        self.ws_messages_in += other.ws_messages_in;
        self.ws_messages_out += other.ws_messages_out;
        for s in &other.requests {
            match self
                .requests
                .iter_mut()
                .find(|m| m.status == s.status && m.method == s.method && m.version == s.version)
            {
                Some(m) => {
                    m.duration.merge(&s.duration);
                    m.request_size.merge(&s.request_size);
                    m.response_size.merge(&s.response_size);
                }
                None => self.requests.push(s.clone()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(status: u16, seconds: f64) -> Finished {
        Finished {
            method: 0,
            status,
            version: 1,
            seconds,
            request_size: None,
            response_size: 100,
        }
    }

    #[test]
    fn requests_of_one_label_set_share_a_series() {
        let mut c = Counts::default();
        c.finish(finished(200, 0.001));
        c.finish(finished(200, 0.2));
        c.finish(finished(500, 0.001));
        assert_eq!(c.requests.len(), 2);
        assert_eq!(c.requests[0].duration.count(), 2);
        assert_eq!(c.requests[0].request_size.count(), 0, "unknown sizes are not observed");
        assert_eq!(c.requests[0].response_size.sum(), 200.0);
    }

    #[test]
    fn shards_merge_into_one_total() {
        let mut a = Counts::default();
        let mut b = Counts::default();
        a.connections_active = 1;
        b.connections_active = -1;
        a.timeouts[2] = 1;
        b.timeouts[2] = 2;
        a.requests_active = 1;
        a.finish(finished(200, 0.001));
        b.requests_active = -1;
        b.finish(finished(200, 0.002));
        b.finish(finished(404, 0.002));
        a.merge(&b);
        assert_eq!(a.connections_active, 0, "opened on one thread, closed on another");
        assert_eq!(a.timeouts[2], 3);
        assert_eq!(a.requests.len(), 2);
        assert_eq!(a.requests[0].duration.count(), 2);
        assert_eq!(a.requests_active, 0);
    }
}
