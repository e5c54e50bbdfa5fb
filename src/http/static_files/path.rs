//! From the part of a request path below a route to a file inside the route's mount.
//!
//! Two steps. [`relative`] is lexical: it refuses what cannot name a file inside the mount
//! (`..`, NUL, backslashes, anything but UTF-8) and drops empty and `.` segments, so the
//! request path itself never climbs out of the mount. [`resolve`] asks the file system: it
//! canonicalises the joined path (so symlinks are followed) and, unless symlinks may lead
//! anywhere ([`Symlinks::Followed`], `--static-path-follow-symlinks`), refuses a result outside
//! the canonical mount; then a directory without `--static-path-dir-to-file`, and anything
//! that is not a regular file. [`resolve`] blocks on the disk: call it on a blocking thread.

use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};

/// Why a request gets no file (all are answered 404: the client learns nothing about what
/// is on disk).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    /// The path cannot name a file inside the mount (`..`, NUL, backslash, not UTF-8).
    Refused,
    /// Nothing there (a dangling symlink included), a directory without an index file, or
    /// not a regular file.
    NotFound,
    /// The path leads outside the mount (through a symlink) while symlinks must stay inside.
    Escapes,
    /// A directory asked for without a trailing slash: redirected to the slashed path (as nginx
    /// does), so that relative links in its index resolve against the directory.
    Directory,
}

/// Where a symlink in a mount may lead (`--static-path-follow-symlinks`). Either way only
/// symlinks that are in the mount are followed: the request path is lexical ([`relative`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Symlinks {
    /// Only to something inside the canonical mount (the default); out of it is a miss.
    Contained,
    /// Anywhere the server may read, as nginx's `disable_symlinks off`.
    Followed,
}

impl Symlinks {
    /// The real path of `name` (a path below the canonical `root`), if it exists and the rule
    /// allows where it leads.
    fn real(self, root: &Path, name: &Path) -> Result<PathBuf, Miss> {
        let canonical = name.canonicalize().map_err(|_| Miss::NotFound)?;
        if self == Self::Followed || canonical.starts_with(root) {
            Ok(canonical)
        } else {
            Err(Miss::Escapes)
        }
    }
}

/// The relative path named by `rest` (a percent-decoded path below a route: empty or
/// starting with `/`), or `Refused`. The result is empty for the mount itself.
pub(crate) fn relative(rest: &[u8]) -> Result<PathBuf, Miss> {
    if rest.contains(&0) || rest.contains(&b'\\') {
        return Err(Miss::Refused);
    }
    let rest = std::str::from_utf8(rest).map_err(|_| Miss::Refused)?;
    let mut out = PathBuf::new();
    for segment in rest.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(Miss::Refused),
            // A drive or a root on platforms where a segment can carry one.
            s if Path::new(s).has_root() || s.contains(':') && cfg!(windows) => return Err(Miss::Refused),
            s => out.push(s),
        }
    }
    Ok(out)
}

/// The file found for `relative` under `root` (a canonical directory), symlinks leading where
/// `links` allows: opened, with its metadata. A directory is served by its `dir_to_file` when
/// given, and only when asked for with a trailing slash (`slash`); without one it is
/// [`Miss::Directory`].
pub(crate) fn resolve(
    root: &Path,
    relative: &Path,
    dir_to_file: Option<&str>,
    slash: bool,
    links: Symlinks,
) -> Result<Found, Miss> {
    let mut path = root.join(relative);
    let mut real = links.real(root, &path)?;
    let mut meta = std::fs::metadata(&real).map_err(|_| Miss::NotFound)?;
    if meta.is_dir() {
        if !slash {
            return Err(Miss::Directory);
        }
        path.push(dir_to_file.ok_or(Miss::NotFound)?);
        real = links.real(root, &path)?;
        meta = std::fs::metadata(&real).map_err(|_| Miss::NotFound)?;
    }
    if !meta.is_file() {
        return Err(Miss::NotFound);
    }
    // The real path that was checked is opened (not `path`, whose links may change meanwhile).
    let file = File::open(&real).map_err(|_| Miss::NotFound)?;
    // The metadata of what was opened (the file may have been replaced in between).
    let meta = file.metadata().map_err(|_| Miss::NotFound)?;
    if !meta.is_file() {
        return Err(Miss::NotFound);
    }
    Ok(Found { path, file, meta })
}

/// The sibling of `found` named with `suffix` in the mount (`site.css` -> `site.css.br`), if
/// it is a regular file and, when it is a symlink, leads where `links` allows.
pub(crate) fn sibling(root: &Path, found: &Found, suffix: &str, links: Symlinks) -> Option<Found> {
    let mut name = found.path.file_name()?.to_os_string();
    name.push(suffix);
    let path = found.path.with_file_name(name);
    let file = File::open(links.real(root, &path).ok()?).ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then_some(Found { path, file, meta })
}

/// A regular file of a mount, open for reading.
#[derive(Debug)]
pub(crate) struct Found {
    /// The file as the request names it in the mount (below the canonical mount, symlinks
    /// not resolved): its extension gives the content type, its siblings are found next to it.
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) meta: Metadata,
}

#[cfg(test)]
mod tests {
    use super::super::ScratchDir;
    use super::*;

    #[test]
    fn relative_paths_drop_empty_and_dot_segments() {
        assert_eq!(relative(b"").unwrap(), PathBuf::new());
        assert_eq!(relative(b"/").unwrap(), PathBuf::new());
        assert_eq!(relative(b"/a//./b.txt").unwrap(), PathBuf::from("a/b.txt"));
        assert_eq!(
            relative("/こんにちは.png".as_bytes()).unwrap(),
            PathBuf::from("こんにちは.png")
        );
    }

    #[test]
    fn relative_paths_refuse_escapes_and_odd_bytes() {
        for bad in [&b"/.."[..], b"/a/../b", b"/a/..", b"/a\\..\\b", b"/a\0b", b"/\xff.txt"] {
            assert_eq!(relative(bad), Err(Miss::Refused), "{bad:?}");
        }
        // `..` inside a name is a name.
        assert_eq!(relative(b"/a..b").unwrap(), PathBuf::from("a..b"));
    }

    /// `root/{a.txt, sub/index.html, empty/}`, and next to `root` `outside.txt`, `outside.txt.gz`
    /// and `outdir/index.html`; in `root`, links to them (`out.txt`, `ext`), to `a.txt`
    /// (`in.txt`) and to nothing (`dangling`).
    fn tree(name: &str) -> (ScratchDir, PathBuf) {
        let scratch = ScratchDir::new("static", name);
        let base = scratch.0.clone();
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::create_dir_all(base.join("outdir")).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::fs::write(root.join("sub/index.html"), "index").unwrap();
        std::fs::write(base.join("outside.txt"), "secret").unwrap();
        std::fs::write(base.join("outside.txt.gz"), "secret gz").unwrap();
        std::fs::write(base.join("outdir/index.html"), "outdir").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::symlink;
            symlink(base.join("outside.txt"), root.join("out.txt")).unwrap();
            symlink(base.join("outdir"), root.join("ext")).unwrap();
            symlink(root.join("a.txt"), root.join("in.txt")).unwrap();
            symlink(base.join("nothing"), root.join("dangling")).unwrap();
        }
        let root = root.canonicalize().unwrap();
        (scratch, root)
    }

    fn find_with(root: &Path, rel: &str, index: Option<&str>, links: Symlinks) -> Result<String, Miss> {
        let slash = rel.is_empty() || rel.ends_with('/');
        resolve(root, &relative(rel.as_bytes())?, index, slash, links)
            .map(|f| f.path.strip_prefix(root).unwrap().to_string_lossy().into_owned())
    }

    fn find(root: &Path, rel: &str, index: Option<&str>) -> Result<String, Miss> {
        find_with(root, rel, index, Symlinks::Contained)
    }

    /// The content of what `rel` finds.
    fn read_with(root: &Path, rel: &str, index: Option<&str>, links: Symlinks) -> Result<String, Miss> {
        let slash = rel.is_empty() || rel.ends_with('/');
        let found = resolve(root, &relative(rel.as_bytes())?, index, slash, links)?;
        Ok(std::io::read_to_string(found.file).unwrap())
    }

    #[test]
    fn files_and_index_files_are_found() {
        let (_t, root) = tree("found");
        assert_eq!(find(&root, "/a.txt", None).unwrap(), "a.txt");
        assert_eq!(find(&root, "/sub/", Some("index.html")).unwrap(), "sub/index.html");
        assert_eq!(find(&root, "/sub", Some("index.html")), Err(Miss::Directory));
        assert_eq!(find(&root, "/sub", None), Err(Miss::Directory));
        assert_eq!(find(&root, "", Some("a.txt")).unwrap(), "a.txt");
    }

    #[test]
    fn missing_files_and_bare_directories_are_not_found() {
        let (_t, root) = tree("missing");
        assert_eq!(find(&root, "/nope.txt", None), Err(Miss::NotFound));
        assert_eq!(find(&root, "/sub/", None), Err(Miss::NotFound));
        assert_eq!(find(&root, "/empty/", Some("index.html")), Err(Miss::NotFound));
        assert_eq!(find(&root, "/a.txt/x", None), Err(Miss::NotFound));
    }

    #[test]
    fn siblings_are_regular_files_inside_the_mount() {
        let (_t, root) = tree("sibling");
        std::fs::write(root.join("a.txt.gz"), "gz").unwrap();
        std::fs::create_dir(root.join("a.txt.br")).unwrap();
        let found = resolve(&root, Path::new("a.txt"), None, false, Symlinks::Contained).unwrap();
        let gz = sibling(&root, &found, ".gz", Symlinks::Contained).unwrap();
        assert_eq!(gz.path, root.join("a.txt.gz"));
        assert!(sibling(&root, &found, ".br", Symlinks::Contained).is_none());
        assert!(sibling(&root, &found, ".zst", Symlinks::Contained).is_none());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_may_not_lead_out_of_the_mount() {
        let (_t, root) = tree("links");
        assert_eq!(find(&root, "/out.txt", None), Err(Miss::Escapes));
        assert_eq!(find(&root, "/ext/", Some("index.html")), Err(Miss::Escapes));
        assert_eq!(find(&root, "/ext", Some("index.html")), Err(Miss::Escapes));
        // A link to a file of the mount is served under the name asked for.
        assert_eq!(find(&root, "/in.txt", None).unwrap(), "in.txt");
        assert_eq!(read_with(&root, "/in.txt", None, Symlinks::Contained).unwrap(), "a");
        assert_eq!(find(&root, "/dangling", None), Err(Miss::NotFound));
    }

    #[cfg(unix)]
    #[test]
    fn followed_symlinks_may_lead_anywhere() {
        let (_t, root) = tree("follow");
        let read = |rel, index| read_with(&root, rel, index, Symlinks::Followed);
        assert_eq!(read("/out.txt", None).unwrap(), "secret");
        assert_eq!(
            find_with(&root, "/out.txt", None, Symlinks::Followed).unwrap(),
            "out.txt"
        );
        // A directory outside: its index file, and the redirect to the slashed path.
        assert_eq!(read("/ext/", Some("index.html")).unwrap(), "outdir");
        assert_eq!(read("/ext/index.html", None).unwrap(), "outdir");
        assert_eq!(read("/ext", Some("index.html")), Err(Miss::Directory));
        assert_eq!(read("/ext/", None), Err(Miss::NotFound));
        assert_eq!(read("/dangling", None), Err(Miss::NotFound));
        assert_eq!(read("/in.txt", None).unwrap(), "a");
    }

    #[cfg(unix)]
    #[test]
    fn followed_symlinks_keep_the_request_path_inside() {
        let (_t, root) = tree("follow-lexical");
        for bad in [
            "/../outside.txt",
            "/sub/../../outside.txt",
            "/ext/../../outside.txt",
            "/a\\b",
        ] {
            let found = find_with(&root, bad, None, Symlinks::Followed);
            assert_eq!(found, Err(Miss::Refused), "{bad}");
        }
        // An absolute path is a path below the mount: `root/etc/passwd`, not there.
        assert_eq!(
            find_with(&root, "//etc/passwd", None, Symlinks::Followed),
            Err(Miss::NotFound)
        );
    }

    #[cfg(unix)]
    #[test]
    fn siblings_obey_the_symlink_rule_and_sit_next_to_the_name_asked_for() {
        let (t, root) = tree("sibling-links");
        let base = &t.0;
        std::os::unix::fs::symlink(base.join("outside.txt.gz"), root.join("a.txt.gz")).unwrap();
        let found = resolve(&root, Path::new("a.txt"), None, false, Symlinks::Contained).unwrap();
        assert!(sibling(&root, &found, ".gz", Symlinks::Contained).is_none());
        let gz = sibling(&root, &found, ".gz", Symlinks::Followed).unwrap();
        assert_eq!(std::io::read_to_string(gz.file).unwrap(), "secret gz");
        // `out.txt` leads to `outside.txt`, but `outside.txt.gz` is no sibling in the mount.
        let out = resolve(&root, Path::new("out.txt"), None, false, Symlinks::Followed).unwrap();
        assert!(sibling(&root, &out, ".gz", Symlinks::Followed).is_none());
    }
}
