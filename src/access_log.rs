//! Access-log facts gathered on the runtime thread; the line itself is rendered by the Python
//! `granian.access` logger (so user formats and handlers apply), only when it is enabled.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::bridge::Bridge;
use crate::http::forwarded::Forwarded;
use crate::net::ConnInfo;

pub(crate) struct AccessFacts {
    addr: String,
    start: f64,
    method: String,
    path: String,
    query: String,
    scheme: &'static str,
    protocol: &'static str,
    headers: HeaderMap,
}

pub(crate) fn protocol_name(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_10 => "HTTP/1",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

impl AccessFacts {
    /// `addr` and `scheme` are the client's as a trusted proxy reported them, if one did.
    pub(crate) fn new(
        head: &http::request::Parts,
        conn: &Arc<ConnInfo>,
        forwarded: Forwarded,
        now: SystemTime,
    ) -> Self {
        Self {
            addr: forwarded.client_ip(conn).into_owned(),
            start: now.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
            method: head.method.as_str().to_string(),
            path: head.uri.path().to_string(),
            query: head.uri.query().unwrap_or("").to_string(),
            scheme: forwarded.scheme(conn),
            protocol: protocol_name(head.version),
            headers: head.headers.clone(),
        }
    }

    pub(crate) fn emit(self, bridge: &Bridge, status: u16, elapsed: Duration) {
        let dt_ms = elapsed.as_secs_f64() * 1000.0;
        bridge.push(Box::new(move |py, ctx| {
            let Some(cb) = &ctx.on_access else { return };
            let res = (|| -> PyResult<()> {
                let headers = PyList::empty(py);
                for (k, v) in &self.headers {
                    headers.append((k.as_str(), String::from_utf8_lossy(v.as_bytes())))?;
                }
                cb.call1(
                    py,
                    (
                        self.addr,
                        self.start,
                        dt_ms,
                        status,
                        self.method,
                        self.path,
                        self.query,
                        self.scheme,
                        self.protocol,
                        headers,
                    ),
                )?;
                Ok(())
            })();
            if let Err(e) = res {
                e.print(py);
            }
        }));
    }
}
