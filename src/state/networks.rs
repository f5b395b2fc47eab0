//! Network rows, and sandboxes: the network side of a pod or a lone container (its address
//! lease on a network, the host end of its veth, its port proxy and PID-namespace infra).
//! Leases are the IPAM: `UNIQUE (network, ip)` makes two concurrent commands unable to hand
//! out one address twice.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{Result, Store};

#[derive(Debug, Clone)]
pub struct NetworkRecord {
    pub name: String,
    pub id: String,
    pub bridge: String,
    pub subnet: String,
    pub gateway: String,
    pub internal: bool,
    pub labels: String,
    pub created: String,
}

const NETWORK_COLUMNS: &str = "name, id, bridge, subnet, gateway, internal, labels, created";

fn network_from_row(r: &Row) -> rusqlite::Result<NetworkRecord> {
    Ok(NetworkRecord {
        name: r.get(0)?,
        id: r.get(1)?,
        bridge: r.get(2)?,
        subnet: r.get(3)?,
        gateway: r.get(4)?,
        internal: r.get::<_, i64>(5)? != 0,
        labels: r.get(6)?,
        created: r.get(7)?,
    })
}

#[derive(Debug, Clone, Default)]
pub struct SandboxRecord {
    /// The pod id or container id it belongs to.
    pub owner: String,
    pub network: Option<String>,
    pub ip: Option<String>,
    pub veth: Option<String>,
    pub proxy_pid: Option<i32>,
    pub proxy_start: Option<u64>,
    pub infra_pid: Option<i32>,
    pub infra_start: Option<u64>,
}

const SANDBOX_COLUMNS: &str =
    "owner, network, ip, veth, proxy_pid, proxy_start, infra_pid, infra_start";

fn sandbox_from_row(r: &Row) -> rusqlite::Result<SandboxRecord> {
    Ok(SandboxRecord {
        owner: r.get(0)?,
        network: r.get(1)?,
        ip: r.get(2)?,
        veth: r.get(3)?,
        proxy_pid: r.get(4)?,
        proxy_start: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
        infra_pid: r.get(6)?,
        infra_start: r.get::<_, Option<i64>>(7)?.map(|v| v as u64),
    })
}

impl Store {
    pub fn networks(&self) -> Result<Vec<NetworkRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {NETWORK_COLUMNS} FROM networks ORDER BY name"
        ))?;
        let rows = stmt
            .query_map([], network_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn network(&self, name: &str) -> Result<Option<NetworkRecord>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {NETWORK_COLUMNS} FROM networks WHERE name = ? OR id = ?1"),
                [name],
                network_from_row,
            )
            .optional()?)
    }

    pub fn sandbox(&self, owner: &str) -> Result<Option<SandboxRecord>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {SANDBOX_COLUMNS} FROM sandboxes WHERE owner = ?"),
                [owner],
                sandbox_from_row,
            )
            .optional()?)
    }

    /// The sandboxes holding a lease on a network.
    pub fn network_members(&self, network: &str) -> Result<Vec<SandboxRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SANDBOX_COLUMNS} FROM sandboxes WHERE network = ? ORDER BY ip"
        ))?;
        let rows = stmt
            .query_map([network], sandbox_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn sandboxes(&self) -> Result<Vec<SandboxRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {SANDBOX_COLUMNS} FROM sandboxes"))?;
        let rows = stmt
            .query_map([], sandbox_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

pub mod write {
    use super::*;

    /// Insert a network; false when the name is taken.
    pub fn insert_network(tx: &Transaction, n: &NetworkRecord) -> Result<bool> {
        Ok(tx.execute(
            "INSERT INTO networks (name, id, bridge, subnet, gateway, internal, labels, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
            params![
                n.name,
                n.id,
                n.bridge,
                n.subnet,
                n.gateway,
                n.internal as i64,
                n.labels,
                n.created
            ],
        )? > 0)
    }

    pub fn networks(tx: &Transaction) -> Result<Vec<NetworkRecord>> {
        let mut stmt = tx.prepare_cached(&format!("SELECT {NETWORK_COLUMNS} FROM networks"))?;
        let rows = stmt
            .query_map([], network_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn remove_network(tx: &Transaction, name: &str) -> Result<bool> {
        Ok(tx.execute("DELETE FROM networks WHERE name = ?", [name])? > 0)
    }

    /// How many sandboxes hold a lease on the network.
    pub fn member_count(tx: &Transaction, network: &str) -> Result<u64> {
        Ok(tx.query_row(
            "SELECT COUNT(*) FROM sandboxes WHERE network = ?",
            [network],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Addresses leased on a network.
    pub fn leased(tx: &Transaction, network: &str) -> Result<Vec<String>> {
        let mut stmt =
            tx.prepare_cached("SELECT ip FROM sandboxes WHERE network = ? AND ip IS NOT NULL")?;
        let rows = stmt
            .query_map([network], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn get_sandbox(tx: &Transaction, owner: &str) -> Result<Option<SandboxRecord>> {
        Ok(tx
            .query_row(
                &format!("SELECT {SANDBOX_COLUMNS} FROM sandboxes WHERE owner = ?"),
                [owner],
                sandbox_from_row,
            )
            .optional()?)
    }

    /// Record a sandbox (and its lease); replaces an earlier row of the same owner.
    pub fn put_sandbox(tx: &Transaction, s: &SandboxRecord) -> Result<()> {
        tx.execute(
            "INSERT OR REPLACE INTO sandboxes
             (owner, network, ip, veth, proxy_pid, proxy_start, infra_pid, infra_start)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                s.owner,
                s.network,
                s.ip,
                s.veth,
                s.proxy_pid,
                s.proxy_start.map(|v| v as i64),
                s.infra_pid,
                s.infra_start.map(|v| v as i64)
            ],
        )?;
        Ok(())
    }

    pub fn set_proxy(tx: &Transaction, owner: &str, proxy: Option<(i32, u64)>) -> Result<()> {
        tx.execute(
            "UPDATE sandboxes SET proxy_pid = ?2, proxy_start = ?3 WHERE owner = ?1",
            params![owner, proxy.map(|p| p.0), proxy.map(|p| p.1 as i64)],
        )?;
        Ok(())
    }

    pub fn set_infra(tx: &Transaction, owner: &str, infra: Option<(i32, u64)>) -> Result<()> {
        tx.execute(
            "UPDATE sandboxes SET infra_pid = ?2, infra_start = ?3 WHERE owner = ?1",
            params![owner, infra.map(|p| p.0), infra.map(|p| p.1 as i64)],
        )?;
        Ok(())
    }

    pub fn remove_sandbox(tx: &Transaction, owner: &str) -> Result<bool> {
        Ok(tx.execute("DELETE FROM sandboxes WHERE owner = ?", [owner])? > 0)
    }
}
