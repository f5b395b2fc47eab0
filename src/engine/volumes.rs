//! Named and anonymous volumes: `volumes/<name>/_data`, created on first use and filled from
//! the image's content at the mount point the first time (Docker's semantics).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;

use super::{Engine, EngineError, Result, io_err};
use crate::state::volumes::{VolumeRecord, write};

/// One row of `volume ls` / the body of `volume inspect`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VolumeInfo {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Driver")]
    pub driver: &'static str,
    #[serde(rename = "Mountpoint")]
    pub mountpoint: PathBuf,
    #[serde(rename = "CreatedAt")]
    pub created: String,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "Scope")]
    pub scope: &'static str,
    #[serde(rename = "Anonymous")]
    pub anonymous: bool,
    #[serde(rename = "UsedBy")]
    pub used_by: Vec<String>,
}

fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl Engine {
    fn volume_dir(&self, name: &str) -> PathBuf {
        self.paths.root.join("volumes").join(name)
    }

    /// Create a volume if it does not exist; with `container`, record that it uses it.
    /// Returns the data directory.
    pub(crate) fn ensure_volume(
        &mut self,
        name: &str,
        anonymous: bool,
        container: Option<&str>,
    ) -> Result<PathBuf> {
        if !valid_volume_name(name) {
            return Err(EngineError::Invalid(format!(
                "invalid volume name {name:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit"
            )));
        }
        let data = self.volume_dir(name).join("_data");
        let record = VolumeRecord {
            name: name.to_string(),
            created: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels: "{}".into(),
            options: "{}".into(),
            anonymous,
        };
        self.store.write(|tx| -> Result<()> {
            write::ensure(tx, &record)?;
            if let Some(id) = container {
                write::attach(tx, id, name)?;
            }
            Ok(())
        })?;
        // The row comes first: a command killed in between leaves a volume that `rm -v` or
        // `volume rm` removes, never a directory that no command knows about.
        std::fs::create_dir_all(&data).map_err(io_err(&data))?;
        Ok(data)
    }

    /// Copy the image's content at the mount point into a volume that was never filled.
    pub(crate) fn seed_volume(&self, name: &str, data: &Path, image_path: &Path) -> Result<()> {
        let marker = self.volume_dir(name).join(".seeded");
        if marker.exists() {
            return Ok(());
        }
        if image_path.is_dir()
            && std::fs::read_dir(data)
                .map_err(io_err(data))?
                .next()
                .is_none()
        {
            copy_tree(image_path, data)?;
        }
        std::fs::write(&marker, b"").map_err(io_err(&marker))?;
        Ok(())
    }

    /// `volume create`.
    pub fn create_volume(
        &mut self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        ignore_existing: bool,
    ) -> Result<String> {
        let name = match name {
            Some(n) => n.to_string(),
            None => super::containers::random_hex(32),
        };
        if self.store.volume(&name)?.is_some() {
            if ignore_existing {
                return Ok(name);
            }
            return Err(EngineError::Conflict(format!(
                "volume {name:?} already exists"
            )));
        }
        self.ensure_volume(&name, false, None)?;
        let labels = serde_json::to_string(&labels).expect("labels serialise");
        self.store.write(|tx| -> Result<()> {
            tx.execute(
                "UPDATE volumes SET labels = ?2 WHERE name = ?1",
                rusqlite::params![name, labels],
            )
            .map_err(crate::state::StateError::from)?;
            Ok(())
        })?;
        Ok(name)
    }

    pub fn volume_info(&mut self, name: &str) -> Result<VolumeInfo> {
        let record = self.store.volume(name)?.ok_or_else(|| {
            EngineError::VolumeNotFound(format!("no volume with name {name:?} found"))
        })?;
        Ok(VolumeInfo {
            mountpoint: self.volume_dir(&record.name).join("_data"),
            used_by: self.store.volume_users(&record.name)?,
            labels: serde_json::from_str(&record.labels).unwrap_or_default(),
            name: record.name,
            driver: "local",
            created: record.created,
            scope: "local",
            anonymous: record.anonymous,
        })
    }

    pub fn list_volumes(&mut self) -> Result<Vec<VolumeInfo>> {
        let names: Vec<String> = self.store.volumes()?.into_iter().map(|v| v.name).collect();
        names.iter().map(|n| self.volume_info(n)).collect()
    }

    /// `volume rm`: refuses a volume in use unless `force` (which removes its containers).
    pub fn remove_volume(&mut self, name: &str, force: bool) -> Result<()> {
        let users = self.store.volume_users(name)?;
        if self.store.volume(name)?.is_none() {
            return Err(EngineError::VolumeNotFound(format!(
                "no volume with name {name:?} found"
            )));
        }
        if !users.is_empty() {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "volume {name} is being used by containers: {}; remove them first or use --force",
                    users.join(", ")
                )));
            }
            for user in users {
                self.remove_container(&user, true, false)?;
            }
        }
        let name_owned = name.to_string();
        self.store.write(|tx| -> Result<()> {
            tx.execute(
                "DELETE FROM container_volumes WHERE volume = ?",
                [&name_owned],
            )
            .map_err(crate::state::StateError::from)?;
            write::remove(tx, &name_owned)?;
            Ok(())
        })?;
        let dir = self.volume_dir(name);
        crate::sys::fs::remove_all(&dir).map_err(io_err(&dir))?;
        Ok(())
    }

    /// `volume prune`: remove volumes no container uses.
    pub fn prune_volumes(&mut self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for volume in self.store.volumes()? {
            if self.store.volume_users(&volume.name)?.is_empty() {
                self.remove_volume(&volume.name, false)?;
                removed.push(volume.name);
            }
        }
        Ok(removed)
    }
}

/// Copy a directory tree keeping modes, ownership and symlinks (for seeding volumes).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for entry in std::fs::read_dir(from).map_err(io_err(from))? {
        let entry = entry.map_err(io_err(from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&source).map_err(io_err(&source))?;
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&source).map_err(io_err(&source))?;
            std::os::unix::fs::symlink(&link, &target).map_err(io_err(&target))?;
        } else if meta.is_dir() {
            std::fs::create_dir_all(&target).map_err(io_err(&target))?;
            copy_tree(&source, &target)?;
        } else if meta.is_file() {
            std::fs::copy(&source, &target).map_err(io_err(&target))?;
        } else {
            continue;
        }
        let _ = std::os::unix::fs::lchown(&target, Some(meta.uid()), Some(meta.gid()));
        if !meta.file_type().is_symlink() {
            std::fs::set_permissions(
                &target,
                std::fs::Permissions::from_mode(meta.mode() & 0o7777),
            )
            .map_err(io_err(&target))?;
        }
    }
    Ok(())
}
