//! Helpers for other crates' tests (feature `test-support`): they fabricate states that this
//! binary never writes, such as a store from a newer Acorn. Not for production use.

use std::path::Path;

use redb::ReadableTable;

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

/// Alters record `seq` of the audit chain of `workspace_id` in a closed store, as an attacker
/// editing the file would: its `action` is changed and the JSON stays valid, so only the hash
/// chain can tell. `NotFound` if there is no such record.
pub fn tamper_audit_record(path: &Path, workspace_id: &str, seq: u64) -> Result<(), StoreError> {
    let db = redb::Database::open(path).map_err(|e| crate::store::open_error(path, e))?;
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(crate::schema::AUDIT)?;
        let mut key = workspace_id.as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(&seq.to_be_bytes());
        let bytes = table
            .get(key.as_slice())?
            .map(|v| v.value().to_vec())
            .ok_or_else(|| StoreError::NotFound {
                what: format!("audit record {seq} of {workspace_id}"),
            })?;
        let mut value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Encode(e.to_string()))?;
        value["action"] = serde_json::Value::String("tampered".into());
        table.insert(key.as_slice(), encode(&value)?.as_slice())?;
    }
    txn.commit()?;
    Ok(())
}
