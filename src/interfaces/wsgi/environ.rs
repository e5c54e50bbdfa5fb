//! The PEP 3333 `environ` dict of one request.
//!
//! The constant part (`wsgi.version`, `wsgi.errors`, `wsgi.file_wrapper`, `SCRIPT_NAME`, ...) is
//! a template dict built once by `granian.wsgi`; each request copies it and adds the request's
//! own keys. Every value is a native `str` holding bytes as latin-1 ("bytes-as-unicode"), as
//! PEP 3333 requires: `PATH_INFO` is percent-decoded first, so a UTF-8 path arrives as its
//! UTF-8 bytes decoded as latin-1, which frameworks turn back with `.encode('latin-1')`.

use std::borrow::Cow;

use http::header::{HeaderMap, HeaderName};
use percent_encoding::percent_decode;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};

use crate::http::forwarded::Forwarded;
use crate::http::names::COMMON_REQUEST_HEADERS;
use crate::interfaces::py::method::method_str;
use crate::interfaces::py::proxy;
use crate::net::ConnInfo;

/// The environ key of a request header: `CONTENT_TYPE`, `CONTENT_LENGTH`, else `HTTP_` plus
/// the name upper-cased with `-` as `_`. `None` for names containing `_`: once mapped they
/// would be indistinguishable from the `-` spelling (a classic way to smuggle a header past
/// a proxy that checks `X-Forwarded-For` but not `X_Forwarded_For`), so they are dropped.
pub(super) fn header_key(name: &str) -> Option<String> {
    if name.contains('_') {
        return None;
    }
    match name {
        "content-type" => return Some("CONTENT_TYPE".to_string()),
        "content-length" => return Some("CONTENT_LENGTH".to_string()),
        _ => {}
    }
    let mut key = String::with_capacity(5 + name.len());
    key.push_str("HTTP_");
    key.extend(
        name.bytes()
            .map(|b| if b == b'-' { '_' } else { b.to_ascii_uppercase() as char }),
    );
    Some(key)
}

/// How repeated fields are combined into one value: `; ` for cookies (RFC 9113 section 8.2.3:
/// HTTP/2 clients split a cookie header into several), `,` for every other field (RFC 9110
/// section 5.3 allows either; `,` without a space is what gunicorn and Granian put in the
/// environ, so apps that split on `,` see the same values).
pub(super) fn join_separator(name: &HeaderName) -> &'static [u8] {
    if name == http::header::COOKIE {
        b"; "
    } else {
        b","
    }
}

/// All the values of one field as a single byte string, in the order they were received.
pub(super) fn joined<'a>(
    name: &HeaderName,
    mut values: http::header::ValueIter<'a, http::HeaderValue>,
) -> Cow<'a, [u8]> {
    let Some(first) = values.next() else {
        return Cow::Borrowed(b"");
    };
    let Some(second) = values.next() else {
        return Cow::Borrowed(first.as_bytes());
    };
    let sep = join_separator(name);
    let mut out = Vec::with_capacity(first.len() + sep.len() + second.len());
    out.extend_from_slice(first.as_bytes());
    for v in std::iter::once(second).chain(values) {
        out.extend_from_slice(sep);
        out.extend_from_slice(v.as_bytes());
    }
    Cow::Owned(out)
}

/// `PATH_INFO` under a mount prefix: the rest of `path` when it is `prefix` or starts with
/// `prefix/`; `None` when the path lies outside the prefix.
pub(super) fn strip_prefix<'a>(path: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest[0] == b'/').then_some(rest)
}

/// A `str` whose code points are the given bytes (latin-1 decoding; never fails).
pub(super) fn latin1<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: `data` is a live slice for the duration of the call; a NULL result is turned into
    // the pending Python exception by `from_owned_ptr_or_err`, and a non-NULL one is a new
    // reference to a `str`.
    unsafe {
        let ptr = ffi::PyUnicode_DecodeLatin1(data.as_ptr().cast(), data.len() as ffi::Py_ssize_t, std::ptr::null());
        Ok(Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked())
    }
}

static COMMON_KEYS: PyOnceLock<Vec<(HeaderName, Py<PyString>)>> = PyOnceLock::new();

/// Environ keys of the headers seen on most requests, made once per process.
fn common_keys(py: Python<'_>) -> &[(HeaderName, Py<PyString>)] {
    COMMON_KEYS.get_or_init(py, || {
        COMMON_REQUEST_HEADERS
            .iter()
            .filter_map(|n| {
                let key = header_key(n.as_str())?;
                Some((n.clone(), PyString::intern(py, &key).unbind()))
            })
            .collect()
    })
}

fn key_of<'py>(py: Python<'py>, name: &HeaderName) -> Option<Bound<'py, PyString>> {
    for (n, key) in common_keys(py) {
        if n == name {
            return Some(key.bind(py).clone());
        }
    }
    header_key(name.as_str()).map(|k| PyString::new(py, &k))
}

fn protocol(py: Python<'_>, v: http::Version) -> Bound<'_, PyString> {
    match v {
        http::Version::HTTP_10 => intern!(py, "HTTP/1.0").clone(),
        http::Version::HTTP_09 => intern!(py, "HTTP/0.9").clone(),
        http::Version::HTTP_2 => intern!(py, "HTTP/2").clone(),
        http::Version::HTTP_3 => intern!(py, "HTTP/3").clone(),
        _ => intern!(py, "HTTP/1.1").clone(),
    }
}

/// Copies the template and fills in the request's keys (`wsgi.input` is added by the caller).
pub(super) fn build<'py>(
    py: Python<'py>,
    template: &Bound<'py, PyDict>,
    head: &http::request::Parts,
    conn: &ConnInfo,
    forwarded: Forwarded,
    prefix: &[u8],
) -> PyResult<Bound<'py, PyDict>> {
    let env = template.copy()?;
    env.set_item(intern!(py, "REQUEST_METHOD"), method_str(py, &head.method))?;
    env.set_item(intern!(py, "SERVER_PROTOCOL"), protocol(py, head.version))?;
    let scheme = match forwarded.scheme(conn) {
        "https" => intern!(py, "https"),
        _ => intern!(py, "http"),
    };
    env.set_item(intern!(py, "wsgi.url_scheme"), scheme)?;

    let raw_path = head.uri.path();
    let decoded: Cow<'_, [u8]> = if raw_path.contains('%') {
        percent_decode(raw_path.as_bytes()).into()
    } else {
        Cow::Borrowed(raw_path.as_bytes())
    };
    let path = if prefix.is_empty() {
        &decoded[..]
    } else if let Some(rest) = strip_prefix(&decoded, prefix) {
        rest
    } else {
        // Outside the mount point: the application sees the whole path and no script name.
        env.set_item(intern!(py, "SCRIPT_NAME"), intern!(py, ""))?;
        &decoded[..]
    };
    env.set_item(intern!(py, "PATH_INFO"), latin1(py, path)?)?;
    let query = head.uri.query().unwrap_or("");
    let query_obj = if query.is_empty() {
        intern!(py, "").clone()
    } else {
        PyString::new(py, query)
    };
    env.set_item(intern!(py, "QUERY_STRING"), query_obj)?;
    let uri = head.uri.path_and_query().map_or(raw_path, |pq| pq.as_str());
    env.set_item(intern!(py, "REQUEST_URI"), PyString::new(py, uri))?;

    match conn.local_addr {
        Some(a) => {
            env.set_item(intern!(py, "SERVER_NAME"), a.ip().to_string())?;
            env.set_item(intern!(py, "SERVER_PORT"), a.port().to_string())?;
        }
        None => {
            env.set_item(intern!(py, "SERVER_NAME"), conn.server.as_str())?;
            env.set_item(intern!(py, "SERVER_PORT"), intern!(py, "0"))?;
        }
    }
    // A client named by a trusted proxy has port 0 (its real port is not known).
    match forwarded.client_addr(conn) {
        Some(a) => {
            env.set_item(intern!(py, "REMOTE_ADDR"), a.ip().to_string())?;
            env.set_item(intern!(py, "REMOTE_PORT"), a.port().to_string())?;
        }
        None => env.set_item(intern!(py, "REMOTE_ADDR"), conn.client_ip.as_str())?,
    }
    if forwarded.applied() {
        env.set_item(intern!(py, proxy::KEY), proxy::mark(py, conn)?)?;
    }

    add_headers(py, &env, &head.headers)?;
    if !head.headers.contains_key(http::header::HOST) {
        if let Some(auth) = head.uri.authority() {
            env.set_item(intern!(py, "HTTP_HOST"), auth.as_str())?;
        }
    }
    Ok(env)
}

fn add_headers(py: Python<'_>, env: &Bound<'_, PyDict>, headers: &HeaderMap) -> PyResult<()> {
    for name in headers.keys() {
        let Some(key) = key_of(py, name) else { continue };
        let value = joined(name, headers.get_all(name).iter());
        env.set_item(key, latin1(py, &value)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn header_names_map_to_cgi_keys() {
        assert_eq!(header_key("content-type").as_deref(), Some("CONTENT_TYPE"));
        assert_eq!(header_key("content-length").as_deref(), Some("CONTENT_LENGTH"));
        assert_eq!(header_key("host").as_deref(), Some("HTTP_HOST"));
        assert_eq!(header_key("x-forwarded-for").as_deref(), Some("HTTP_X_FORWARDED_FOR"));
        assert_eq!(header_key("x_forwarded_for"), None, "underscores are dropped");
    }

    #[test]
    fn repeated_fields_are_joined_in_order() {
        let mut map = HeaderMap::new();
        map.append("x-multi", HeaderValue::from_static("one"));
        map.append("x-multi", HeaderValue::from_static("two"));
        map.append("x-multi", HeaderValue::from_static("three"));
        map.append("cookie", HeaderValue::from_static("a=1"));
        map.append("cookie", HeaderValue::from_static("b=2"));
        map.append("x-single", HeaderValue::from_static("only"));
        let name = HeaderName::from_static("x-multi");
        assert_eq!(&*joined(&name, map.get_all(&name).iter()), b"one,two,three");
        assert_eq!(
            &*joined(&http::header::COOKIE, map.get_all(http::header::COOKIE).iter()),
            b"a=1; b=2"
        );
        let single = HeaderName::from_static("x-single");
        assert!(matches!(
            joined(&single, map.get_all(&single).iter()),
            Cow::Borrowed(b"only")
        ));
    }

    #[test]
    fn prefix_matches_whole_segments_only() {
        assert_eq!(strip_prefix(b"/api/users", b"/api"), Some(&b"/users"[..]));
        assert_eq!(strip_prefix(b"/api", b"/api"), Some(&b""[..]));
        assert_eq!(strip_prefix(b"/apiary", b"/api"), None);
        assert_eq!(strip_prefix(b"/other", b"/api"), None);
    }

    #[test]
    fn latin1_keeps_every_byte_as_one_code_point() {
        Python::attach(|py| {
            let s = latin1(py, b"/caf\xc3\xa9 \xff").unwrap();
            let text = s.to_str().unwrap().to_string();
            let cps: Vec<u32> = text.chars().map(|c| c as u32).collect();
            assert_eq!(cps, [0x2f, 0x63, 0x61, 0x66, 0xc3, 0xa9, 0x20, 0xff]);
        });
    }
}
