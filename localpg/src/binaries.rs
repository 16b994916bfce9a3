//! Finding `initdb`, `postgres` and `pg_ctl` on this machine.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The directory holding the PostgreSQL server binaries.
#[derive(Debug, Clone)]
pub struct BinDir(pub PathBuf);

impl BinDir {
    /// `SWITCHYARD_PG_BINDIR`, else the newest `/usr/lib/postgresql/*/bin`,
    /// else whatever `initdb` is on `PATH`.
    pub fn locate() -> Result<BinDir> {
        if let Ok(dir) = std::env::var("SWITCHYARD_PG_BINDIR") {
            let dir = PathBuf::from(dir);
            return if dir.join("initdb").exists() {
                Ok(BinDir(dir))
            } else {
                Err(Error::BinariesMissing(format!("no initdb in SWITCHYARD_PG_BINDIR={}", dir.display())))
            };
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").exists().then_some((v, bin))
            })
            .collect();
        versions.sort();
        if let Some((_, bin)) = versions.pop() {
            return Ok(BinDir(bin));
        }
        find_binary("initdb")
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .map(BinDir)
            .ok_or_else(|| Error::BinariesMissing("no /usr/lib/postgresql/*/bin and no initdb on PATH".into()))
    }

    pub fn tool(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

/// Looks `name` up on `PATH`.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}
