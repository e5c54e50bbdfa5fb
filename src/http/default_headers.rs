//! Headers the server adds to every response on its way to hyper: `server: granian`
//! (`--server-header`) and the operator's own (`--header NAME:VALUE`, repeatable). A header the
//! response already carries wins: the app's `server`, or an app's own `cache-control` over a
//! `--header cache-control:...`. (The `date` header is hyper's, see `conn.rs`.)

use http::header::{Entry, HeaderMap, HeaderName, HeaderValue, SERVER};

static SERVER_NAME: HeaderValue = HeaderValue::from_static("granian");

/// What is added to every response; built once per worker.
#[derive(Default)]
pub(crate) struct DefaultHeaders {
    /// One entry per name, in the order first given, with every value given for it.
    groups: Vec<(HeaderName, Vec<HeaderValue>)>,
}

impl DefaultHeaders {
    /// `server`: add `server: granian`; `extra`: the `--header` pairs, already validated by the
    /// config (an invalid one is still refused here, naming it).
    pub(crate) fn new(server: bool, extra: &[(String, String)]) -> Result<Self, String> {
        let mut groups: Vec<(HeaderName, Vec<HeaderValue>)> = Vec::new();
        for (name, value) in extra {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
            let value = HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))?;
            match groups.iter_mut().find(|(n, _)| *n == name) {
                Some((_, values)) => values.push(value),
                None => groups.push((name, vec![value])),
            }
        }
        // A `--header server:...` replaces the built-in one.
        if server && !groups.iter().any(|(name, _)| name == SERVER) {
            groups.push((SERVER, vec![SERVER_NAME.clone()]));
        }
        Ok(Self { groups })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Adds every default header whose name the response does not already have (one lookup
    /// per name).
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        for (name, values) in &self.groups {
            if let Entry::Vacant(slot) = headers.entry(name) {
                let mut values = values.iter();
                if let Some(first) = values.next() {
                    let mut entry = slot.insert_entry(first.clone());
                    for value in values {
                        entry.append(value.clone());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
        headers.get_all(name).iter().map(|v| v.to_str().unwrap()).collect()
    }

    #[test]
    fn the_server_header_is_added_unless_the_app_set_one() {
        let defaults = DefaultHeaders::new(true, &[]).unwrap();
        let mut headers = HeaderMap::new();
        defaults.apply(&mut headers);
        assert_eq!(values(&headers, "server"), ["granian"]);
        let mut headers = HeaderMap::new();
        headers.insert(SERVER, HeaderValue::from_static("app/1"));
        defaults.apply(&mut headers);
        assert_eq!(values(&headers, "server"), ["app/1"]);
        assert!(DefaultHeaders::new(false, &[]).unwrap().is_empty());
    }

    #[test]
    fn operator_headers_are_added_with_every_value_unless_the_response_has_the_name() {
        let defaults = DefaultHeaders::new(
            false,
            &pairs(&[
                ("X-Frame-Options", "DENY"),
                ("link", "</a>"),
                ("Cache-Control", "no-store"),
                ("link", "</b>"),
            ]),
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("cache-control", HeaderValue::from_static("max-age=60"));
        defaults.apply(&mut headers);
        assert_eq!(values(&headers, "x-frame-options"), ["DENY"]);
        assert_eq!(values(&headers, "link"), ["</a>", "</b>"]);
        assert_eq!(values(&headers, "cache-control"), ["max-age=60"]);
        assert!(!headers.contains_key("server"));
    }

    #[test]
    fn an_operator_server_header_replaces_the_built_in_one() {
        let defaults = DefaultHeaders::new(true, &pairs(&[("Server", "edge")])).unwrap();
        let mut headers = HeaderMap::new();
        defaults.apply(&mut headers);
        assert_eq!(values(&headers, "server"), ["edge"]);
    }

    #[test]
    fn invalid_names_and_values_are_refused() {
        assert!(DefaultHeaders::new(false, &pairs(&[("bad name", "x")])).is_err());
        assert!(DefaultHeaders::new(false, &pairs(&[("x-a", "a\r\nb")])).is_err());
    }
}
