//! Which static route a request path falls under (`--static-path-route`).
//!
//! A route owns its path and everything below it on a segment boundary: route `/static`
//! matches `/static`, `/static/` and `/static/a.css`, never `/staticfoo`. When routes nest, the
//! longest one wins (like nginx prefix locations). Paths are compared as the bytes they are
//! once percent-decoded.

/// Finds the route `path` falls under among `routes` (each with a leading slash and no
/// trailing one, or exactly `/`): its index and the rest of the path after it (empty, or
/// starting with `/`).
pub(crate) fn find<'p, R: AsRef<str>>(routes: &[R], path: &'p [u8]) -> Option<(usize, &'p [u8])> {
    let mut best: Option<(usize, &[u8], usize)> = None;
    for (i, route) in routes.iter().enumerate() {
        let Some(rest) = under(route.as_ref().as_bytes(), path) else {
            continue;
        };
        let len = route.as_ref().len();
        if best.map_or(true, |(_, _, l)| len > l) {
            best = Some((i, rest, len));
        }
    }
    best.map(|(i, rest, _)| (i, rest))
}

/// The rest of `path` after `route`, if `path` is `route` or below it.
fn under<'p>(route: &[u8], path: &'p [u8]) -> Option<&'p [u8]> {
    if route == b"/" {
        return path.starts_with(b"/").then_some(path);
    }
    let rest = path.strip_prefix(route)?;
    (rest.is_empty() || rest.starts_with(b"/")).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::find;

    const ROUTES: [&str; 3] = ["/static", "/static/media", "/assets"];

    #[test]
    fn matches_on_segment_boundaries_only() {
        assert_eq!(find(&ROUTES, b"/static/a.css"), Some((0, &b"/a.css"[..])));
        assert_eq!(find(&ROUTES, b"/static"), Some((0, &b""[..])));
        assert_eq!(find(&ROUTES, b"/static/"), Some((0, &b"/"[..])));
        assert_eq!(find(&ROUTES, b"/staticfoo"), None);
        assert_eq!(find(&ROUTES, b"/staticfoo/a.css"), None);
        assert_eq!(find(&ROUTES, b"/api/static/a.css"), None);
        assert_eq!(find(&ROUTES, b"/"), None);
    }

    #[test]
    fn the_longest_route_wins() {
        assert_eq!(find(&ROUTES, b"/static/media/x.png"), Some((1, &b"/x.png"[..])));
        assert_eq!(find(&ROUTES, b"/static/mediax.png"), Some((0, &b"/mediax.png"[..])));
        assert_eq!(find(&ROUTES, b"/assets/app.js"), Some((2, &b"/app.js"[..])));
    }

    #[test]
    fn the_root_route_takes_every_path() {
        let routes = ["/", "/api"];
        assert_eq!(find(&routes, b"/index.html"), Some((0, &b"/index.html"[..])));
        assert_eq!(find(&routes, b"/api/x"), Some((1, &b"/x"[..])));
    }
}
