//! Container rows and their status machine. A container is created, then runs, may pause,
//! and exits; the guards say which verbs each status allows, and every change is one
//! transaction so concurrent commands see either the old status or the new one.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{Result, Store};

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    Created,
    Running,
    Paused,
    Exited,
}

impl ContainerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Exited => "exited",
        }
    }

    pub fn parse(s: &str) -> ContainerStatus {
        match s {
            "running" => ContainerStatus::Running,
            "paused" => ContainerStatus::Paused,
            "exited" => ContainerStatus::Exited,
            _ => ContainerStatus::Created,
        }
    }

    pub fn can_start(self) -> bool {
        matches!(self, ContainerStatus::Created | ContainerStatus::Exited)
    }

    /// Has a live process (a monitor and a container init).
    pub fn is_active(self) -> bool {
        matches!(self, ContainerStatus::Running | ContainerStatus::Paused)
    }

    pub fn can_pause(self) -> bool {
        self == ContainerStatus::Running
    }

    pub fn can_unpause(self) -> bool {
        self == ContainerStatus::Paused
    }
}

/// A container as the store keeps it.
#[derive(Debug, Clone)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub image_name: String,
    pub spec: String,
    pub created: String,
    pub status: ContainerStatus,
    pub pid: Option<i32>,
    pub monitor_pid: Option<i32>,
    pub monitor_start: Option<u64>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    pub oom_killed: bool,
    pub restart_count: u32,
    pub stop_requested: bool,
    pub health: Option<String>,
    pub health_failing: u32,
    pub health_log: Option<String>,
    /// The pod it belongs to.
    pub pod_id: Option<String>,
    /// With a readiness probe: whether it passes now.
    pub ready: Option<bool>,
}

const COLUMNS: &str = "id, name, image_id, image_name, spec, created, status, pid, monitor_pid, \
    monitor_start, started_at, finished_at, exit_code, oom_killed, restart_count, stop_requested, \
    health, health_failing, health_log, pod_id, ready";

fn from_row(r: &Row) -> rusqlite::Result<ContainerRecord> {
    Ok(ContainerRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        image_id: r.get(2)?,
        image_name: r.get(3)?,
        spec: r.get(4)?,
        created: r.get(5)?,
        status: ContainerStatus::parse(&r.get::<_, String>(6)?),
        pid: r.get(7)?,
        monitor_pid: r.get(8)?,
        monitor_start: r.get::<_, Option<i64>>(9)?.map(|v| v as u64),
        started_at: r.get(10)?,
        finished_at: r.get(11)?,
        exit_code: r.get(12)?,
        oom_killed: r.get::<_, i64>(13)? != 0,
        restart_count: r.get::<_, i64>(14)? as u32,
        stop_requested: r.get::<_, i64>(15)? != 0,
        health: r.get(16)?,
        health_failing: r.get::<_, i64>(17)? as u32,
        health_log: r.get(18)?,
        pod_id: r.get(19)?,
        ready: r.get::<_, Option<i64>>(20)?.map(|v| v != 0),
    })
}

impl Store {
    /// All containers, newest first.
    pub fn containers(&self) -> Result<Vec<ContainerRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM containers ORDER BY created DESC, id"
        ))?;
        let rows = stmt
            .query_map([], from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn container(&self, id: &str) -> Result<Option<ContainerRecord>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM containers WHERE id = ?"),
                [id],
                from_row,
            )
            .optional()?)
    }

    /// The containers of a pod, oldest first (the order they were added in).
    pub fn pod_containers(&self, pod_id: &str) -> Result<Vec<ContainerRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM containers WHERE pod_id = ? ORDER BY created, rowid"
        ))?;
        let rows = stmt
            .query_map([pod_id], from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn container_by_name(&self, name: &str) -> Result<Option<ContainerRecord>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM containers WHERE name = ?"),
                [name],
                from_row,
            )
            .optional()?)
    }

    pub fn container_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM containers WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id",
        )?;
        let ids = stmt
            .query_map([prefix], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// Names of containers using an image.
    pub fn containers_using_image(&self, image_id: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM containers WHERE image_id = ? ORDER BY name")?;
        let names = stmt
            .query_map([image_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(names)
    }
}

/// Write-side operations, inside [`Store::write`].
pub mod write {
    use super::*;

    pub fn insert(tx: &Transaction, c: &ContainerRecord) -> Result<()> {
        tx.execute(
            "INSERT INTO containers (id, name, image_id, image_name, spec, created, status, pod_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                c.id,
                c.name,
                c.image_id,
                c.image_name,
                c.spec,
                c.created,
                c.status.as_str(),
                c.pod_id
            ],
        )?;
        Ok(())
    }

    /// Re-read inside the transaction, so guards see the committed status.
    pub fn get(tx: &Transaction, id: &str) -> Result<Option<ContainerRecord>> {
        Ok(tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM containers WHERE id = ?"),
                [id],
                from_row,
            )
            .optional()?)
    }

    /// A monitor took charge: the container runs.
    pub fn set_running(
        tx: &Transaction,
        id: &str,
        pid: i32,
        monitor_pid: i32,
        monitor_start: u64,
        started_at: &str,
    ) -> Result<()> {
        tx.execute(
            "UPDATE containers SET status = 'running', pid = ?2, monitor_pid = ?3, monitor_start = ?4,
                 started_at = ?5, finished_at = NULL, exit_code = NULL, oom_killed = 0
             WHERE id = ?1",
            params![id, pid, monitor_pid, monitor_start as i64, started_at],
        )?;
        Ok(())
    }

    /// The container's process ended (or was found gone).
    pub fn set_exited(
        tx: &Transaction,
        id: &str,
        exit_code: i32,
        oom_killed: bool,
        finished_at: &str,
    ) -> Result<()> {
        tx.execute(
            "UPDATE containers SET status = 'exited', pid = NULL, exit_code = ?2, oom_killed = ?3,
                 finished_at = ?4
             WHERE id = ?1",
            params![id, exit_code, oom_killed as i64, finished_at],
        )?;
        Ok(())
    }

    /// A monitor was just spawned for a container that is not running: record it before it
    /// has started anything, so that other commands see it (and `rm -f` stops it) even if
    /// the command that spawned it is killed. A monitor that already recorded itself wins.
    pub fn set_starting_monitor(
        tx: &Transaction,
        id: &str,
        monitor_pid: i32,
        monitor_start: u64,
    ) -> Result<()> {
        tx.execute(
            "UPDATE containers SET monitor_pid = ?2, monitor_start = ?3
             WHERE id = ?1 AND monitor_pid IS NULL AND status IN ('created', 'exited')",
            params![id, monitor_pid, monitor_start as i64],
        )?;
        Ok(())
    }

    /// The monitor is gone (it exits after the last run, or was killed).
    pub fn clear_monitor(tx: &Transaction, id: &str) -> Result<()> {
        tx.execute(
            "UPDATE containers SET monitor_pid = NULL, monitor_start = NULL WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }

    pub fn set_status(tx: &Transaction, id: &str, status: ContainerStatus) -> Result<()> {
        tx.execute(
            "UPDATE containers SET status = ?2 WHERE id = ?1",
            params![id, status.as_str()],
        )?;
        Ok(())
    }

    pub fn set_stop_requested(tx: &Transaction, id: &str, requested: bool) -> Result<()> {
        tx.execute(
            "UPDATE containers SET stop_requested = ?2 WHERE id = ?1",
            params![id, requested as i64],
        )?;
        Ok(())
    }

    pub fn set_restart_count(tx: &Transaction, id: &str, count: u32) -> Result<()> {
        tx.execute(
            "UPDATE containers SET restart_count = ?2 WHERE id = ?1",
            params![id, count as i64],
        )?;
        Ok(())
    }

    pub fn set_health(
        tx: &Transaction,
        id: &str,
        health: Option<&str>,
        failing: u32,
        log: &str,
    ) -> Result<()> {
        tx.execute(
            "UPDATE containers SET health = ?2, health_failing = ?3, health_log = ?4 WHERE id = ?1",
            params![id, health, failing as i64, log],
        )?;
        Ok(())
    }

    /// Record a readiness result (None: the container has no readiness probe, or stopped).
    pub fn set_ready(tx: &Transaction, id: &str, ready: Option<bool>) -> Result<()> {
        tx.execute(
            "UPDATE containers SET ready = ?2 WHERE id = ?1",
            params![id, ready.map(|r| r as i64)],
        )?;
        Ok(())
    }

    pub fn rename(tx: &Transaction, id: &str, name: &str) -> Result<()> {
        tx.execute(
            "UPDATE containers SET name = ?2 WHERE id = ?1",
            params![id, name],
        )?;
        Ok(())
    }

    pub fn remove(tx: &Transaction, id: &str) -> Result<bool> {
        Ok(tx.execute("DELETE FROM containers WHERE id = ?", [id])? > 0)
    }

    pub fn name_taken(tx: &Transaction, name: &str) -> Result<bool> {
        Ok(tx
            .query_row(
                "SELECT 1 FROM containers WHERE name = ?",
                [name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}
