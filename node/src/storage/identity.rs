//! Which cluster and node a data directory belongs to, so that a node never
//! starts on another node's data (a copied or mis-mounted volume). The file
//! is one line, `cluster=<id> node=<id>`, for people to read too.

use std::io;
use std::path::Path;

use super::{StorageError, create_dir, write_durably};

/// Checks that `dir` belongs to node `node` of `cluster`, or claims a new or
/// empty directory for it. Returns whether it was claimed now.
pub fn check_identity(dir: &Path, cluster: &str, node: u64) -> Result<bool, StorageError> {
    if cluster.is_empty() || cluster.contains(|c: char| c.is_whitespace() || c == '=') {
        return Err(StorageError::Invalid(format!("cluster id {cluster:?}: give a word without spaces or '='")));
    }
    create_dir(dir)?;
    let path = dir.join("identity");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let (found_cluster, found_node) = parse(&text).ok_or_else(|| StorageError::Corrupt {
                file: path.clone(),
                offset: 0,
                reason: format!("not an identity file (expected `cluster=<id> node=<id>`): {:?}", text.trim()),
            })?;
            if found_cluster != cluster || found_node != node {
                return Err(StorageError::WrongIdentity {
                    dir: dir.to_path_buf(),
                    found_cluster: found_cluster.to_string(),
                    found_node,
                    expected_cluster: cluster.to_string(),
                    expected_node: node,
                });
            }
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            write_durably(&path, &[format!("cluster={cluster} node={node}\n").as_bytes()])?;
            Ok(true)
        }
        Err(e) => Err(StorageError::io(&path, e)),
    }
}

fn parse(text: &str) -> Option<(&str, u64)> {
    let mut words = text.split_whitespace();
    let cluster = words.next()?.strip_prefix("cluster=")?;
    let node = words.next()?.strip_prefix("node=")?.parse().ok()?;
    (words.next().is_none() && !cluster.is_empty()).then_some((cluster, node))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_form_parses() {
        assert_eq!(parse("cluster=alpha node=3\n"), Some(("alpha", 3)));
        assert_eq!(parse("cluster= node=3"), None);
        assert_eq!(parse("node=3 cluster=alpha"), None);
        assert_eq!(parse("cluster=alpha node=3 extra"), None);
        assert_eq!(parse("cluster=alpha node=-1"), None);
    }

    #[test]
    fn a_cluster_id_that_would_not_read_back_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "two words", "a=b"] {
            assert!(matches!(check_identity(dir.path(), bad, 1), Err(StorageError::Invalid(_))), "{bad:?}");
        }
    }
}
