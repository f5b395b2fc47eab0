//! Volume rows, and which containers use which volume.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Result, Store};

#[derive(Debug, Clone)]
pub struct VolumeRecord {
    pub name: String,
    pub created: String,
    pub labels: String,
    pub options: String,
    pub anonymous: bool,
}

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<VolumeRecord> {
    Ok(VolumeRecord {
        name: r.get(0)?,
        created: r.get(1)?,
        labels: r.get(2)?,
        options: r.get(3)?,
        anonymous: r.get::<_, i64>(4)? != 0,
    })
}

impl Store {
    pub fn volumes(&self) -> Result<Vec<VolumeRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, created, labels, options, anonymous FROM volumes ORDER BY name",
        )?;
        let rows = stmt
            .query_map([], from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn volume(&self, name: &str) -> Result<Option<VolumeRecord>> {
        Ok(self
            .conn
            .query_row(
                "SELECT name, created, labels, options, anonymous FROM volumes WHERE name = ?",
                [name],
                from_row,
            )
            .optional()?)
    }

    /// Names of containers using a volume.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.name FROM container_volumes v JOIN containers c ON c.id = v.container_id
             WHERE v.volume = ? ORDER BY c.name",
        )?;
        let rows = stmt
            .query_map([name], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

pub mod write {
    use super::*;

    /// Insert the volume if new; true when it was created now.
    pub fn ensure(tx: &Transaction, v: &VolumeRecord) -> Result<bool> {
        Ok(tx.execute(
            "INSERT INTO volumes (name, created, labels, options, anonymous) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO NOTHING",
            params![v.name, v.created, v.labels, v.options, v.anonymous as i64],
        )? > 0)
    }

    pub fn attach(tx: &Transaction, container_id: &str, volume: &str) -> Result<()> {
        tx.execute(
            "INSERT INTO container_volumes (container_id, volume) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
            params![container_id, volume],
        )?;
        Ok(())
    }

    pub fn users(tx: &Transaction, name: &str) -> Result<Vec<String>> {
        let mut stmt = tx.prepare_cached(
            "SELECT c.name FROM container_volumes v JOIN containers c ON c.id = v.container_id
             WHERE v.volume = ? ORDER BY c.name",
        )?;
        let rows = stmt
            .query_map([name], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Anonymous volumes a container uses.
    pub fn anonymous_volumes_of(tx: &Transaction, container_id: &str) -> Result<Vec<String>> {
        let mut stmt = tx.prepare_cached(
            "SELECT v.name FROM container_volumes cv JOIN volumes v ON v.name = cv.volume
             WHERE cv.container_id = ? AND v.anonymous = 1",
        )?;
        let rows = stmt
            .query_map([container_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn remove(tx: &Transaction, name: &str) -> Result<bool> {
        Ok(tx.execute("DELETE FROM volumes WHERE name = ?", [name])? > 0)
    }
}
