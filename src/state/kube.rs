//! Rows of the Kubernetes objects play keeps beside pods (ConfigMaps, Secrets) and of
//! Services.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Result, Store};

#[derive(Debug, Clone)]
pub struct KubeObjectRecord {
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub data: String,
    pub created: String,
}

#[derive(Debug, Clone)]
pub struct ServiceRecord {
    pub id: String,
    pub namespace: String,
    pub name: String,
    pub spec: String,
    pub created: String,
}

impl Store {
    pub fn kube_object(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<KubeObjectRecord>> {
        Ok(self
            .conn
            .query_row(
                "SELECT namespace, kind, name, data, created FROM kube_objects
                 WHERE namespace = ?1 AND kind = ?2 AND name = ?3",
                params![namespace, kind, name],
                |r| {
                    Ok(KubeObjectRecord {
                        namespace: r.get(0)?,
                        kind: r.get(1)?,
                        name: r.get(2)?,
                        data: r.get(3)?,
                        created: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn kube_objects(&self, kind: &str) -> Result<Vec<KubeObjectRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT namespace, kind, name, data, created FROM kube_objects WHERE kind = ?
             ORDER BY namespace, name",
        )?;
        let rows = stmt
            .query_map([kind], |r| {
                Ok(KubeObjectRecord {
                    namespace: r.get(0)?,
                    kind: r.get(1)?,
                    name: r.get(2)?,
                    data: r.get(3)?,
                    created: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn services(&self) -> Result<Vec<ServiceRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, namespace, name, spec, created FROM services ORDER BY namespace, name",
        )?;
        let rows = stmt
            .query_map([], service_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Result<Option<ServiceRecord>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, namespace, name, spec, created FROM services
                 WHERE namespace = ?1 AND name = ?2",
                params![namespace, name],
                service_from_row,
            )
            .optional()?)
    }

    pub fn service_by_id(&self, id: &str) -> Result<Option<ServiceRecord>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, namespace, name, spec, created FROM services WHERE id = ?",
                [id],
                service_from_row,
            )
            .optional()?)
    }
}

fn service_from_row(r: &rusqlite::Row) -> rusqlite::Result<ServiceRecord> {
    Ok(ServiceRecord {
        id: r.get(0)?,
        namespace: r.get(1)?,
        name: r.get(2)?,
        spec: r.get(3)?,
        created: r.get(4)?,
    })
}

pub mod write {
    use super::*;

    /// Insert or replace an object.
    pub fn put_object(tx: &Transaction, o: &KubeObjectRecord) -> Result<()> {
        tx.execute(
            "INSERT OR REPLACE INTO kube_objects (namespace, kind, name, data, created)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![o.namespace, o.kind, o.name, o.data, o.created],
        )?;
        Ok(())
    }

    pub fn remove_object(
        tx: &Transaction,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Result<bool> {
        Ok(tx.execute(
            "DELETE FROM kube_objects WHERE namespace = ?1 AND kind = ?2 AND name = ?3",
            params![namespace, kind, name],
        )? > 0)
    }

    /// Insert a service; false when the name is taken in its namespace.
    pub fn insert_service(tx: &Transaction, s: &ServiceRecord) -> Result<bool> {
        Ok(tx.execute(
            "INSERT INTO services (id, namespace, name, spec, created) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO NOTHING",
            params![s.id, s.namespace, s.name, s.spec, s.created],
        )? > 0)
    }

    pub fn remove_service(tx: &Transaction, id: &str) -> Result<bool> {
        Ok(tx.execute("DELETE FROM services WHERE id = ?", [id])? > 0)
    }
}
