//! Pod rows. A pod's status is not stored: it follows from its containers' statuses.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{Result, Store};

#[derive(Debug, Clone)]
pub struct PodRecord {
    pub id: String,
    pub name: String,
    /// `PodSpec` JSON.
    pub spec: String,
    pub created: String,
}

fn from_row(r: &Row) -> rusqlite::Result<PodRecord> {
    Ok(PodRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        spec: r.get(2)?,
        created: r.get(3)?,
    })
}

impl Store {
    /// Every pod, newest first.
    pub fn pods(&self) -> Result<Vec<PodRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name, spec, created FROM pods ORDER BY created DESC, id")?;
        let rows = stmt
            .query_map([], from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn pod(&self, id: &str) -> Result<Option<PodRecord>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, spec, created FROM pods WHERE id = ?",
                [id],
                from_row,
            )
            .optional()?)
    }

    pub fn pod_by_name(&self, name: &str) -> Result<Option<PodRecord>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, spec, created FROM pods WHERE name = ?",
                [name],
                from_row,
            )
            .optional()?)
    }

    pub fn pod_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM pods WHERE id >= ?1 AND id < ?1 || 'g' LIMIT 2")?;
        let rows = stmt
            .query_map([prefix], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

pub mod write {
    use super::*;

    /// Insert a pod; false when its name is taken.
    pub fn insert(tx: &Transaction, p: &PodRecord) -> Result<bool> {
        Ok(tx.execute(
            "INSERT INTO pods (id, name, spec, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![p.id, p.name, p.spec, p.created],
        )? > 0)
    }

    pub fn remove(tx: &Transaction, id: &str) -> Result<bool> {
        Ok(tx.execute("DELETE FROM pods WHERE id = ?", [id])? > 0)
    }

    pub fn container_count(tx: &Transaction, id: &str) -> Result<u64> {
        Ok(tx.query_row(
            "SELECT COUNT(*) FROM containers WHERE pod_id = ?",
            [id],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }
}
