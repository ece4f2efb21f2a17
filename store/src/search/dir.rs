//! The index directory: its lock, its marker file, and wiping it for a rebuild.
//!
//! The directory is derived data, so a broken one is wiped and rebuilt — but only ever the
//! files an index writes. A directory that holds anything else (a misconfigured path pointing
//! at the state directory, a user's files) is refused, never emptied.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SearchError;
use super::schema::SEARCH_SCHEMA_VERSION;

/// Records which layout the directory holds. Written last when an index is created, so a
/// directory without it is an unfinished creation.
pub(crate) const MARKER: &str = "acorn-search.json";
/// Held (advisory `flock`) for as long as a `SearchIndex` is open on the directory, before
/// anything in it is inspected or removed.
pub(crate) const LOCK: &str = "acorn-search.lock";
const FORMAT: &str = "acorn-search";

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Marker {
    pub format: String,
    pub schema_version: u32,
    /// For diagnostics only: which tantivy wrote the index.
    #[serde(default)]
    pub tantivy: String,
}

fn io(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SearchError {
    let path = path.to_path_buf();
    move |source| SearchError::Io {
        context,
        path,
        source,
    }
}

/// Creates the directory if needed and takes its lock.
pub(crate) fn lock(dir: &Path) -> Result<File, SearchError> {
    fs::create_dir_all(dir).map_err(io("creating the search index directory", dir))?;
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("opening the search index lock", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SearchError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(io("locking the search index directory", &path)(e))
        }
    }
}

/// Reads the marker. `Ok(None)`: there is none.
pub(crate) fn read_marker(dir: &Path) -> Result<Option<Marker>, String> {
    let path = dir.join(MARKER);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("the marker {MARKER} cannot be read: {e}")),
    };
    let marker: Marker = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the marker {MARKER} is not valid: {e}"))?;
    if marker.format != FORMAT {
        return Err(format!(
            "the marker {MARKER} names format {:?}, not {FORMAT:?}",
            marker.format
        ));
    }
    Ok(Some(marker))
}

/// Writes the marker of this binary's schema atomically (temporary file, fsync, rename, fsync
/// of the directory).
pub(crate) fn write_marker(dir: &Path) -> Result<(), SearchError> {
    write_marker_version(dir, SEARCH_SCHEMA_VERSION)
}

pub(crate) fn write_marker_version(dir: &Path, schema_version: u32) -> Result<(), SearchError> {
    let marker = Marker {
        format: FORMAT.to_string(),
        schema_version,
        tantivy: "0.27".to_string(),
    };
    let tmp = dir.join(format!("{MARKER}.tmp"));
    let bytes = serde_json::to_vec_pretty(&marker).map_err(|e| SearchError::Io {
        context: "encoding the search index marker",
        path: tmp.clone(),
        source: std::io::Error::other(e),
    })?;
    let mut f = File::create(&tmp).map_err(io("writing the search index marker", &tmp))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(io("writing the search index marker", &tmp))?;
    let path = dir.join(MARKER);
    fs::rename(&tmp, &path).map_err(io("writing the search index marker", &path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), SearchError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing the search index directory", dir))
}

/// Names an index directory may hold: tantivy's files (segment components are
/// `<32 hex>.<ext>`, atomic writes go through `.tmp*` files), its locks, and ours.
fn is_index_file(name: &str) -> bool {
    const FIXED: &[&str] = &[
        "meta.json",
        ".managed.json",
        ".tantivy-writer.lock",
        ".tantivy-meta.lock",
        MARKER,
        LOCK,
    ];
    if FIXED.contains(&name) || name.starts_with(".tmp") || name == format!("{MARKER}.tmp") {
        return true;
    }
    match name.split_once('.') {
        Some((id, ext)) => {
            id.len() == 32
                && id.bytes().all(|b| b.is_ascii_hexdigit())
                && !ext.is_empty()
                && ext.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        }
        None => false,
    }
}

/// Entries of the directory other than the lock file.
fn entries(dir: &Path) -> Result<Vec<(PathBuf, String, bool)>, SearchError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io("listing the search index directory", dir))? {
        let entry = entry.map_err(io("listing the search index directory", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == LOCK {
            continue;
        }
        let is_file = entry
            .file_type()
            .map_err(io("listing the search index directory", dir))?
            .is_file();
        out.push((entry.path(), name, is_file));
    }
    Ok(out)
}

/// True when the directory holds nothing but the lock.
pub(crate) fn is_empty(dir: &Path) -> Result<bool, SearchError> {
    Ok(entries(dir)?.is_empty())
}

/// Removes every index file from the directory (the lock stays, it is held). Refuses, before
/// removing anything, when the directory holds something an index does not write.
pub(crate) fn wipe(dir: &Path) -> Result<(), SearchError> {
    let entries = entries(dir)?;
    if let Some((path, _, _)) = entries
        .iter()
        .find(|(_, name, is_file)| !is_file || !is_index_file(name))
    {
        return Err(SearchError::ForeignContent {
            dir: dir.to_path_buf(),
            entry: path.clone(),
        });
    }
    for (path, _, _) in entries {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("removing an old search index file", &path)(e)),
        }
    }
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::is_index_file;

    #[test]
    fn recognizes_only_index_files() {
        for ok in [
            "meta.json",
            ".managed.json",
            ".tantivy-writer.lock",
            "acorn-search.json",
            "acorn-search.json.tmp",
            ".tmpA1b2C3",
            "0123456789abcdef0123456789abcdef.idx",
            "0123456789abcdef0123456789abcdef.12.del",
            "0123456789ABCDEF0123456789abcdef.store.temp",
        ] {
            assert!(is_index_file(ok), "{ok}");
        }
        for foreign in [
            "acorn.redb",
            "notes.txt",
            "0123456789abcdef.idx",
            "0123456789abcdef0123456789abcdeg.idx",
            "0123456789abcdef0123456789abcdef.",
            "0123456789abcdef0123456789abcdef.id x",
            "meta.json.bak",
        ] {
            assert!(!is_index_file(foreign), "{foreign}");
        }
    }
}
