//! How the request header fields the static files read are taken from their lines.
//!
//! A list field (`If-None-Match`, `If-Match`, `Accept-Encoding`) may be split over several
//! lines: they mean the same as one line with the values joined by commas (RFC 9110 §5.3), so
//! every line counts. A singleton field (`Range`, `If-Range`, the dates) sent more than once
//! has no valid value: it is ignored (RFC 9110 §5.5, §13.1.3, §13.1.4; a server may ignore
//! `Range`, §14.2).

use http::{HeaderMap, HeaderName};

/// The lines of the list field `name` that are text, in order (none when it is absent).
pub(crate) fn list<'h>(headers: &'h HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'h str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok())
}

/// The value of the singleton field `name`: its only line, if it is text; `None` when the
/// field is absent, not text, or sent on several lines.
pub(crate) fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    let mut lines = headers.get_all(name).iter();
    let only = lines.next()?;
    match lines.next() {
        Some(_) => None,
        None => only.to_str().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{IF_NONE_MATCH, RANGE};
    use http::HeaderValue;

    fn headers(lines: &[(&HeaderName, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(*name, HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    #[test]
    fn a_list_field_is_every_text_line() {
        let h = headers(&[
            (&IF_NONE_MATCH, b"\"a\""),
            (&IF_NONE_MATCH, b"\xff"),
            (&IF_NONE_MATCH, b"\"b\", \"c\""),
        ]);
        assert_eq!(list(&h, &IF_NONE_MATCH).collect::<Vec<_>>(), ["\"a\"", "\"b\", \"c\""]);
        assert_eq!(list(&h, &RANGE).count(), 0);
    }

    #[test]
    fn a_singleton_field_on_several_lines_is_ignored() {
        assert_eq!(single(&headers(&[(&RANGE, b"bytes=0-1")]), &RANGE), Some("bytes=0-1"));
        assert_eq!(single(&headers(&[]), &RANGE), None);
        assert_eq!(single(&headers(&[(&RANGE, b"\xff")]), &RANGE), None);
        let two = headers(&[(&RANGE, b"bytes=0-1"), (&RANGE, b"bytes=0-1")]);
        assert_eq!(single(&two, &RANGE), None);
    }
}
