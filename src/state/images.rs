//! Image rows: an image is its config digest (the image ID), the manifest it came with, its
//! layers in order, the names (tags) pointing at it and the repository digests it is known by.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Result, Store};

/// One layer of an image, bottom first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayer {
    pub diff_id: String,
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub diff_size: u64,
}

/// A name (tag) and the image it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    pub name: String,
    pub image_id: String,
}

/// An image as the store keeps it.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    pub id: String,
    pub digest: String,
    pub media_type: String,
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub created: Option<String>,
    pub size: u64,
    pub added: String,
    pub layers: Vec<ImageLayer>,
    pub names: Vec<String>,
    /// `repository@digest` strings.
    pub repo_digests: Vec<String>,
}

const IMAGE_COLUMNS: &str = "id, digest, media_type, manifest, config, created, size, added";

fn image_from_row(row: &rusqlite::Row) -> rusqlite::Result<ImageRecord> {
    Ok(ImageRecord {
        id: row.get(0)?,
        digest: row.get(1)?,
        media_type: row.get(2)?,
        manifest: row.get(3)?,
        config: row.get(4)?,
        created: row.get(5)?,
        size: row.get::<_, i64>(6)? as u64,
        added: row.get(7)?,
        layers: Vec::new(),
        names: Vec::new(),
        repo_digests: Vec::new(),
    })
}

fn fill_details(conn: &Connection, image: &mut ImageRecord) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT diff_id, digest, media_type, size, diff_size FROM image_layers
         WHERE image_id = ? ORDER BY position",
    )?;
    image.layers = stmt
        .query_map([&image.id], |r| {
            Ok(ImageLayer {
                diff_id: r.get(0)?,
                digest: r.get(1)?,
                media_type: r.get(2)?,
                size: r.get::<_, i64>(3)? as u64,
                diff_size: r.get::<_, i64>(4)? as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt =
        conn.prepare_cached("SELECT name FROM image_names WHERE image_id = ? ORDER BY position")?;
    image.names = stmt
        .query_map([&image.id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT repository || '@' || digest FROM image_digests WHERE image_id = ? ORDER BY repository, digest",
    )?;
    image.repo_digests = stmt
        .query_map([&image.id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(())
}

impl Store {
    /// Every image with its names, layers and digests, newest first.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {IMAGE_COLUMNS} FROM images ORDER BY added DESC, id"
        ))?;
        let mut images: Vec<ImageRecord> = stmt
            .query_map([], image_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        for image in &mut images {
            fill_details(&self.conn, image)?;
        }
        Ok(images)
    }

    /// The image with exactly this ID.
    pub fn image(&self, id: &str) -> Result<Option<ImageRecord>> {
        image_by_id(&self.conn, id)
    }

    /// The image a name (`registry/repo:tag`) points at.
    pub fn image_by_name(&self, name: &str) -> Result<Option<ImageRecord>> {
        let id: Option<String> = self
            .conn
            .query_row(
                "SELECT image_id FROM image_names WHERE name = ?",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        match id {
            Some(id) => image_by_id(&self.conn, &id),
            None => Ok(None),
        }
    }

    /// The image known in `repository` by manifest `digest`.
    pub fn image_by_digest(&self, repository: &str, digest: &str) -> Result<Option<ImageRecord>> {
        let id: Option<String> = self
            .conn
            .query_row(
                "SELECT image_id FROM image_digests WHERE repository = ? AND digest = ?",
                [repository, digest],
                |r| r.get(0),
            )
            .optional()?;
        match id {
            Some(id) => image_by_id(&self.conn, &id),
            None => Ok(None),
        }
    }

    /// IDs starting with `prefix` (for short IDs typed by users).
    pub fn image_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM images WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id",
        )?;
        let ids = stmt
            .query_map([prefix], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// All diff IDs some image still uses.
    pub fn used_diff_ids(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT diff_id FROM image_layers")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// All blob digests (manifests' layers) some image still uses.
    pub fn used_blob_digests(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT digest FROM image_layers")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }
}

fn image_by_id(conn: &Connection, id: &str) -> Result<Option<ImageRecord>> {
    let image = conn
        .query_row(
            &format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?"),
            [id],
            image_from_row,
        )
        .optional()?;
    match image {
        Some(mut image) => {
            fill_details(conn, &mut image)?;
            Ok(Some(image))
        }
        None => Ok(None),
    }
}

/// Write-side operations, always inside [`Store::write`].
pub mod write {
    use super::*;

    /// Insert the image if this ID is new (layers included), or replace its manifest when the
    /// same config arrives with another manifest (a re-push, a conversion).
    pub fn put_image(tx: &Transaction, image: &ImageRecord) -> Result<()> {
        tx.execute(
            "INSERT INTO images (id, digest, media_type, manifest, config, created, size, added)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(id) DO UPDATE SET digest = ?2, media_type = ?3, manifest = ?4",
            params![
                image.id,
                image.digest,
                image.media_type,
                image.manifest,
                image.config,
                image.created,
                image.size as i64,
                image.added
            ],
        )?;
        tx.execute("DELETE FROM image_layers WHERE image_id = ?", [&image.id])?;
        let mut stmt = tx.prepare_cached(
            "INSERT INTO image_layers (image_id, position, diff_id, digest, media_type, size, diff_size)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )?;
        for (position, layer) in image.layers.iter().enumerate() {
            stmt.execute(params![
                image.id,
                position as i64,
                layer.diff_id,
                layer.digest,
                layer.media_type,
                layer.size as i64,
                layer.diff_size as i64
            ])?;
        }
        Ok(())
    }

    /// Point `name` at `image_id`, taking it from any image that had it. Returns the image
    /// that lost the name, if any.
    pub fn set_name(tx: &Transaction, name: &str, image_id: &str) -> Result<Option<String>> {
        let previous: Option<String> = tx
            .query_row(
                "SELECT image_id FROM image_names WHERE name = ?",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        if previous.as_deref() == Some(image_id) {
            return Ok(None);
        }
        let position: i64 = tx.query_row(
            "SELECT COALESCE(MAX(position), -1) + 1 FROM image_names WHERE image_id = ?",
            [image_id],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO image_names (name, image_id, position) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET image_id = ?2, position = ?3",
            params![name, image_id, position],
        )?;
        Ok(previous)
    }

    /// Remember that `repository` serves this image under manifest `digest`.
    pub fn add_digest(
        tx: &Transaction,
        repository: &str,
        digest: &str,
        image_id: &str,
    ) -> Result<()> {
        tx.execute(
            "INSERT INTO image_digests (repository, digest, image_id) VALUES (?1, ?2, ?3)
             ON CONFLICT(repository, digest) DO UPDATE SET image_id = ?3",
            params![repository, digest, image_id],
        )?;
        Ok(())
    }

    /// Remove one name; true when it existed.
    pub fn remove_name(tx: &Transaction, name: &str) -> Result<bool> {
        Ok(tx.execute("DELETE FROM image_names WHERE name = ?", [name])? > 0)
    }

    /// Whether the image row exists: commands look images up before their write transaction,
    /// and another command may remove the image in between.
    pub fn image_exists(tx: &Transaction, image_id: &str) -> Result<bool> {
        Ok(tx
            .query_row("SELECT 1 FROM images WHERE id = ?", [image_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Names still pointing at an image, in the order they were given.
    pub fn names_of(tx: &Transaction, image_id: &str) -> Result<Vec<String>> {
        let mut stmt =
            tx.prepare_cached("SELECT name FROM image_names WHERE image_id = ? ORDER BY position")?;
        let names = stmt
            .query_map([image_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(names)
    }

    /// Remove the image row with its layers, names and digests; true when it existed.
    pub fn remove_image(tx: &Transaction, image_id: &str) -> Result<bool> {
        Ok(tx.execute("DELETE FROM images WHERE id = ?", [image_id])? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str) -> ImageRecord {
        ImageRecord {
            id: id.to_string(),
            digest: format!("sha256:{}", "m".repeat(64)),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            manifest: b"{}".to_vec(),
            config: b"{}".to_vec(),
            created: None,
            size: 42,
            added: "2026-01-01T00:00:00Z".into(),
            layers: vec![ImageLayer {
                diff_id: "sha256:aa".into(),
                digest: "sha256:bb".into(),
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                size: 10,
                diff_size: 42,
            }],
            names: vec![],
            repo_digests: vec![],
        }
    }

    #[test]
    fn image_names_move_between_images_and_cascade_on_removal() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("state.db")).unwrap();
        store
            .write(|tx| -> Result<()> {
                write::put_image(tx, &sample("a1"))?;
                write::put_image(tx, &sample("b2"))?;
                assert_eq!(write::set_name(tx, "r/x:1", "a1")?, None);
                write::add_digest(tx, "r/x", "sha256:dd", "a1")?;
                assert_eq!(write::set_name(tx, "r/x:1", "b2")?, Some("a1".into()));
                Ok(())
            })
            .unwrap();
        assert_eq!(store.image_by_name("r/x:1").unwrap().unwrap().id, "b2");
        let a = store.image("a1").unwrap().unwrap();
        assert!(a.names.is_empty());
        assert_eq!(a.repo_digests, vec!["r/x@sha256:dd".to_string()]);
        assert_eq!(a.layers.len(), 1);
        assert_eq!(
            store.image_ids_with_prefix("a").unwrap(),
            vec!["a1".to_string()]
        );
        store
            .write(|tx| write::remove_image(tx, "a1").map(|_| ()))
            .unwrap();
        assert!(store.image_by_digest("r/x", "sha256:dd").unwrap().is_none());
        assert_eq!(
            store.used_diff_ids().unwrap(),
            vec!["sha256:aa".to_string()]
        );
    }

    #[test]
    fn reopening_a_migrated_database_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut store = Store::open(&path).unwrap();
        store
            .write(|tx| write::put_image(tx, &sample("c3")))
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert!(store.image("c3").unwrap().is_some());
    }
}
