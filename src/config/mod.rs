//! The engine's view of the configuration: plain Rust values, read once per `Engine(...)` from
//! the dict that `granian.config.Config.engine_settings()` builds.
//!
//! The crossing is typed and strict. The dict mirrors [`EngineConfig`]: one key per field, the
//! field's name, a nested dict for each nested struct (`http1`, `http2`, `ws`; `tls` is `None`
//! for plain TCP). Every key is required and holds a value of the field's type: `int`, `bool`,
//! `str`, `None` for an empty `Option`, a list of `str`, a `datetime.timedelta` for a
//! `Duration`, a string for [`HttpMode`] and [`RuntimeMode`]. A missing key, a wrong type or a
//! key no field reads makes `Engine(...)` raise a `ValueError` naming the dotted key
//! (`engine setting 'http1.max_headers': missing`); see [`section`].
//!
//! Nothing here has a default or checks a limit: defaults and validation live in Python
//! (`granian/config.py`, `granian/http.py`), and `granian/_engine_settings.py` turns the
//! validated `Config` into engine units (durations, the log level number, the TLS version
//! flag, the frame size range). Adding an option therefore takes:
//!
//! 1. its declaration, a field with its default, limits and flag on `Config` or on
//!    `HTTP1Settings`/`HTTP2Settings` (the CLI and validation come from it);
//! 2. one line in `granian._engine_settings.engine_settings` putting it, in engine units, under
//!    the key of the Rust field;
//! 3. the Rust field in the struct below, its `s.get("name")?` line in the struct's
//!    [`FromSettings`] impl, and the code that uses it.
//!
//! `tests/unit/test_engine_settings.py` feeds what Python produces to
//! `_granian.check_engine_settings` for every interface, so forgetting step 2 or 3 fails there.

mod proxies;
mod section;

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;

use self::section::{read_settings, FromSettings, Section};
use crate::http::forwarded::ProxyTrust;
pub(crate) use crate::http::static_files::StaticConfig;
pub(crate) use crate::ws::WsConfig;

/// How the tokio threads of a worker are laid out (`--runtime-mode`, resolved: `"st"`/`"mt"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RuntimeMode {
    /// N independent current-thread runtimes, each accepting on the shared socket.
    SingleThread,
    /// One multi-thread runtime with N threads.
    MultiThread,
}

/// HTTP/1 settings (`--http1-*`); hyper's `http1::Builder` takes them as they are.
#[derive(Clone, Debug)]
pub(crate) struct Http1Config {
    pub(crate) keep_alive: bool,
    /// At least 8 KiB (hyper's minimum; checked in Python).
    pub(crate) max_buffer_size: usize,
    /// Also bounds the TLS handshake and the protocol-detection read.
    pub(crate) header_read_timeout: Duration,
    pub(crate) pipeline_flush: bool,
    pub(crate) max_headers: usize,
}

/// Which HTTP versions a worker serves (`--http`: `"auto"`, `"1"`, `"2"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpMode {
    /// HTTP/1.1 and HTTP/2 (by TLS ALPN, or the h2 preface on cleartext).
    Auto,
    Http1,
    Http2,
}

/// HTTP/2 settings (`--http2-*`); hyper's `http2::Builder` takes them as they are.
#[derive(Clone, Debug)]
pub(crate) struct Http2Config {
    pub(crate) adaptive_window: bool,
    pub(crate) initial_connection_window_size: u32,
    pub(crate) initial_stream_window_size: u32,
    /// `None`: no keep-alive pings.
    pub(crate) keep_alive_interval: Option<Duration>,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) max_concurrent_streams: u32,
    /// Within the range HTTP/2 allows (16 KiB to 16 MiB - 1; Python clamps it, h2 panics
    /// outside it).
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
    /// Python logging level number of the runtime logger; above 50 when logging is off.
    pub(crate) log_level: u8,
    pub(crate) access_log: bool,
    /// Header names the access-log format reads (`%(header{name})s` and the shorthands built
    /// on request headers), as parsed from it once by Python: only these are copied per request.
    pub(crate) access_log_request_headers: Vec<String>,
    /// Header names of `%(response_header{name})s` atoms in the access-log format.
    pub(crate) access_log_response_headers: Vec<String>,
    /// `--metrics`: record the per-worker metrics (`crate::metrics`).
    pub(crate) metrics: bool,
    /// Mount prefix (`--url-path-prefix`), the ASGI `root_path`: without a trailing slash,
    /// `None` when empty. (WSGI gets its `SCRIPT_NAME` through `WSGIPool`.)
    pub(crate) url_path_prefix: Option<String>,
    /// Put the thread calling `Engine.serve` (the loop thread) under `SCHED_BATCH` (see
    /// `server::sched`). Workers say true; the embedded server says false so that the host
    /// program's thread keeps its policy. The runtime threads are always under `SCHED_BATCH`.
    pub(crate) sched_batch: bool,
    /// `--ws`: serve WebSocket upgrades (ASGI and RSGI only).
    pub(crate) websockets: bool,
    pub(crate) ws: WsConfig,
    /// `--server-header`: `server: granian` on responses whose app set no `server` (and on the
    /// error answers hyper writes itself).
    pub(crate) server_header: bool,
    /// `--date-header`: hyper's automatic `date` header.
    pub(crate) date_header: bool,
    /// `--header NAME:VALUE`: added to every response that lacks the name.
    pub(crate) response_headers: Vec<(String, String)>,
    /// `--forwarded-allow-ips`, or `None` with `--no-proxy-headers` (see `http::forwarded`).
    pub(crate) trusted_proxies: Option<ProxyTrust>,
    /// `--limit-concurrency`: requests served at once by this worker (0: no limit).
    pub(crate) limit_concurrency: usize,
    /// This worker's `--limit-max-requests` (jitter already added): after that many requests it
    /// calls `on_max_requests` once (0: never).
    pub(crate) max_requests: u64,
    /// `--max-body-size` in bytes; `None`: no cap.
    pub(crate) max_body_size: Option<u64>,
    /// `--body-read-timeout`: longest wait for more of a request body; `None`: no limit.
    pub(crate) body_read_timeout: Option<Duration>,
    /// `--graceful-timeout`: how long a stopping worker lets connections finish before it
    /// cuts them (zero: at once). See `http::drain`.
    pub(crate) graceful_timeout: Duration,
    /// `--keep-alive-timeout`: close a connection idle this long; `None` = off.
    pub(crate) keep_alive_timeout: Option<Duration>,
    /// `--write-timeout`: drop a peer that accepts no bytes this long; `None` = off.
    pub(crate) write_timeout: Option<Duration>,
    /// `--static-path-*`: files served before the app; `None` without a mount.
    pub(crate) static_files: Option<StaticConfig>,
}

impl EngineConfig {
    /// Reads the settings dict built by `Config.engine_settings()` (see the module docs).
    pub(crate) fn from_py(settings: &Bound<'_, PyAny>) -> PyResult<Self> {
        read_settings(settings)
    }
}

impl FromSettings for EngineConfig {
    fn read(s: &Section<'_>) -> PyResult<Self> {
        Ok(Self {
            runtime_threads: s.get("runtime_threads")?,
            runtime_mode: s.get("runtime_mode")?,
            runtime_blocking_threads: s.get("runtime_blocking_threads")?,
            backpressure: s.get("backpressure")?,
            http1: s.section("http1")?,
            http2: s.section("http2")?,
            http_mode: s.get("http_mode")?,
            tls: s.optional_section("tls")?,
            log_level: s.get("log_level")?,
            access_log: s.get("access_log")?,
            access_log_request_headers: s.get("access_log_request_headers")?,
            access_log_response_headers: s.get("access_log_response_headers")?,
            metrics: s.get("metrics")?,
            url_path_prefix: s.get("url_path_prefix")?,
            sched_batch: s.get("sched_batch")?,
            websockets: s.get("websockets")?,
            ws: s.section("ws")?,
            server_header: s.get("server_header")?,
            date_header: s.get("date_header")?,
            response_headers: s.get("response_headers")?,
            trusted_proxies: s.get("trusted_proxies")?,
            limit_concurrency: s.get("limit_concurrency")?,
            max_requests: s.get("max_requests")?,
            max_body_size: s.get("max_body_size")?,
            body_read_timeout: s.get("body_read_timeout")?,
            graceful_timeout: s.get("graceful_timeout")?,
            keep_alive_timeout: s.get("keep_alive_timeout")?,
            write_timeout: s.get("write_timeout")?,
            static_files: s.optional_section("static_files")?,
        })
    }
}

impl FromSettings for Http1Config {
    fn read(s: &Section<'_>) -> PyResult<Self> {
        Ok(Self {
            keep_alive: s.get("keep_alive")?,
            max_buffer_size: s.get("max_buffer_size")?,
            header_read_timeout: s.get("header_read_timeout")?,
            pipeline_flush: s.get("pipeline_flush")?,
            max_headers: s.get("max_headers")?,
        })
    }
}

impl FromSettings for Http2Config {
    fn read(s: &Section<'_>) -> PyResult<Self> {
        Ok(Self {
            adaptive_window: s.get("adaptive_window")?,
            initial_connection_window_size: s.get("initial_connection_window_size")?,
            initial_stream_window_size: s.get("initial_stream_window_size")?,
            keep_alive_interval: s.get("keep_alive_interval")?,
            keep_alive_timeout: s.get("keep_alive_timeout")?,
            max_concurrent_streams: s.get("max_concurrent_streams")?,
            max_frame_size: s.get("max_frame_size")?,
            max_headers_size: s.get("max_headers_size")?,
            max_send_buffer_size: s.get("max_send_buffer_size")?,
        })
    }
}

impl FromSettings for TlsConfig {
    fn read(s: &Section<'_>) -> PyResult<Self> {
        Ok(Self {
            cert: s.get("cert")?,
            key: s.get("key")?,
            key_password: s.get("key_password")?,
            tls13_only: s.get("tls13_only")?,
            ca: s.get("ca")?,
            crls: s.get("crls")?,
            client_verify: s.get("client_verify")?,
        })
    }
}

impl FromSettings for StaticConfig {
    fn read(s: &Section<'_>) -> PyResult<Self> {
        Ok(Self {
            mounts: s.get("mounts")?,
            dir_to_file: s.get("dir_to_file")?,
            expires: s.get("expires")?,
            precompressed: s.get("precompressed")?,
            fallthrough: s.get("fallthrough")?,
            follow_symlinks: s.get("follow_symlinks")?,
        })
    }
}

impl FromSettings for WsConfig {
    fn read(s: &Section<'_>) -> PyResult<Self> {
        Ok(Self {
            max_message_size: s.get("max_message_size")?,
            ping_interval: s.get("ping_interval")?,
            ping_timeout: s.get("ping_timeout")?,
        })
    }
}

/// `obj` among `choices` (the Python spellings), or a `ValueError` listing them (the settings
/// reader adds the value given).
fn choice<T: Copy>(obj: Borrowed<'_, '_, PyAny>, choices: &[(&str, T)]) -> PyResult<T> {
    let value: PyBackedStr = obj.extract()?;
    choices
        .iter()
        .find(|(name, _)| *name == &*value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<String> = choices.iter().map(|(name, _)| format!("'{name}'")).collect();
            PyValueError::new_err(format!("expected one of {}", names.join(", ")))
        })
}

impl FromPyObject<'_, '_> for RuntimeMode {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        choice(obj, &[("st", Self::SingleThread), ("mt", Self::MultiThread)])
    }
}

impl FromPyObject<'_, '_> for HttpMode {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        choice(obj, &[("auto", Self::Auto), ("1", Self::Http1), ("2", Self::Http2)])
    }
}

#[cfg(test)]
mod tests {
    use pyo3::ffi::c_str;
    use pyo3::types::PyDict;

    use super::*;

    /// Every key the engine reads, as `Config.engine_settings()` spells them (TLS on, so that
    /// its section is read too).
    fn settings(py: Python<'_>) -> Bound<'_, PyDict> {
        let code = c_str!(
            "dict(
                runtime_threads=2, runtime_mode='mt', runtime_blocking_threads=8, backpressure=64,
                http1=dict(keep_alive=True, max_buffer_size=8192, header_read_timeout=td(seconds=5),
                           pipeline_flush=False, max_headers=50),
                http2=dict(adaptive_window=False, initial_connection_window_size=65535,
                           initial_stream_window_size=65535, keep_alive_interval=None,
                           keep_alive_timeout=td(seconds=20), max_concurrent_streams=100,
                           max_frame_size=16384, max_headers_size=16384, max_send_buffer_size=4096),
                http_mode='2',
                tls=dict(cert='c.pem', key='k.pem', key_password=None, tls13_only=True, ca=None,
                         crls=['r.pem'], client_verify=False),
                log_level=10, access_log=True, access_log_request_headers=['user-agent'],
                access_log_response_headers=[], metrics=True, url_path_prefix='/api', sched_batch=False,
                websockets=True, server_header=False, date_header=True, response_headers=[],
                trusted_proxies=['127.0.0.1', '10.0.0.0/8', '*'],
                limit_concurrency=64,
                max_requests=1000,
                max_body_size=None, body_read_timeout=td(seconds=30),
                graceful_timeout=td(seconds=3),
                keep_alive_timeout=td(seconds=5), write_timeout=None,
                static_files=dict(
                    mounts=[('/static', '.'), ('/', '/tmp')], dir_to_file='index.html',
                    expires=td(seconds=60), precompressed=True, fallthrough=False,
                    follow_symlinks=True,
                ),
                ws=dict(max_message_size=1024, ping_interval=td(milliseconds=1500), ping_timeout=None),
            )"
        );
        let globals = PyDict::new(py);
        globals
            .set_item("td", py.import("datetime").unwrap().getattr("timedelta").unwrap())
            .unwrap();
        py.eval(code, Some(&globals), None).unwrap().cast_into().unwrap()
    }

    fn error(settings: &Bound<'_, PyDict>) -> String {
        EngineConfig::from_py(settings)
            .unwrap_err()
            .value(settings.py())
            .to_string()
    }

    #[test]
    fn reads_the_settings_python_builds() {
        Python::attach(|py| {
            let cfg = EngineConfig::from_py(&settings(py)).unwrap();
            assert_eq!((cfg.runtime_threads, cfg.runtime_mode), (2, RuntimeMode::MultiThread));
            assert_eq!(cfg.http1.header_read_timeout, Duration::from_secs(5));
            assert_eq!(cfg.http2.keep_alive_interval, None);
            assert_eq!(cfg.http_mode, HttpMode::Http2);
            let tls = cfg.tls.unwrap();
            assert!(tls.tls13_only);
            assert_eq!(tls.crls, ["r.pem"]);
            assert_eq!(cfg.url_path_prefix.as_deref(), Some("/api"));
            assert_eq!(cfg.ws.ping_interval, Some(Duration::from_millis(1500)));
            assert_eq!(cfg.ws.ping_timeout, None);
            assert!(cfg.trusted_proxies.is_some());
            assert_eq!(cfg.max_body_size, None);
            assert_eq!(cfg.body_read_timeout, Some(Duration::from_secs(30)));
            assert_eq!(cfg.graceful_timeout, Duration::from_secs(3));
            assert_eq!(cfg.keep_alive_timeout, Some(Duration::from_secs(5)));
            assert_eq!(cfg.write_timeout, None);
            let files = cfg.static_files.expect("a static_files section");
            assert_eq!(files.mounts[1], ("/".to_string(), "/tmp".to_string()));
            assert_eq!(files.dir_to_file.as_deref(), Some("index.html"));
            assert_eq!(files.expires, Some(Duration::from_secs(60)));
            assert!(files.precompressed && !files.fallthrough && files.follow_symlinks);
        });
    }

    #[test]
    fn no_tls_section_is_plain_tcp() {
        Python::attach(|py| {
            let plain = settings(py);
            plain.set_item("tls", py.None()).unwrap();
            assert!(EngineConfig::from_py(&plain).unwrap().tls.is_none());
        });
    }

    #[test]
    fn every_key_is_required() {
        Python::attach(|py| {
            let top = settings(py);
            top.del_item("backpressure").unwrap();
            assert_eq!(error(&top), "engine setting 'backpressure': missing");
            let nested = settings(py);
            let h1 = nested.get_item("http1").unwrap().unwrap();
            h1.del_item("max_headers").unwrap();
            assert_eq!(error(&nested), "engine setting 'http1.max_headers': missing");
        });
    }

    #[test]
    fn modes_are_checked_not_guessed() {
        Python::attach(|py| {
            let http = settings(py);
            http.set_item("http_mode", "3").unwrap();
            assert_eq!(
                error(&http),
                "engine setting 'http_mode': expected one of 'auto', '1', '2' (got '3')"
            );
            let runtime = settings(py);
            runtime.set_item("runtime_mode", "auto").unwrap();
            assert_eq!(
                error(&runtime),
                "engine setting 'runtime_mode': expected one of 'st', 'mt' (got 'auto')"
            );
        });
    }

    #[test]
    fn trusted_proxies_are_parsed_when_read() {
        Python::attach(|py| {
            let off = settings(py);
            off.set_item("trusted_proxies", py.None()).unwrap();
            assert!(EngineConfig::from_py(&off).unwrap().trusted_proxies.is_none());
            let bad = settings(py);
            bad.set_item("trusted_proxies", vec!["localhost"]).unwrap();
            assert_eq!(
                error(&bad),
                "engine setting 'trusted_proxies': 'localhost' is not an IP address or network (got ['localhost'])"
            );
        });
    }

    #[test]
    fn durations_are_timedeltas() {
        Python::attach(|py| {
            let top = settings(py);
            let ws = top.get_item("ws").unwrap().unwrap();
            ws.set_item("ping_timeout", 20).unwrap();
            let err = error(&top);
            assert!(err.starts_with("engine setting 'ws.ping_timeout': "), "{err}");
            assert!(err.contains("timedelta"), "{err}");
        });
    }

    #[test]
    fn the_python_spellings_of_the_modes() {
        Python::attach(|py| {
            let mode: HttpMode = "auto".into_pyobject(py).unwrap().extract().unwrap();
            assert_eq!(mode, HttpMode::Auto);
            let mode: RuntimeMode = "st".into_pyobject(py).unwrap().extract().unwrap();
            assert_eq!(mode, RuntimeMode::SingleThread);
        });
    }
}
