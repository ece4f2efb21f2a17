//! Helpers for other crates' tests (feature `test-support`): they fabricate states that this
//! binary never writes, such as a store from a newer Acorn. Not for production use.

use std::path::Path;

use crate::StoreError;
use crate::schema::{KEY_SCHEMA_VERSION, KEY_WRITTEN_BY, META, encode};

/// Rewrites the schema version and writer of a closed store, as if a newer Acorn had written it.
pub fn set_schema_version(path: &Path, version: u32, written_by: &str) -> Result<(), StoreError> {
    let db = redb::Database::open(path).map_err(|e| crate::store::open_error(path, e))?;
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        meta.insert(KEY_SCHEMA_VERSION, encode(&version)?.as_slice())?;
        meta.insert(KEY_WRITTEN_BY, encode(&written_by)?.as_slice())?;
    }
    txn.commit()?;
    Ok(())
}
