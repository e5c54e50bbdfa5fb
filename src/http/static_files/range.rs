//! Byte ranges (RFC 9110 §14): which part of a file a `range` header asks for.
//!
//! One range is served (`first-last`, `first-`, `-suffix`); a header asking for several, or
//! one that does not parse, is ignored and the whole file is sent, as the RFC allows.

/// What to send of a file of `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// 200 with the whole file.
    Whole,
    /// 206 with bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// 416: no byte of the range is in the file.
    Unsatisfiable,
}

/// Evaluates the `range` header value `header` (when `if_range` allowed it) for a file of
/// `len` bytes.
pub(crate) fn evaluate(header: Option<&str>, len: u64) -> Ranged {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    match (number(first), number(last)) {
        // `-suffix`: the last `suffix` bytes.
        (None, Some(suffix)) if first.is_empty() => {
            if suffix == 0 || len == 0 {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part {
                    start: len - suffix.min(len),
                    end: len - 1,
                }
            }
        }
        (Some(start), None) if last.is_empty() => part(start, u64::MAX, len),
        (Some(start), Some(end)) if start <= end => part(start, end, len),
        _ => Ranged::Whole,
    }
}

fn part(start: u64, end: u64, len: u64) -> Ranged {
    if start >= len {
        Ranged::Unsatisfiable
    } else {
        Ranged::Part {
            start,
            end: end.min(len - 1),
        }
    }
}

/// A run of ASCII digits as a number (no sign, no blank).
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> Ranged {
        Ranged::Part { start, end }
    }

    #[test]
    fn first_last_open_ended_and_suffix_ranges() {
        assert_eq!(evaluate(Some("bytes=0-9"), 100), part(0, 9));
        assert_eq!(evaluate(Some("bytes=10-"), 100), part(10, 99));
        assert_eq!(evaluate(Some("bytes=-10"), 100), part(90, 99));
        assert_eq!(evaluate(Some("bytes=-500"), 100), part(0, 99));
        assert_eq!(evaluate(Some("bytes=90-500"), 100), part(90, 99));
        assert_eq!(evaluate(Some("bytes=99-99"), 100), part(99, 99));
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        assert_eq!(evaluate(Some("bytes=100-"), 100), Ranged::Unsatisfiable);
        assert_eq!(evaluate(Some("bytes=100-200"), 100), Ranged::Unsatisfiable);
        assert_eq!(evaluate(Some("bytes=-0"), 100), Ranged::Unsatisfiable);
        assert_eq!(evaluate(Some("bytes=0-"), 0), Ranged::Unsatisfiable);
        assert_eq!(evaluate(Some("bytes=-5"), 0), Ranged::Unsatisfiable);
    }

    #[test]
    fn other_headers_get_the_whole_file() {
        for header in [
            None,
            Some("bytes=0-1,5-6"),
            Some("items=0-1"),
            Some("bytes=5-1"),
            Some("bytes=a-b"),
            Some("bytes=-"),
            Some("bytes=+1-2"),
            Some("bytes=1"),
        ] {
            assert_eq!(evaluate(header, 100), Ranged::Whole, "{header:?}");
        }
    }
}
