//! Conditional requests on a static file (RFC 9110 §13): its validators, and what the
//! preconditions of a GET or HEAD ask for. The entity-tag lists may come on several lines;
//! a date or `if-range` sent twice is ignored ([`fields`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, RANGE};
use http::HeaderMap;

use super::fields;

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
    if let Some(lines) = tags(headers, &IF_MATCH) {
        if !matches_any(lines, &file.etag, false) {
            return Precondition::Failed;
        }
    } else if let Some(date) = date(headers, &IF_UNMODIFIED_SINCE) {
        if file.modified > date {
            return Precondition::Failed;
        }
    }
    if let Some(lines) = tags(headers, &IF_NONE_MATCH) {
        if matches_any(lines, &file.etag, true) {
            return Precondition::NotModified;
        }
    } else if let Some(date) = date(headers, &IF_MODIFIED_SINCE) {
        if file.modified <= date {
            return Precondition::NotModified;
        }
    }
    Precondition::Serve
}

/// The `range` value to evaluate: the request's one `range` line, unless an `if-range` is
/// there and does not hold for `file` (then the whole file is sent, RFC 9110 §13.1.5; an
/// `if-range` on several lines holds for nothing).
pub(crate) fn range<'h>(headers: &'h HeaderMap, file: &Validators) -> Option<&'h str> {
    let range = fields::single(headers, &RANGE)?;
    if headers.contains_key(IF_RANGE) {
        fields::single(headers, &IF_RANGE).filter(|v| file.if_range_holds(v))?;
    }
    Some(range)
}

/// The lines of the entity-tag list `name`, if there is at least one (in text).
fn tags<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> Option<impl Iterator<Item = &'h str>> {
    let mut lines = fields::list(headers, name).peekable();
    lines.peek()?;
    Some(lines)
}

fn date(headers: &HeaderMap, name: &http::HeaderName) -> Option<SystemTime> {
    fields::single(headers, name).and_then(|v| httpdate::parse_http_date(v.trim()).ok())
}

/// Whether the entity-tag list on `lines` (or `*`) names `etag`; `weak`: compare ignoring a
/// `W/` prefix (`if-none-match`), else only strong tags match (`if-match`).
fn matches_any<'h>(lines: impl Iterator<Item = &'h str>, etag: &str, weak: bool) -> bool {
    lines.flat_map(|line| line.split(',')).map(str::trim).any(|tag| {
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
    fn entity_tag_lists_may_come_on_several_lines() {
        let tag = file().etag;
        let none_match = [(&IF_NONE_MATCH, "\"a\""), (&IF_NONE_MATCH, &*tag)];
        assert_eq!(eval(&none_match), Precondition::NotModified);
        let none_match = [(&IF_NONE_MATCH, "\"a\""), (&IF_NONE_MATCH, "\"b\", \"c\"")];
        assert_eq!(eval(&none_match), Precondition::Serve);
        assert_eq!(eval(&[(&IF_MATCH, "\"a\""), (&IF_MATCH, &tag)]), Precondition::Serve);
        assert_eq!(
            eval(&[(&IF_MATCH, "\"a\""), (&IF_MATCH, "\"b\"")]),
            Precondition::Failed
        );
    }

    #[test]
    fn a_date_sent_twice_is_ignored() {
        let date = file().http_date();
        let twice = [(&IF_MODIFIED_SINCE, &*date), (&IF_MODIFIED_SINCE, &*date)];
        assert_eq!(eval(&twice), Precondition::Serve);
        let old = "Mon, 13 Nov 2023 00:00:00 GMT";
        assert_eq!(
            eval(&[(&IF_UNMODIFIED_SINCE, old), (&IF_UNMODIFIED_SINCE, old)]),
            Precondition::Serve
        );
    }

    fn range_of(lines: &[(&http::HeaderName, &str)]) -> Option<String> {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        range(&headers, &file()).map(str::to_string)
    }

    #[test]
    fn one_range_line_is_evaluated_unless_if_range_fails() {
        let tag = file().etag;
        let one = Some("bytes=0-1".to_string());
        assert_eq!(range_of(&[(&RANGE, "bytes=0-1")]), one);
        assert_eq!(range_of(&[(&RANGE, "bytes=0-1"), (&IF_RANGE, &tag)]), one);
        assert_eq!(range_of(&[(&RANGE, "bytes=0-1"), (&IF_RANGE, "\"stale\"")]), None);
        assert_eq!(range_of(&[(&RANGE, "bytes=0-1"), (&RANGE, "bytes=2-3")]), None);
        assert_eq!(
            range_of(&[(&RANGE, "bytes=0-1"), (&IF_RANGE, &tag), (&IF_RANGE, &tag)]),
            None
        );
        assert_eq!(range_of(&[(&IF_RANGE, &tag)]), None);
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
