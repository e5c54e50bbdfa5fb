//! The `Forwarded` header (RFC 7239 section 4): a comma-separated list of elements, one per
//! proxy, each a `;`-separated list of `name=value` pairs whose value is a token or a
//! quoted-string. Only `for` and `proto` are read; names are case-insensitive, other
//! parameters (`by`, `host`, extensions) are skipped.
//!
//! Read without allocating: [`elements`] walks one header line and yields borrowed values.
//! Spaces and tabs are allowed around `,` and `;` (senders write `for=a; proto=https`), not
//! around `=`. An element that breaks the syntax (a pair without `=`, an unterminated quote,
//! `for` or `proto` given twice, an IPv6 address or a port written without the quotes the
//! RFC asks for) is yielded empty, like an element without `for` or `proto`: its `for` counts
//! as an unknown hop and its `proto` is not read. A quoted value keeps its backslash escapes, so an escaped address
//! does not parse and is an unknown hop too (no address or scheme needs one).

/// What one element says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Element<'a> {
    /// The `for` value, unquoted; `None` when absent or the element is malformed.
    pub(super) node: Option<&'a [u8]>,
    /// The `proto` value, unquoted; `None` when absent or the element is malformed.
    pub(super) proto: Option<&'a [u8]>,
}

/// The elements of one `Forwarded` line, left to right (empty list elements skipped, as RFC
/// 9110 section 5.6.1 asks).
pub(super) fn elements(line: &[u8]) -> Elements<'_> {
    Elements { rest: line }
}

pub(super) struct Elements<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Elements<'a> {
    type Item = Element<'a>;

    fn next(&mut self) -> Option<Element<'a>> {
        loop {
            let s = trim_start(self.rest);
            match s.first() {
                None => {
                    self.rest = s;
                    return None;
                }
                Some(b',') => self.rest = &s[1..],
                Some(_) => {
                    let (element, rest) = element(s);
                    self.rest = rest;
                    return Some(element);
                }
            }
        }
    }
}

/// One element from the start of `s`, and what follows its closing comma.
fn element(mut s: &[u8]) -> (Element<'_>, &[u8]) {
    let mut el = Element::default();
    loop {
        s = trim_start(s);
        match s.first() {
            None => return (el, s),
            Some(b',') => return (el, &s[1..]),
            // An empty pair (`for=a;;proto=b`) is allowed by the grammar.
            Some(b';') => {
                s = &s[1..];
                continue;
            }
            Some(_) => {}
        }
        let name_len = s.iter().take_while(|b| is_tchar(**b)).count();
        let (name, after_name) = s.split_at(name_len);
        let Some(after_eq) = after_name.strip_prefix(b"=").filter(|_| name_len > 0) else {
            return malformed(s);
        };
        let Some((value, rest)) = value(after_eq) else {
            return malformed(after_eq);
        };
        let slot = if name.eq_ignore_ascii_case(b"for") {
            Some(&mut el.node)
        } else if name.eq_ignore_ascii_case(b"proto") {
            Some(&mut el.proto)
        } else {
            None
        };
        if let Some(slot) = slot {
            if slot.replace(value).is_some() {
                return malformed(rest);
            }
        }
        s = trim_start(rest);
        if !matches!(s.first(), None | Some(b',' | b';')) {
            return malformed(s);
        }
    }
}

/// A token or a quoted-string (its content, escapes kept) at the start of `s`, and the rest.
fn value(s: &[u8]) -> Option<(&[u8], &[u8])> {
    if s.first() != Some(&b'"') {
        let len = s.iter().take_while(|b| is_tchar(**b)).count();
        return (len > 0).then(|| s.split_at(len));
    }
    let end = quoted_end(s)?;
    Some((&s[1..end], &s[end + 1..]))
}

/// The index of the quote closing the quoted-string that starts `s`.
fn quoted_end(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// A malformed element: skip to the comma that ends it (quoted commas do not count).
fn malformed(mut s: &[u8]) -> (Element<'static>, &[u8]) {
    while let Some(&b) = s.first() {
        match b {
            b',' => return (Element::default(), &s[1..]),
            b'"' => match quoted_end(s) {
                Some(end) => s = &s[end + 1..],
                None => return (Element::default(), &[]),
            },
            _ => s = &s[1..],
        }
    }
    (Element::default(), s)
}

fn trim_start(s: &[u8]) -> &[u8] {
    let skip = s.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    &s[skip..]
}

/// RFC 9110 section 5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `for proto` of each element, `-` for a value that is absent (or malformed).
    fn read(line: &str) -> Vec<String> {
        elements(line.as_bytes())
            .map(|e| {
                let text = |v: Option<&[u8]>| v.map_or("-".to_owned(), |v| String::from_utf8_lossy(v).into_owned());
                format!("{} {}", text(e.node), text(e.proto))
            })
            .collect()
    }

    #[test]
    fn rfc_examples() {
        assert_eq!(read(r#"for="_gazonk""#), ["_gazonk -"]);
        assert_eq!(
            read(r#"For="[2001:db8:cafe::17]:4711""#),
            ["[2001:db8:cafe::17]:4711 -"]
        );
        assert_eq!(read("for=192.0.2.60;proto=http;by=203.0.113.43"), ["192.0.2.60 http"]);
        assert_eq!(
            read("for=192.0.2.43, for=198.51.100.17"),
            ["192.0.2.43 -", "198.51.100.17 -"]
        );
        assert_eq!(read("for=unknown;PROTO=https"), ["unknown https"]);
    }

    #[test]
    fn lists_and_spaces() {
        assert_eq!(
            read(" for=192.0.2.1 ; proto=https ,, ,for=\"[::1]\";by=x , "),
            ["192.0.2.1 https", "[::1] -"]
        );
        assert_eq!(read(""), Vec::<String>::new());
        assert_eq!(read(" , ,"), Vec::<String>::new());
        assert_eq!(read("by=10.0.0.1;;host=example.com"), ["- -"]);
    }

    #[test]
    fn quoted_values_may_hold_separators() {
        assert_eq!(read(r#"host="a,b;c", for=192.0.2.1"#), ["- -", "192.0.2.1 -"]);
        assert_eq!(read(r#"for="192.0.2.\1""#), [r"192.0.2.\1 -"]);
        assert_eq!(read(r#"host="a\"b", for=192.0.2.1"#), ["- -", "192.0.2.1 -"]);
    }

    #[test]
    fn broken_elements_are_malformed_and_the_list_goes_on() {
        // Unquoted IPv6 and ports are not tokens.
        assert_eq!(read("for=[2001:db8::1], for=192.0.2.1"), ["- -", "192.0.2.1 -"]);
        assert_eq!(read("for=192.0.2.1:80;proto=https"), ["- -"]);
        assert_eq!(read("for = 192.0.2.1"), ["- -"]);
        assert_eq!(read("for=192.0.2.1;for=192.0.2.2, proto=http"), ["- -", "- http"]);
        assert_eq!(read("for=192.0.2.1;proto=http;proto=https"), ["- -"]);
        assert_eq!(read("for=\"192.0.2.1, for=192.0.2.2"), ["- -"]);
        assert_eq!(read("192.0.2.1, for=192.0.2.2"), ["- -", "192.0.2.2 -"]);
        assert_eq!(read("for=, for=192.0.2.2"), ["- -", "192.0.2.2 -"]);
        assert_eq!(read("for=\"x\"y, for=192.0.2.2"), ["- -", "192.0.2.2 -"]);
        assert_eq!(read("=x"), ["- -"]);
    }
}
