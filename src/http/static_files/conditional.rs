//! Conditional requests on a static file (RFC 9110 §13): its validators, and what the
//! preconditions of a GET or HEAD ask for.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::HeaderMap;

/// A file's validators: a strong entity tag made of its size and modification time, and
/// its modification time at the one-second precision of HTTP dates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Validators {
    pub(crate) etag: String,
    pub(crate) modified: SystemTime,
}

impl Validators {
    pub(crate) fn new(len: u64, modified: SystemTime) -> Self {
        let since = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        Self {
            etag: format!("\"{len:x}-{:x}-{:x}\"", since.as_secs(), since.subsec_nanos()),
            modified: UNIX_EPOCH + Duration::from_secs(since.as_secs()),
        }
    }

    /// The `last-modified` value.
    pub(crate) fn http_date(&self) -> String {
        httpdate::fmt_http_date(self.modified)
    }

    /// Whether the `if-range` value `value` still describes this file: the same strong tag,
    /// or exactly its modification date.
    pub(crate) fn if_range_holds(&self, value: &str) -> bool {
        let value = value.trim();
        if value.starts_with('"') {
            return value == self.etag;
        }
        httpdate::parse_http_date(value).is_ok_and(|date| date == self.modified)
    }
}

/// What the preconditions of a GET or HEAD decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// Serve the file (whole or a range).
    Serve,
    /// 304: the client's copy is current.
    NotModified,
    /// 412: `if-match` or `if-unmodified-since` failed.
    Failed,
}

/// Evaluates the request's preconditions in the order of RFC 9110 §13.2.2.
pub(crate) fn evaluate(headers: &HeaderMap, file: &Validators) -> Precondition {
    if let Some(v) = text(headers, &IF_MATCH) {
        if !matches_any(v, &file.etag, false) {
            return Precondition::Failed;
        }
    } else if let Some(date) = date(headers, &IF_UNMODIFIED_SINCE) {
        if file.modified > date {
            return Precondition::Failed;
        }
    }
    if let Some(v) = text(headers, &IF_NONE_MATCH) {
        if matches_any(v, &file.etag, true) {
            return Precondition::NotModified;
        }
    } else if let Some(date) = date(headers, &IF_MODIFIED_SINCE) {
        if file.modified <= date {
            return Precondition::NotModified;
        }
    }
    Precondition::Serve
}

/// Every value of `name` joined (a list header may come in several lines), if there is one
/// and it is text.
fn text<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> Option<&'h str> {
    // Several lines are rare; the first one is enough for a cache's revalidation.
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn date(headers: &HeaderMap, name: &http::HeaderName) -> Option<SystemTime> {
    text(headers, name).and_then(|v| httpdate::parse_http_date(v.trim()).ok())
}

/// Whether the entity-tag list `list` (or `*`) names `etag`; `weak`: compare ignoring a
/// `W/` prefix (`if-none-match`), else only strong tags match (`if-match`).
fn matches_any(list: &str, etag: &str, weak: bool) -> bool {
    list.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        match tag.strip_prefix("W/") {
            Some(opaque) => weak && opaque == etag,
            None => tag == etag,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn file() -> Validators {
        Validators::new(10, UNIX_EPOCH + Duration::new(1_700_000_000, 500))
    }

    fn eval(lines: &[(&http::HeaderName, &str)]) -> Precondition {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        evaluate(&headers, &file())
    }

    #[test]
    fn the_etag_is_strong_and_the_date_whole_seconds() {
        let f = file();
        assert_eq!(f.etag, "\"a-6553f100-1f4\"");
        assert_eq!(f.http_date(), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_ne!(Validators::new(11, f.modified).etag, f.etag);
    }

    #[test]
    fn if_none_match_answers_304_on_any_listed_tag() {
        let tag = file().etag;
        assert_eq!(eval(&[(&IF_NONE_MATCH, &tag)]), Precondition::NotModified);
        assert_eq!(
            eval(&[(&IF_NONE_MATCH, &format!("\"x\", W/{tag}"))]),
            Precondition::NotModified
        );
        assert_eq!(eval(&[(&IF_NONE_MATCH, "*")]), Precondition::NotModified);
        assert_eq!(eval(&[(&IF_NONE_MATCH, "\"other\"")]), Precondition::Serve);
    }

    #[test]
    fn if_modified_since_is_ignored_when_if_none_match_is_there() {
        let date = file().http_date();
        assert_eq!(eval(&[(&IF_MODIFIED_SINCE, &date)]), Precondition::NotModified);
        assert_eq!(
            eval(&[(&IF_MODIFIED_SINCE, "Mon, 13 Nov 2023 00:00:00 GMT")]),
            Precondition::Serve
        );
        assert_eq!(
            eval(&[(&IF_NONE_MATCH, "\"other\""), (&IF_MODIFIED_SINCE, &date)]),
            Precondition::Serve
        );
        assert_eq!(eval(&[(&IF_MODIFIED_SINCE, "not a date")]), Precondition::Serve);
    }

    #[test]
    fn if_match_and_if_unmodified_since_fail_with_412() {
        let tag = file().etag;
        assert_eq!(eval(&[(&IF_MATCH, &tag)]), Precondition::Serve);
        assert_eq!(eval(&[(&IF_MATCH, &format!("W/{tag}"))]), Precondition::Failed);
        assert_eq!(eval(&[(&IF_MATCH, "\"other\"")]), Precondition::Failed);
        assert_eq!(
            eval(&[(&IF_UNMODIFIED_SINCE, "Mon, 13 Nov 2023 00:00:00 GMT")]),
            Precondition::Failed
        );
        assert_eq!(
            eval(&[(&IF_UNMODIFIED_SINCE, &file().http_date())]),
            Precondition::Serve
        );
    }

    #[test]
    fn if_range_needs_the_same_strong_tag_or_date() {
        let f = file();
        assert!(f.if_range_holds(&f.etag));
        assert!(f.if_range_holds(&f.http_date()));
        assert!(!f.if_range_holds("\"other\""));
        assert!(!f.if_range_holds(&format!("W/{}", f.etag)));
        assert!(!f.if_range_holds("Mon, 13 Nov 2023 00:00:00 GMT"));
    }
}
