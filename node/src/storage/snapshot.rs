//! Snapshot files: written to a temporary file, fsynced, renamed into place.

use std::path::{Path, PathBuf};

use prost::Message as _;
use raft::Snapshot;

use super::record::{self, Decoded};
use super::{StorageError, sync_dir};
use crate::proto::raft as pb;

/// How many snapshot files to keep: the newest, and one before it.
const KEEP: usize = 2;

pub struct SnapshotStore {
    dir: PathBuf,
}

/// Writes `data` to `path` so that after return it survives a crash whole:
/// temp file, fsync, rename, fsync of the directory.
pub fn write_durably(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).map_err(|e| StorageError::io(&tmp, e))?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| StorageError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| StorageError::io(path, e))?;
    sync_dir(path.parent().expect("files live in a directory"))
}

impl SnapshotStore {
    pub fn open(dir: &Path) -> Result<SnapshotStore, StorageError> {
        let dir = dir.join("snap");
        std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        Ok(SnapshotStore { dir })
    }

    fn indexes(&self) -> Result<Vec<u64>, StorageError> {
        let mut indexes: Vec<u64> = std::fs::read_dir(&self.dir)
            .map_err(|e| StorageError::io(&self.dir, e))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".snap")?.parse().ok())
            .collect();
        indexes.sort_unstable();
        Ok(indexes)
    }

    fn path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("{index:020}.snap"))
    }

    pub fn save(&self, snapshot: &Snapshot) -> Result<(), StorageError> {
        let file = pb::SnapshotFile {
            meta: Some(pb::SnapshotMeta {
                index: snapshot.meta.index,
                term: snapshot.meta.term,
                conf: Some(crate::wire::conf_to_pb(&snapshot.meta.conf)),
            }),
            data: snapshot.data.clone(),
        };
        let mut framed = Vec::new();
        record::encode(&file.encode_to_vec(), &mut framed);
        write_durably(&self.path(snapshot.meta.index), &framed)?;
        let indexes = self.indexes()?;
        for old in indexes.iter().take(indexes.len().saturating_sub(KEEP)) {
            let path = self.path(*old);
            std::fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
        }
        Ok(())
    }

    /// The newest snapshot, if any. A damaged newest file is an error: the
    /// WAL before it may already be deleted.
    pub fn load_latest(&self) -> Result<Option<Snapshot>, StorageError> {
        let Some(&index) = self.indexes()?.last() else { return Ok(None) };
        let path = self.path(index);
        let buf = std::fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
        let corrupt = |reason: String| StorageError::Corrupt { file: path.clone(), offset: 0, reason };
        let Decoded::Record { payload, .. } = record::decode(&buf) else {
            return Err(corrupt("damaged snapshot file".into()));
        };
        let file = pb::SnapshotFile::decode(payload).map_err(|e| corrupt(e.to_string()))?;
        let meta = file.meta.ok_or_else(|| corrupt("no metadata".into()))?;
        Ok(Some(Snapshot {
            meta: raft::SnapshotMeta {
                index: meta.index,
                term: meta.term,
                conf: crate::wire::conf_from_pb(meta.conf.unwrap_or_default()),
            },
            data: file.data,
        }))
    }
}
