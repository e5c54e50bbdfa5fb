//! Precompressed siblings (`--static-path-precompressed`): which of `file.br`, `file.zst`,
//! `file.gz` a request's `accept-encoding` lets us send, best first.
//!
//! Each coding gets the q-value the header gives it by name, else the one of `*`, else 0;
//! `identity`, when neither names it, stays acceptable but ranks after every accepted coding
//! (as nginx's `gzip_static` does: a client that lists a coding gets it). Codings are ranked by q-value, ties going
//! to the better compression (br, then zstd, then gzip, then identity); nothing with q=0 is
//! ranked. The caller sends the first ranked sibling that exists, and the plain file when it
//! reaches `identity` (or runs out: a plain file is still better than a 406).

/// A content coding we may serve a sibling file for, or the plain file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Coding {
    Brotli,
    Zstd,
    Gzip,
    Identity,
}

impl Coding {
    /// In order of preference on equal q-values.
    const ALL: [Coding; 4] = [Coding::Brotli, Coding::Zstd, Coding::Gzip, Coding::Identity];

    /// The `content-encoding` token.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Zstd => "zstd",
            Self::Gzip => "gzip",
            Self::Identity => "identity",
        }
    }

    /// The sibling's file-name suffix (`None` for the plain file).
    pub(crate) fn suffix(self) -> Option<&'static str> {
        match self {
            Self::Brotli => Some(".br"),
            Self::Zstd => Some(".zst"),
            Self::Gzip => Some(".gz"),
            Self::Identity => None,
        }
    }
}

/// The codings the `accept-encoding` lines `lines` allow (none: no header), best first, up to
/// and including `Identity` when it is allowed. Several lines are one list (RFC 9110 §5.3).
pub(crate) fn ranked<'h>(lines: impl IntoIterator<Item = &'h str>) -> Vec<Coding> {
    let entries: Vec<(&str, f32)> = lines
        .into_iter()
        .flat_map(|line| line.split(','))
        .filter_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next()?.trim();
            if name.is_empty() {
                return None;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((name, q.clamp(0.0, 1.0)))
        })
        .collect();
    let named = |token: &str| entries.iter().find(|(n, _)| n.eq_ignore_ascii_case(token)).map(|e| e.1);
    let star = named("*");
    let mut out: Vec<(Coding, f32)> = Coding::ALL
        .iter()
        .map(|&c| {
            let default = if c == Coding::Identity { f32::MIN_POSITIVE } else { 0.0 };
            // `gzip` is also spelled `x-gzip`.
            let by_name = named(c.token()).or_else(|| (c == Coding::Gzip).then(|| named("x-gzip")).flatten());
            (c, by_name.or(star).unwrap_or(default))
        })
        .filter(|&(_, q)| q > 0.0)
        .collect();
    // A stable sort keeps the order of preference among equal q-values.
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut codings: Vec<Coding> = out.into_iter().map(|(c, _)| c).collect();
    if let Some(i) = codings.iter().position(|&c| c == Coding::Identity) {
        codings.truncate(i + 1);
    }
    codings
}

#[cfg(test)]
mod tests {
    use super::Coding::*;
    use super::*;

    #[test]
    fn plain_lists_prefer_the_better_compression() {
        assert_eq!(ranked(Some("gzip, deflate, br, zstd")), [Brotli, Zstd, Gzip, Identity]);
        assert_eq!(ranked(Some("gzip")), [Gzip, Identity]);
        assert_eq!(ranked(Some("x-gzip")), [Gzip, Identity]);
        assert_eq!(ranked(None), [Identity]);
        assert_eq!(ranked(Some("")), [Identity]);
    }

    #[test]
    fn q_values_order_and_exclude() {
        assert_eq!(ranked(Some("br;q=0.5, gzip;q=0.8")), [Gzip, Brotli, Identity]);
        assert_eq!(ranked(Some("br;q=0, gzip")), [Gzip, Identity]);
        assert_eq!(ranked(Some("gzip;q=0.5, identity")), [Identity]);
        assert_eq!(ranked(Some("BR; Q=0.9")), [Brotli, Identity]);
        assert_eq!(ranked(Some("br;q=0.9, identity")), [Identity]);
    }

    #[test]
    fn several_lines_are_one_list() {
        assert_eq!(ranked(["gzip", "br"]), [Brotli, Gzip, Identity]);
        assert_eq!(
            ranked(["gzip;q=0.5", "br;q=0.8, identity;q=0.1"]),
            [Brotli, Gzip, Identity]
        );
        assert_eq!(ranked(["gzip", "identity;q=0"]), [Gzip]);
    }

    #[test]
    fn star_and_identity_zero() {
        assert_eq!(ranked(Some("*")), [Brotli, Zstd, Gzip, Identity]);
        assert_eq!(ranked(Some("*;q=0.5, gzip")), [Gzip, Brotli, Zstd, Identity]);
        assert_eq!(ranked(Some("gzip, identity;q=0")), [Gzip]);
        assert_eq!(ranked(Some("*;q=0")), Vec::<Coding>::new());
    }
}
