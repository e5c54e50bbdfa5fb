//! From the part of a request path below a route to a file inside the route's mount.
//!
//! Two steps. [`relative`] is lexical: it refuses what cannot name a file inside the mount
//! (`..`, NUL, backslashes, anything but UTF-8) and drops empty and `.` segments. [`resolve`]
//! asks the file system: it canonicalises the joined path (so symlinks are followed) and
//! refuses a result outside the canonical mount, a directory without `--static-path-dir-to-file`,
//! and anything that is not a regular file. [`resolve`] blocks on the disk: call it on a
//! blocking thread.

use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};

/// Why a request gets no file (all are answered 404: the client learns nothing about what
/// is on disk).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    /// The path cannot name a file inside the mount (`..`, NUL, backslash, not UTF-8).
    Refused,
    /// Nothing there, a directory without an index file, or not a regular file.
    NotFound,
    /// The path leads outside the mount (through a symlink).
    Escapes,
    /// A directory asked for without a trailing slash: redirected to the slashed path (as nginx
    /// does), so that relative links in its index resolve against the directory.
    Directory,
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

/// The file found for `relative` under `root` (a canonical directory): opened, with its
/// metadata and its canonical path. A directory is served by its `dir_to_file` when given, and
/// only when asked for with a trailing slash (`slash`); without one it is [`Miss::Directory`].
pub(crate) fn resolve(root: &Path, relative: &Path, dir_to_file: Option<&str>, slash: bool) -> Result<Found, Miss> {
    let mut path = inside(root, &root.join(relative))?;
    let mut meta = std::fs::metadata(&path).map_err(|_| Miss::NotFound)?;
    if meta.is_dir() {
        if !slash {
            return Err(Miss::Directory);
        }
        let index = dir_to_file.ok_or(Miss::NotFound)?;
        path = inside(root, &path.join(index))?;
        meta = std::fs::metadata(&path).map_err(|_| Miss::NotFound)?;
    }
    if !meta.is_file() {
        return Err(Miss::NotFound);
    }
    let file = File::open(&path).map_err(|_| Miss::NotFound)?;
    // The metadata of what was opened (the file may have been replaced in between).
    let meta = file.metadata().map_err(|_| Miss::NotFound)?;
    if !meta.is_file() {
        return Err(Miss::NotFound);
    }
    Ok(Found { path, file, meta })
}

/// The sibling of `found` named with `suffix` (`site.css` -> `site.css.br`), if it is a
/// regular file inside `root` too.
pub(crate) fn sibling(root: &Path, found: &Found, suffix: &str) -> Option<Found> {
    let mut name = found.path.file_name()?.to_os_string();
    name.push(suffix);
    let path = inside(root, &found.path.with_file_name(name)).ok()?;
    let file = File::open(&path).ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then_some(Found { path, file, meta })
}

/// A regular file inside a mount, open for reading.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) meta: Metadata,
}

/// `path` canonicalised, if it exists and stays inside `root`.
fn inside(root: &Path, path: &Path) -> Result<PathBuf, Miss> {
    let canonical = path.canonicalize().map_err(|_| Miss::NotFound)?;
    if canonical.starts_with(root) {
        Ok(canonical)
    } else {
        Err(Miss::Escapes)
    }
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

    /// `root/{a.txt, sub/index.html, empty/}` and `outside.txt` next to `root`, plus links.
    fn tree(name: &str) -> (ScratchDir, PathBuf) {
        let scratch = ScratchDir::new("static", name);
        let base = scratch.0.clone();
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::fs::write(root.join("sub/index.html"), "index").unwrap();
        std::fs::write(base.join("outside.txt"), "secret").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(base.join("outside.txt"), root.join("out.txt")).unwrap();
            std::os::unix::fs::symlink(root.join("a.txt"), root.join("in.txt")).unwrap();
        }
        let root = root.canonicalize().unwrap();
        (scratch, root)
    }

    fn find(root: &Path, rel: &str, index: Option<&str>) -> Result<String, Miss> {
        resolve(
            root,
            &relative(rel.as_bytes())?,
            index,
            rel.is_empty() || rel.ends_with('/'),
        )
        .map(|f| f.path.strip_prefix(root).unwrap().to_string_lossy().into_owned())
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
        let found = resolve(&root, Path::new("a.txt"), None, false).unwrap();
        assert_eq!(sibling(&root, &found, ".gz").unwrap().path, root.join("a.txt.gz"));
        assert!(sibling(&root, &found, ".br").is_none());
        assert!(sibling(&root, &found, ".zst").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_may_not_lead_out_of_the_mount() {
        let (_t, root) = tree("links");
        assert_eq!(find(&root, "/out.txt", None), Err(Miss::Escapes));
        assert_eq!(find(&root, "/in.txt", None).unwrap(), "a.txt");
    }
}
