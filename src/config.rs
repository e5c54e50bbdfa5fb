//! The engine's view of the configuration: plain Rust values read once, at worker start, from
//! the dict that `granian.config.Config.to_dict()` produces. Defaults and validation live in
//! Python (`config.py`); missing keys here fall back to the same defaults so the engine can be
//! driven by hand in tests.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

pub(crate) use crate::ws::WsConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RuntimeMode {
    /// N independent current-thread runtimes, each accepting on the shared socket.
    SingleThread,
    /// One multi-thread runtime with N threads.
    MultiThread,
}

#[derive(Clone, Debug)]
pub(crate) struct Http1Config {
    pub(crate) keep_alive: bool,
    pub(crate) max_buffer_size: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) pipeline_flush: bool,
    pub(crate) max_headers: usize,
}

/// Which HTTP versions a worker serves (`--http`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpMode {
    /// HTTP/1.1 and HTTP/2 (by TLS ALPN, or the h2 preface on cleartext).
    Auto,
    Http1,
    Http2,
}

#[derive(Clone, Debug)]
pub(crate) struct Http2Config {
    pub(crate) adaptive_window: bool,
    pub(crate) initial_connection_window_size: u32,
    pub(crate) initial_stream_window_size: u32,
    pub(crate) keep_alive_interval: Option<Duration>,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) max_concurrent_streams: u32,
    /// Clamped to the range HTTP/2 allows (16 KiB to 16 MiB - 1).
    pub(crate) max_frame_size: u32,
    pub(crate) max_headers_size: u32,
    pub(crate) max_send_buffer_size: usize,
}

/// TLS settings; `None` in `EngineConfig::tls` means plain TCP.
#[derive(Clone, Debug)]
pub(crate) struct TlsConfig {
    pub(crate) cert: String,
    pub(crate) key: String,
    pub(crate) key_password: Option<String>,
    /// `true` = TLS 1.3 only; `false` = TLS 1.2 and 1.3.
    pub(crate) tls13_only: bool,
    pub(crate) ca: Option<String>,
    pub(crate) crls: Vec<String>,
    pub(crate) client_verify: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct EngineConfig {
    pub(crate) runtime_threads: usize,
    pub(crate) runtime_mode: RuntimeMode,
    pub(crate) runtime_blocking_threads: usize,
    /// Max connections served at once by this worker; more wait in the kernel's accept queue.
    pub(crate) backpressure: usize,
    pub(crate) http1: Http1Config,
    pub(crate) http2: Http2Config,
    pub(crate) http_mode: HttpMode,
    pub(crate) tls: Option<TlsConfig>,
    /// Python logging level number of the runtime logger.
    pub(crate) log_level: u8,
    pub(crate) access_log: bool,
    /// Mount prefix (`--url-path-prefix`): ASGI `root_path`, WSGI `SCRIPT_NAME`; without a
    /// trailing slash, `None` when empty.
    pub(crate) url_path_prefix: Option<String>,
    /// Put the thread calling `Engine.serve` (the loop thread) under `SCHED_BATCH` (see
    /// `server::sched`). Default true; the embedded server passes false so that the host
    /// program's thread keeps its policy. The runtime threads are always under `SCHED_BATCH`.
    pub(crate) sched_batch: bool,
    /// `--ws`: serve WebSocket upgrades (ASGI and RSGI only).
    pub(crate) websockets: bool,
    pub(crate) ws: WsConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            runtime_threads: 1,
            runtime_mode: RuntimeMode::SingleThread,
            runtime_blocking_threads: 512,
            backpressure: 1024,
            http1: Http1Config {
                keep_alive: true,
                max_buffer_size: 417_792,
                header_read_timeout: Duration::from_millis(30_000),
                pipeline_flush: false,
                max_headers: 100,
            },
            http2: Http2Config {
                adaptive_window: false,
                initial_connection_window_size: 1_048_576,
                initial_stream_window_size: 1_048_576,
                keep_alive_interval: None,
                keep_alive_timeout: Duration::from_secs(20),
                max_concurrent_streams: 200,
                max_frame_size: 16_384,
                max_headers_size: 16_777_216,
                max_send_buffer_size: 409_600,
            },
            http_mode: HttpMode::Auto,
            tls: None,
            log_level: 20,
            access_log: false,
            url_path_prefix: None,
            sched_batch: true,
            websockets: true,
            ws: WsConfig {
                max_message_size: 16 * 1024 * 1024,
                ping_interval: Some(Duration::from_secs(20)),
                ping_timeout: Some(Duration::from_secs(20)),
            },
        }
    }
}

/// Seconds (float) as a duration; `0` (or less) = `None`.
fn seconds(s: f64) -> Option<Duration> {
    (s > 0.0 && s.is_finite()).then(|| Duration::from_secs_f64(s))
}

/// The inverse of [`seconds`], for defaults.
fn as_seconds(d: Option<Duration>) -> f64 {
    d.map_or(0.0, |d| d.as_secs_f64())
}

fn get<'py, T: for<'a> FromPyObject<'a, 'py>>(d: &Bound<'py, PyDict>, key: &str, default: T) -> PyResult<T> {
    match d.get_item(key)? {
        Some(v) if !v.is_none() => v.extract::<T>().map_err(|e| {
            pyo3::exceptions::PyValueError::new_err(format!("invalid engine setting {key}: {}", Into::<PyErr>::into(e)))
        }),
        _ => Ok(default),
    }
}

pub(crate) fn level_number(name: &str) -> u8 {
    match name.to_ascii_lowercase().as_str() {
        "critical" => 50,
        "error" => 40,
        "warning" | "warn" => 30,
        "info" => 20,
        "debug" => 10,
        "notset" => 0,
        _ => 20,
    }
}

impl EngineConfig {
    pub(crate) fn from_dict(d: &Bound<'_, PyDict>) -> PyResult<Self> {
        let dflt = Self::default();
        let mode: String = get(d, "runtime_mode", "st".to_string())?;
        let runtime_mode = match mode.as_str() {
            "mt" => RuntimeMode::MultiThread,
            _ => RuntimeMode::SingleThread,
        };
        let h1 = match d.get_item("http1_settings")? {
            Some(v) if !v.is_none() => v.cast_into::<PyDict>()?,
            _ => PyDict::new(d.py()),
        };
        let timeout_ms: u64 = get(&h1, "header_read_timeout", 30_000u64)?;
        let h2 = match d.get_item("http2_settings")? {
            Some(v) if !v.is_none() => v.cast_into::<PyDict>()?,
            _ => PyDict::new(d.py()),
        };
        let d2 = &dflt.http2;
        let http2 = Http2Config {
            adaptive_window: get(&h2, "adaptive_window", d2.adaptive_window)?,
            initial_connection_window_size: get(
                &h2,
                "initial_connection_window_size",
                d2.initial_connection_window_size,
            )?,
            initial_stream_window_size: get(&h2, "initial_stream_window_size", d2.initial_stream_window_size)?,
            keep_alive_interval: get(&h2, "keep_alive_interval", None::<u64>)?.map(Duration::from_millis),
            keep_alive_timeout: Duration::from_secs(get(&h2, "keep_alive_timeout", 20u64)?.max(1)),
            max_concurrent_streams: get(&h2, "max_concurrent_streams", d2.max_concurrent_streams)?,
            max_frame_size: get(&h2, "max_frame_size", d2.max_frame_size)?.clamp(16_384, 16_777_215),
            max_headers_size: get(&h2, "max_headers_size", d2.max_headers_size)?,
            max_send_buffer_size: get(&h2, "max_send_buffer_size", d2.max_send_buffer_size)?,
        };
        let mode: String = get(d, "http", "auto".to_string())?;
        let http_mode = match mode.as_str() {
            "1" => HttpMode::Http1,
            "2" => HttpMode::Http2,
            _ => HttpMode::Auto,
        };
        let cert: Option<String> = get(d, "ssl_cert", None)?;
        let key: Option<String> = get(d, "ssl_key", None)?;
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsConfig {
                cert,
                key,
                key_password: get(d, "ssl_key_password", None)?,
                tls13_only: get(d, "ssl_protocol_min", "tls1.3".to_string())? != "tls1.2",
                ca: get(d, "ssl_ca", None)?,
                crls: get(d, "ssl_crl", Vec::<String>::new())?,
                client_verify: get(d, "ssl_client_verify", false)?,
            }),
            _ => None,
        };
        let log_enabled: bool = get(d, "log_enabled", true)?;
        let level: String = get(d, "log_level", "info".to_string())?;
        Ok(Self {
            runtime_threads: get(d, "runtime_threads", dflt.runtime_threads)?.max(1),
            runtime_mode,
            runtime_blocking_threads: get(d, "runtime_blocking_threads", dflt.runtime_blocking_threads)?.max(1),
            backpressure: get(d, "backpressure", dflt.backpressure)?.max(1),
            http1: Http1Config {
                keep_alive: get(&h1, "keep_alive", dflt.http1.keep_alive)?,
                max_buffer_size: get(&h1, "max_buffer_size", dflt.http1.max_buffer_size)?.max(8192),
                header_read_timeout: Duration::from_millis(timeout_ms.max(1)),
                pipeline_flush: get(&h1, "pipeline_flush", dflt.http1.pipeline_flush)?,
                max_headers: get(&h1, "max_headers", dflt.http1.max_headers)?.max(1),
            },
            http2,
            http_mode,
            tls,
            log_level: if log_enabled { level_number(&level) } else { 60 },
            access_log: get(d, "log_access", false)?,
            url_path_prefix: get(d, "url_path_prefix", None::<String>)?
                .map(|p| p.trim_end_matches('/').to_string())
                .filter(|p| !p.is_empty()),
            sched_batch: get(d, "sched_batch", dflt.sched_batch)?,
            websockets: get(d, "websockets", dflt.websockets)?,
            ws: WsConfig {
                max_message_size: get(d, "ws_max_message_size", dflt.ws.max_message_size)?.max(1),
                ping_interval: seconds(get(d, "ws_ping_interval", as_seconds(dflt.ws.ping_interval))?),
                ping_timeout: seconds(get(d, "ws_ping_timeout", as_seconds(dflt.ws.ping_timeout))?),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_map_to_python_numbers() {
        assert_eq!(level_number("DEBUG"), 10);
        assert_eq!(level_number("warn"), 30);
        assert_eq!(level_number("critical"), 50);
        assert_eq!(level_number("bogus"), 20);
    }
}
