//! Static files served by the engine, before the app is called (`--static-path-*`).
//!
//! A request whose percent-decoded path falls under a route ([`route`]) is answered from the
//! route's mount directory, the way nginx serves a `location` with a `root`: the path is
//! checked and resolved inside the mount ([`path`]), the preconditions ([`conditional`]) and
//! the range ([`range`]) are evaluated, and the file is sent in large chunks by
//! [`FileBody`] (from the page cache on the runtime thread, else from the blocking pool; never
//! in Python). Only GET and HEAD are served (405 otherwise); anything that names no regular
//! file inside the mount is a 404. A path outside every route goes to the app.
//!
//! The rules are plain functions tested without sockets; [`StaticFiles::serve`] only strings
//! them together, and `handler::handle` calls it once, for every interface and HTTP version.

pub(crate) mod conditional;
pub(crate) mod encoding;
pub(crate) mod fields;
pub(crate) mod open_files;
pub(crate) mod path;
pub(crate) mod range;
pub(crate) mod route;

use std::borrow::Cow;
use std::fs::Metadata;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_TYPE, ETAG, LAST_MODIFIED, LOCATION, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};

use self::conditional::{Precondition, Validators};
use self::open_files::{OpenFiles, Opened};
use self::range::Ranged;
use super::body::ResponseBody;
use super::file_body::FileBody;
use super::response::{build, status_only};

/// `--static-path-*`, as the engine reads it.
#[derive(Clone, Debug)]
pub(crate) struct StaticConfig {
    /// `(route, directory)` pairs, routes normalised by the config (leading slash, none at the
    /// end, or exactly `/`).
    pub(crate) mounts: Vec<(String, String)>,
    /// `--static-path-dir-to-file`: served for a directory.
    pub(crate) dir_to_file: Option<String>,
    /// `--static-path-expires`: `cache-control: max-age`; `None` for no header.
    pub(crate) expires: Option<Duration>,
    /// `--static-path-precompressed`: send `file.br`/`.zst`/`.gz` when accepted.
    pub(crate) precompressed: bool,
    /// `--static-path-fallthrough`: a 404 under a route is left to the app.
    pub(crate) fallthrough: bool,
    /// `--static-path-follow-symlinks`: a symlink in a mount may lead out of it.
    pub(crate) follow_symlinks: bool,
}

/// The routes and their canonical mount directories, for one worker.
pub(crate) struct StaticFiles {
    routes: Vec<String>,
    roots: Vec<Arc<Path>>,
    dir_to_file: Option<Arc<str>>,
    cache_control: Option<HeaderValue>,
    precompressed: bool,
    fallthrough: bool,
    symlinks: path::Symlinks,
    open: OpenFiles,
}

/// A request path that falls under a route: the mount's index and the decoded rest.
pub(crate) struct Target<'p> {
    mount: usize,
    rest: Cow<'p, [u8]>,
}

impl StaticFiles {
    /// Canonicalises every mount (an error names the directory that cannot be).
    pub(crate) fn new(cfg: &StaticConfig) -> io::Result<Self> {
        let mut routes = Vec::with_capacity(cfg.mounts.len());
        let mut roots = Vec::with_capacity(cfg.mounts.len());
        for (route, dir) in &cfg.mounts {
            let root = Path::new(dir)
                .canonicalize()
                .map_err(|e| io::Error::new(e.kind(), format!("static mount {dir:?}: {e}")))?;
            routes.push(route.clone());
            roots.push(Arc::from(root));
        }
        let cache_control = cfg.expires.map(|d| value(&format!("max-age={}", d.as_secs())));
        Ok(Self {
            routes,
            roots,
            dir_to_file: cfg.dir_to_file.as_deref().map(Arc::from),
            cache_control,
            precompressed: cfg.precompressed,
            fallthrough: cfg.fallthrough,
            symlinks: match cfg.follow_symlinks {
                true => path::Symlinks::Followed,
                false => path::Symlinks::Contained,
            },
            open: OpenFiles::new(),
        })
    }

    /// The route `path` (the request's raw path) falls under, once percent-decoded.
    pub(crate) fn target<'p>(&self, path: &'p str) -> Option<Target<'p>> {
        let decoded: Cow<'p, [u8]> = percent_encoding::percent_decode(path.as_bytes()).into();
        let (mount, rest) = route::find(&self.routes, &decoded)?;
        let rest = match decoded {
            Cow::Borrowed(all) => Cow::Borrowed(&all[all.len() - rest.len()..]),
            Cow::Owned(ref all) => Cow::Owned(all[all.len() - rest.len()..].to_vec()),
        };
        Some(Target { mount, rest })
    }

    /// Whether `resp` (a static answer) is left to the app instead: a 404 under
    /// `--static-path-fallthrough` (single-page applications route such paths themselves).
    pub(crate) fn falls_through(&self, resp: &Response<ResponseBody>) -> bool {
        self.fallthrough && resp.status() == StatusCode::NOT_FOUND
    }

    /// The answer for a request for `uri` under a route.
    pub(crate) async fn serve(
        &self,
        target: Target<'_>,
        uri: &Uri,
        method: &Method,
        headers: &HeaderMap,
    ) -> Response<ResponseBody> {
        if method != Method::GET && method != Method::HEAD {
            let mut resp = status_only(StatusCode::METHOD_NOT_ALLOWED, b"Method Not Allowed");
            resp.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        let codings = match self.precompressed {
            true => encoding::ranked(fields::list(headers, &ACCEPT_ENCODING)),
            false => Vec::new(),
        };
        let slash = uri.path().ends_with('/');
        let head_only = method == Method::HEAD;
        let key = open_files::Key::new(target.mount, &target.rest, slash, &codings);
        let now = Instant::now();
        if let Some(opened) = self.open.get(&key, now) {
            // The inode is held open: its metadata is in memory.
            if let Some(meta) = opened.file.metadata().ok().filter(|m| m.is_file()) {
                return self.answer(opened, &meta, head_only, headers);
            }
        }
        // Checked on a miss only: a path refused here is never a key of the open files.
        let Ok(relative) = path::relative(&target.rest) else {
            return not_found();
        };
        let root = Arc::clone(&self.roots[target.mount]);
        let index = self.dir_to_file.clone();
        let links = self.symlinks;
        let wanted = codings.clone();
        let found = tokio::task::spawn_blocking(move || {
            let found = path::resolve(&root, &relative, index.as_deref(), slash, links)?;
            // The best accepted sibling that exists; the plain file from `identity` on.
            let variant = wanted
                .iter()
                .map_while(|c| c.suffix().map(|suffix| (*c, suffix)))
                .find_map(|(c, suffix)| path::sibling(&root, &found, suffix, links).map(|f| (c, f)));
            Ok::<_, path::Miss>(match variant {
                Some((coding, sibling)) => (Some(coding), found.path, sibling),
                None => (None, found.path.clone(), found),
            })
        })
        .await;
        let (coding, name, found) = match found {
            Ok(Ok(found)) => found,
            Ok(Err(path::Miss::Directory)) => return to_directory(uri),
            _ => return not_found(),
        };
        let opened = Opened {
            file: Arc::new(found.file),
            name: Arc::from(name),
            coding,
        };
        self.open.put(&key, opened.clone(), now);
        self.answer(opened, &found.meta, head_only, headers)
    }

    /// The answer sending `opened` (the file asked for or its precompressed sibling), as
    /// described by `meta`.
    fn answer(&self, opened: Opened, meta: &Metadata, head_only: bool, req: &HeaderMap) -> Response<ResponseBody> {
        let len = meta.len();
        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        let validators = Validators::new(len, modified);
        let mut headers = HeaderMap::new();
        if self.precompressed {
            headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        }
        headers.insert(ETAG, value(&validators.etag));
        headers.insert(LAST_MODIFIED, value(&validators.http_date()));
        if let Some(cc) = &self.cache_control {
            headers.insert(CACHE_CONTROL, cc.clone());
        }
        match conditional::evaluate(req, &validators) {
            Precondition::Serve => {}
            Precondition::NotModified => return build(StatusCode::NOT_MODIFIED, headers, ResponseBody::Empty),
            Precondition::Failed => return status_only(StatusCode::PRECONDITION_FAILED, b"Precondition Failed"),
        }
        headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(CONTENT_TYPE, content_type(&opened.name));
        if let Some(coding) = opened.coding {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
        }
        let (status, start, count) = match range::evaluate(conditional::range(req, &validators), len) {
            Ranged::Whole => (StatusCode::OK, 0, len),
            Ranged::Part { start, end } => {
                headers.insert(CONTENT_RANGE, value(&format!("bytes {start}-{end}/{len}")));
                (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
            }
            Ranged::Unsatisfiable => {
                let mut resp = status_only(StatusCode::RANGE_NOT_SATISFIABLE, b"");
                resp.headers_mut()
                    .insert(CONTENT_RANGE, value(&format!("bytes */{len}")));
                return resp;
            }
        };
        headers.insert(CONTENT_LENGTH, HeaderValue::from(count));
        if head_only || count == 0 {
            return build(status, headers, ResponseBody::Empty);
        }
        build(
            status,
            headers,
            ResponseBody::File(FileBody::new(opened.file, start, count)),
        )
    }
}

/// `301` to the directory `uri` names, with its trailing slash (the query kept), as nginx does.
fn to_directory(uri: &Uri) -> Response<ResponseBody> {
    let location = match uri.query() {
        Some(query) => format!("{}/?{query}", uri.path()),
        None => format!("{}/", uri.path()),
    };
    let mut resp = status_only(StatusCode::MOVED_PERMANENTLY, b"Moved Permanently");
    resp.headers_mut().insert(LOCATION, value(&location));
    resp
}

fn not_found() -> Response<ResponseBody> {
    status_only(StatusCode::NOT_FOUND, b"Not Found")
}

/// A header value from text we formatted ourselves (always visible ASCII).
fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| unreachable_value())
}

/// Stands in for a value that cannot be invalid (ASCII we formatted); never sent in practice.
fn unreachable_value() -> HeaderValue {
    HeaderValue::from_static("invalid")
}

/// The `content-type` of a file, from its extension; text types in UTF-8.
pub(crate) fn content_type(path: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let essence = mime.essence_str();
    let text = mime.type_() == "text"
        || matches!(
            essence,
            "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
        );
    if text && mime.get_param("charset").is_none() {
        value(&format!("{essence}; charset=utf-8"))
    } else {
        value(mime.as_ref())
    }
}

/// A scratch directory under the system's temporary one, removed when dropped (tests).
#[cfg(test)]
pub(crate) struct ScratchDir(pub(crate) std::path::PathBuf);

#[cfg(test)]
impl ScratchDir {
    /// `granian-{prefix}-{name}-{pid}`, empty (anything left from an earlier run is removed).
    pub(crate) fn new(prefix: &str, name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("granian-{prefix}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

#[cfg(test)]
impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests;
