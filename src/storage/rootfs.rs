//! The per-container directory `containers/<id>/` and its root file system: a kernel overlay
//! of the image's layers (read-only, shared) under the container's own upper directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("mounting the root file system at {path}: {source}")]
    Mount { path: PathBuf, source: nix::Error },
    #[error("unmounting {path}: {source}")]
    Unmount { path: PathBuf, source: nix::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `<root>/containers/<id>/`: overlay upper and work directories, the merged mount point and
/// the log; and `<runroot>/containers/<id>/`: the OCI bundle (`config.json`) and the generated
/// `/etc` files, which are written anew at every start and so live with transient state.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    dir: PathBuf,
    run: PathBuf,
}

impl ContainerDir {
    pub fn new(root: &Path, runroot: &Path, id: &str) -> ContainerDir {
        ContainerDir {
            dir: root.join("containers").join(id),
            run: runroot.join("containers").join(id),
        }
    }

    /// The OCI bundle directory (holds `config.json`).
    pub fn bundle(&self) -> &Path {
        &self.run
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }
    pub fn config(&self) -> PathBuf {
        self.run.join("config.json")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("ctr.log")
    }
    /// A generated file of the bundle (`hosts`, `hostname`, `resolv.conf`).
    pub fn file(&self, name: &str) -> PathBuf {
        self.run.join(name)
    }

    /// Create the directory tree (idempotent).
    pub fn create(&self) -> Result<(), StorageError> {
        for dir in [
            self.dir.clone(),
            self.upper(),
            self.work(),
            self.merged(),
            self.run.clone(),
        ] {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        Ok(())
    }

    /// Mount the overlay root file system; `lowers` are the image's layer directories, top
    /// layer first. Mounting an already mounted root is a no-op.
    pub fn mount_rootfs(&self, lowers: &[PathBuf]) -> Result<(), StorageError> {
        let merged = self.merged();
        if is_mountpoint(&merged) {
            return Ok(());
        }
        // An image without layers still needs a lower directory.
        let empty = self.dir.join("empty");
        let lowers: Vec<PathBuf> = if lowers.is_empty() {
            fs::create_dir_all(&empty).map_err(io_err(&empty))?;
            vec![empty]
        } else {
            lowers.to_vec()
        };
        let lowerdir = lowers
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        let options = format!(
            "lowerdir={lowerdir},upperdir={},workdir={}",
            self.upper().display(),
            self.work().display()
        );
        mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(options.as_str()),
        )
        .map_err(|source| StorageError::Mount {
            path: merged.clone(),
            source,
        })
    }

    /// Unmount the root file system if mounted (lazily: a process still inside it must not
    /// block removal).
    pub fn unmount_rootfs(&self) -> Result<(), StorageError> {
        let merged = self.merged();
        if !is_mountpoint(&merged) {
            return Ok(());
        }
        match umount2(&merged, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
            Err(source) => Err(StorageError::Unmount {
                path: merged,
                source,
            }),
        }
    }

    /// Unmount and delete everything.
    pub fn remove(&self) -> Result<(), StorageError> {
        self.unmount_rootfs()?;
        crate::sys::fs::remove_all(&self.run).map_err(io_err(&self.run))?;
        crate::sys::fs::remove_all(&self.dir).map_err(io_err(&self.dir))
    }
}

/// Whether `path` is a mount point, from this process's mount table.
pub fn is_mountpoint(path: &Path) -> bool {
    let Ok(table) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = path.display().to_string();
    table.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .map(unescape_mount_path)
            .is_some_and(|p| p == wanted)
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount_path(field: &str) -> String {
    let mut out = String::new();
    let bytes = field.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(code) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(code as char);
            i += 4;
            continue;
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_rootfs_mounts_layers_and_unmounts() {
        let tmp = tempfile::tempdir().unwrap();
        let lower1 = tmp.path().join("l1");
        let lower2 = tmp.path().join("l2");
        fs::create_dir_all(&lower1).unwrap();
        fs::create_dir_all(&lower2).unwrap();
        fs::write(lower1.join("a"), "bottom").unwrap();
        fs::write(lower2.join("a"), "top").unwrap();
        let dir = ContainerDir::new(tmp.path(), &tmp.path().join("run"), "c1");
        dir.create().unwrap();
        dir.mount_rootfs(&[lower2.clone(), lower1.clone()]).unwrap();
        assert!(is_mountpoint(&dir.merged()));
        assert_eq!(fs::read_to_string(dir.merged().join("a")).unwrap(), "top");
        fs::write(dir.merged().join("b"), "new").unwrap();
        assert!(dir.upper().join("b").exists());
        dir.mount_rootfs(&[lower2, lower1]).unwrap();
        dir.remove().unwrap();
        assert!(!dir.path().exists());
    }

    #[test]
    fn mount_paths_unescape() {
        assert_eq!(unescape_mount_path("/a\\040b"), "/a b");
        assert_eq!(unescape_mount_path("/plain"), "/plain");
    }
}
