//! A copy-on-write view of a file, as a redb storage backend, for `verify`.
//!
//! redb's integrity check needs a writable `Database` (`check_integrity(&mut self)`), and opening
//! one may write the header, recover an uncleanly closed file, and the check itself commits.
//! Verifying must not change the file (it may be the only backup), and copying a large file to
//! a scratch place costs disk. So redb is given this backend: reads come from the file, writes
//! land in memory pages, and the file is opened read-only, so it cannot be changed at all. The
//! overlay holds only what redb writes while checking (header, allocator state): small.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

const PAGE: u64 = 4096;

#[derive(Debug)]
pub(crate) struct CopyOnWriteFile {
    file: File,
    state: Mutex<Overlay>,
}

#[derive(Debug)]
struct Overlay {
    len: u64,
    /// Bytes of the file still visible: a shrink hides the rest, so a later grow reads zeros.
    base_len: u64,
    pages: HashMap<u64, Vec<u8>>,
}

impl CopyOnWriteFile {
    pub(crate) fn open(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(CopyOnWriteFile {
            file,
            state: Mutex::new(Overlay {
                len,
                base_len: len,
                pages: HashMap::new(),
            }),
        })
    }

    fn lock(&self) -> io::Result<std::sync::MutexGuard<'_, Overlay>> {
        self.state
            .lock()
            .map_err(|_| io::Error::other("overlay lock poisoned"))
    }

    /// Reads `out.len()` bytes of the underlying file at `offset`, zeros past `base_len`.
    fn read_base(&self, base_len: u64, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let avail = base_len.saturating_sub(offset).min(out.len() as u64) as usize;
        if avail > 0 {
            self.file.read_exact_at(&mut out[..avail], offset)?;
        }
        out[avail..].fill(0);
        Ok(())
    }
}

impl redb::StorageBackend for CopyOnWriteFile {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.lock()?.len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let state = self.lock()?;
        if offset.saturating_add(out.len() as u64) > state.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end",
            ));
        }
        let mut done = 0usize;
        while done < out.len() {
            let pos = offset + done as u64;
            let (page, within) = (pos / PAGE, (pos % PAGE) as usize);
            let n = (PAGE as usize - within).min(out.len() - done);
            match state.pages.get(&page) {
                Some(p) => out[done..done + n].copy_from_slice(&p[within..within + n]),
                None => self.read_base(state.base_len, pos, &mut out[done..done + n])?,
            }
            done += n;
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut state = self.lock()?;
        if len < state.len {
            state.base_len = state.base_len.min(len);
            state.pages.retain(|page, _| page * PAGE < len);
            let (page, within) = (len / PAGE, (len % PAGE) as usize);
            if let Some(p) = state.pages.get_mut(&page) {
                p[within..].fill(0);
            }
        }
        state.len = len;
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut state = self.lock()?;
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let (page, within) = (pos / PAGE, (pos % PAGE) as usize);
            let n = (PAGE as usize - within).min(data.len() - done);
            if !state.pages.contains_key(&page) {
                let mut fresh = vec![0u8; PAGE as usize];
                self.read_base(state.base_len, page * PAGE, &mut fresh)?;
                state.pages.insert(page, fresh);
            }
            if let Some(p) = state.pages.get_mut(&page) {
                p[within..within + n].copy_from_slice(&data[done..done + n]);
            }
            done += n;
        }
        state.len = state.len.max(offset + data.len() as u64);
        Ok(())
    }
}
