//! Files opened recently, kept open for a moment so that a file asked for often is answered
//! without a trip to the blocking pool (the role of nginx's `open_file_cache`, always on here
//! and short-lived).
//!
//! Resolving a request path (canonicalising it inside the mount, opening the file, finding a
//! precompressed sibling) touches the filesystem and runs on the blocking pool. Its result is
//! kept for [`FRESH_FOR`] under the request's decoded path and what shaped the choice (trailing
//! slash, accepted codings). A request that finds a fresh entry re-reads the open file's
//! metadata (`fstat` on the descriptor: the inode is in memory, nothing to wait for), so a file
//! changed in place is described as it is now; a file replaced (renamed over) or deleted is still
//! served from the old inode, whole and consistent, for at most [`FRESH_FOR`].
//!
//! Bounded: [`SHARDS`] x [`PER_SHARD`] entries (and as many open descriptors) per worker; a
//! full shard drops its stale entries, then its oldest one. Each shard has its own lock, held
//! for a lookup or an insert only.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::encoding::Coding;

/// How long a resolved path is used without resolving it again.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(1);
pub(crate) const SHARDS: usize = 8;
pub(crate) const PER_SHARD: usize = 32;

/// What a request's answer was resolved from, borrowed from the request (a lookup allocates
/// nothing).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key<'a> {
    mount: usize,
    rest: &'a [u8],
    slash: bool,
    codings: &'a [Coding],
}

impl<'a> Key<'a> {
    /// `rest`: the decoded path under the mount's route; `codings`: the accepted codings in the
    /// order of preference (empty without precompressed files).
    pub(crate) fn new(mount: usize, rest: &'a [u8], slash: bool, codings: &'a [Coding]) -> Self {
        Self {
            mount,
            rest,
            slash,
            codings,
        }
    }

    /// FNV-1a over the fields: the shard, and a first comparison before the fields'.
    fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |b: u8| h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        self.mount.to_le_bytes().into_iter().for_each(&mut eat);
        self.rest.iter().copied().for_each(&mut eat);
        eat(u8::from(self.slash));
        self.codings.iter().for_each(|c| eat(*c as u8));
        h
    }
}

/// A resolved answer: the open file to send (maybe a precompressed sibling, in `coding`) and
/// the name of the file asked for (its type names the content).
#[derive(Clone, Debug)]
pub(crate) struct Opened {
    pub(crate) file: Arc<File>,
    pub(crate) name: Arc<Path>,
    pub(crate) coding: Option<Coding>,
}

struct Entry {
    hash: u64,
    mount: usize,
    rest: Box<[u8]>,
    slash: bool,
    codings: Box<[Coding]>,
    opened: Opened,
    at: Instant,
}

impl Entry {
    fn is(&self, hash: u64, key: &Key<'_>) -> bool {
        self.hash == hash
            && self.mount == key.mount
            && self.slash == key.slash
            && *self.rest == *key.rest
            && *self.codings == *key.codings
    }
}

pub(crate) struct OpenFiles {
    /// A few entries each, looked through in order (cheaper than hashing twice).
    shards: Box<[Mutex<Vec<Entry>>]>,
}

impl OpenFiles {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    fn shard(&self, hash: u64) -> &Mutex<Vec<Entry>> {
        &self.shards[(hash % SHARDS as u64) as usize]
    }

    /// The entry for `key` if it was resolved less than [`FRESH_FOR`] before `now`.
    pub(crate) fn get(&self, key: &Key<'_>, now: Instant) -> Option<Opened> {
        let hash = key.hash();
        let shard = self.shard(hash).lock().ok()?;
        let entry = shard.iter().find(|e| e.is(hash, key))?;
        (now.saturating_duration_since(entry.at) < FRESH_FOR).then(|| entry.opened.clone())
    }

    /// Keeps `opened`, resolved at `now`, for `key`.
    pub(crate) fn put(&self, key: &Key<'_>, opened: Opened, now: Instant) {
        let hash = key.hash();
        let Ok(mut shard) = self.shard(hash).lock() else {
            return;
        };
        if let Some(entry) = shard.iter_mut().find(|e| e.is(hash, key)) {
            entry.opened = opened;
            entry.at = now;
            return;
        }
        if shard.len() >= PER_SHARD {
            shard.retain(|e| now.saturating_duration_since(e.at) < FRESH_FOR);
            if shard.len() >= PER_SHARD {
                if let Some(oldest) = (0..shard.len()).min_by_key(|&i| shard[i].at) {
                    shard.swap_remove(oldest);
                }
            }
        }
        shard.push(Entry {
            hash,
            mount: key.mount,
            rest: key.rest.into(),
            slash: key.slash,
            codings: key.codings.into(),
            opened,
            at: now,
        });
    }

    /// Entries held (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::static_files::ScratchDir;

    fn opened(dir: &ScratchDir) -> Opened {
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = dir.0.join("f.txt");
        std::fs::write(&path, b"x").unwrap();
        Opened {
            file: Arc::new(File::open(&path).unwrap()),
            name: Arc::from(path.as_path()),
            coding: None,
        }
    }

    #[test]
    fn an_entry_is_used_while_fresh_then_resolved_again() {
        let dir = ScratchDir::new("open-files", "fresh");
        let files = OpenFiles::new();
        let key = Key::new(0, b"f.txt", false, &[]);
        let t0 = Instant::now();
        assert!(files.get(&key, t0).is_none());
        files.put(&key, opened(&dir), t0);
        assert!(files.get(&key, t0 + FRESH_FOR / 2).is_some());
        assert!(files.get(&key, t0 + FRESH_FOR).is_none());
    }

    #[test]
    fn what_shaped_the_answer_is_part_of_the_key() {
        let dir = ScratchDir::new("open-files", "key");
        let files = OpenFiles::new();
        let t0 = Instant::now();
        files.put(&Key::new(0, b"f.txt", false, &[Coding::Brotli]), opened(&dir), t0);
        for other in [
            Key::new(1, b"f.txt", false, &[Coding::Brotli]),
            Key::new(0, b"g.txt", false, &[Coding::Brotli]),
            Key::new(0, b"f.txt", true, &[Coding::Brotli]),
            Key::new(0, b"f.txt", false, &[]),
            Key::new(0, b"f.txt", false, &[Coding::Gzip, Coding::Brotli]),
        ] {
            assert!(files.get(&other, t0).is_none(), "{other:?}");
        }
        assert!(files
            .get(&Key::new(0, b"f.txt", false, &[Coding::Brotli]), t0)
            .is_some());
    }

    #[test]
    fn the_number_of_open_files_is_bounded() {
        let dir = ScratchDir::new("open-files", "bound");
        let files = OpenFiles::new();
        let one = opened(&dir);
        let t0 = Instant::now();
        for i in 0..SHARDS * PER_SHARD * 3 {
            let at = t0 + Duration::from_millis(i as u64);
            files.put(&Key::new(0, format!("{i}").as_bytes(), false, &[]), one.clone(), at);
            assert!(files.len() <= SHARDS * PER_SHARD);
        }
        // The newest one is still there; the first ones made room.
        let last = SHARDS * PER_SHARD * 3 - 1;
        let now = t0 + Duration::from_millis(last as u64);
        assert!(files
            .get(&Key::new(0, format!("{last}").as_bytes(), false, &[]), now)
            .is_some());
        assert!(files.get(&Key::new(0, b"0", false, &[]), now).is_none());
        assert_eq!(Arc::strong_count(&one.file), files.len() + 1);
    }
}
