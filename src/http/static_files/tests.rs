//! [`StaticFiles::serve`] on a temporary directory: the heads of its answers.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method};
use http_body_util::BodyExt;

use super::*;

fn files(name: &str) -> (ScratchDir, StaticFiles) {
    let scratch = ScratchDir::new("serve", name);
    let dir = scratch.0.clone();
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello world").unwrap();
    std::fs::write(dir.join("docs/index.html"), "<p>hi</p>").unwrap();
    let cfg = StaticConfig {
        mounts: vec![("/static".into(), dir.to_string_lossy().into_owned())],
        dir_to_file: Some("index.html".into()),
        expires: Some(Duration::from_secs(60)),
        precompressed: true,
        fallthrough: false,
        follow_symlinks: false,
    };
    let files = StaticFiles::new(&cfg).unwrap();
    (scratch, files)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn get(files: &StaticFiles, method: Method, path: &str, lines: &[(&str, &str)]) -> (u16, HeaderMap, Vec<u8>) {
    let mut headers = HeaderMap::new();
    for (k, v) in lines {
        headers.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let uri: http::Uri = path.parse().unwrap();
    let target = files.target(uri.path()).expect("under a route");
    let resp = files.serve(target, &uri, &method, &headers).await;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status.as_u16(), parts.headers, body)
}

#[test]
fn a_file_with_its_validators_and_cache_control() {
    let (_d, files) = files("whole");
    runtime().block_on(async {
        let (status, h, body) = get(&files, Method::GET, "/static/hello.txt", &[]).await;
        assert_eq!((status, &body[..]), (200, &b"hello world"[..]));
        assert_eq!(h["content-type"], "text/plain; charset=utf-8");
        assert_eq!(h["content-length"], "11");
        assert_eq!(h["cache-control"], "max-age=60");
        assert_eq!(h["accept-ranges"], "bytes");
        assert!(h.contains_key("etag") && h.contains_key("last-modified"));
        let (status, _, body) = get(&files, Method::GET, "/static/docs/", &[]).await;
        assert_eq!((status, &body[..]), (200, &b"<p>hi</p>"[..]));
    });
}

#[test]
fn a_directory_without_its_slash_is_redirected_to_it() {
    let (_d, files) = files("slash");
    runtime().block_on(async {
        for (method, path, to) in [
            (Method::GET, "/static/docs", "/static/docs/"),
            (Method::GET, "/static/docs?lang=fr", "/static/docs/?lang=fr"),
            (Method::HEAD, "/static", "/static/"),
        ] {
            let (status, h, _) = get(&files, method, path, &[]).await;
            assert_eq!(status, 301, "{path}");
            assert_eq!(h["location"], to);
        }
    });
}

#[test]
fn revalidation_ranges_head_and_other_methods() {
    let (_d, files) = files("cond");
    runtime().block_on(async {
        let (_, h, _) = get(&files, Method::GET, "/static/hello.txt", &[]).await;
        let etag = h["etag"].to_str().unwrap().to_string();
        let (status, h304, body) = get(&files, Method::GET, "/static/hello.txt", &[("if-none-match", &etag)]).await;
        assert_eq!((status, body.len()), (304, 0));
        assert_eq!(h304["etag"], etag.as_str());
        let (status, h, body) = get(&files, Method::GET, "/static/hello.txt", &[("range", "bytes=-5")]).await;
        assert_eq!((status, &body[..]), (206, &b"world"[..]));
        assert_eq!(h["content-range"], "bytes 6-10/11");
        let stale = [("range", "bytes=0-4"), ("if-range", "\"stale\"")];
        let (status, _, body) = get(&files, Method::GET, "/static/hello.txt", &stale).await;
        assert_eq!((status, body.len()), (200, 11));
        let (status, h, _) = get(&files, Method::GET, "/static/hello.txt", &[("range", "bytes=50-")]).await;
        assert_eq!((status, h["content-range"].to_str().unwrap()), (416, "bytes */11"));
        let (status, h, body) = get(&files, Method::HEAD, "/static/hello.txt", &[]).await;
        assert_eq!(
            (status, h["content-length"].to_str().unwrap(), body.len()),
            (200, "11", 0)
        );
        let (status, h, _) = get(&files, Method::POST, "/static/hello.txt", &[]).await;
        assert_eq!((status, h["allow"].to_str().unwrap()), (405, "GET, HEAD"));
    });
}

#[test]
fn list_fields_on_several_lines_and_a_range_sent_twice() {
    let (d, files) = files("lines");
    std::fs::write(d.0.join("hello.txt.br"), "BR").unwrap();
    runtime().block_on(async {
        let (_, h, _) = get(&files, Method::GET, "/static/hello.txt", &[]).await;
        let etag = h["etag"].to_str().unwrap().to_string();
        let split = [("if-none-match", "\"other\""), ("if-none-match", &etag)];
        assert_eq!(get(&files, Method::GET, "/static/hello.txt", &split).await.0, 304);
        let split = [("if-match", "\"other\""), ("if-match", &etag)];
        assert_eq!(get(&files, Method::GET, "/static/hello.txt", &split).await.0, 200);
        let split = [("accept-encoding", "gzip"), ("accept-encoding", "br")];
        let (_, h, body) = get(&files, Method::GET, "/static/hello.txt", &split).await;
        assert_eq!((&body[..], text(&h, "content-encoding")), (&b"BR"[..], "br"));
        let twice = [("range", "bytes=0-1"), ("range", "bytes=0-1")];
        let (status, h, body) = get(&files, Method::GET, "/static/hello.txt", &twice).await;
        assert_eq!(
            (status, &body[..], text(&h, "content-range")),
            (200, &b"hello world"[..], "")
        );
    });
}

#[test]
fn misses_and_escapes_are_404() {
    let (_d, files) = files("miss");
    runtime().block_on(async {
        for path in [
            "/static/nope.txt",
            "/static/%2e%2e/x",
            "/static/..%2fx",
            "/static/a%00b",
            "/static/a%5cb",
        ] {
            assert_eq!(get(&files, Method::GET, path, &[]).await.0, 404, "{path}");
        }
    });
    assert!(files.target("/staticfoo/hello.txt").is_none());
    assert!(files.target("/other").is_none());
}

#[test]
fn content_types_from_extensions() {
    assert_eq!(content_type(Path::new("a.css")), "text/css; charset=utf-8");
    assert_eq!(content_type(Path::new("a.png")), "image/png");
    assert_eq!(content_type(Path::new("a.unknownext")), "application/octet-stream");
    let js = content_type(Path::new("a.js"));
    assert!(js.to_str().unwrap().ends_with("charset=utf-8"), "{js:?}");
}

/// A header's value as text, `""` when absent.
fn text<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers.get(name).map_or("", |v| v.to_str().unwrap())
}

#[test]
fn precompressed_siblings_when_accepted() {
    let (d, files) = files("precompressed");
    std::fs::write(d.0.join("hello.txt.gz"), "GZ").unwrap();
    std::fs::write(d.0.join("hello.txt.br"), "BR").unwrap();
    runtime().block_on(async {
        let fetch = |accept: &'static str| {
            let lines: Vec<(&str, &str)> = if accept.is_empty() {
                vec![]
            } else {
                vec![("accept-encoding", accept)]
            };
            let files = &files;
            async move { get(files, Method::GET, "/static/hello.txt", &lines).await }
        };
        let (status, h, body) = fetch("gzip, br").await;
        assert_eq!(
            (status, &body[..], text(&h, "content-encoding")),
            (200, &b"BR"[..], "br")
        );
        assert_eq!(text(&h, "content-type"), "text/plain; charset=utf-8");
        assert_eq!(text(&h, "vary"), "accept-encoding");
        let (_, h, body) = fetch("gzip, br;q=0.1").await;
        assert_eq!((&body[..], text(&h, "content-encoding")), (&b"GZ"[..], "gzip"));
        let (_, h, body) = fetch("zstd").await;
        assert_eq!((&body[..], text(&h, "content-encoding")), (&b"hello world"[..], ""));
        assert_eq!(text(&h, "vary"), "accept-encoding");
        let (_, h, body) = fetch("").await;
        assert_eq!((&body[..], text(&h, "content-encoding")), (&b"hello world"[..], ""));
    });
}
