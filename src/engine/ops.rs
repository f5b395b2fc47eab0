//! Verbs on an existing container that neither create nor end it: `exec`, `top`,
//! `pause`/`unpause`, `rename`, `cp`, `stats` and `port`. Each reads the same way as the
//! lifecycle verbs: find the container, check its status guard, act, save what changed.

mod copy;
mod exec;
mod stats;
mod tenant;

pub(crate) use exec::check_program;
mod top;

pub use copy::*;
pub use exec::*;
pub use stats::*;
pub use top::*;

use super::{Engine, EngineError, Result};
use crate::runtime::cgroups::{self, CgroupLayout};
use crate::state::containers::write;
use crate::state::{ContainerRecord, ContainerStatus};

fn cgroup_layout(record: &ContainerRecord) -> Result<CgroupLayout> {
    CgroupLayout::detect().map_err(|e| {
        EngineError::Invalid(format!(
            "container {}: cannot read the cgroup layout: {e}",
            record.name
        ))
    })
}

impl Engine {
    /// Freeze every process of a running container (`pause`). Returns its ID.
    pub fn pause_container(&mut self, name_or_id: &str) -> Result<String> {
        let record = self.find_container(name_or_id)?;
        if !record.status.can_pause() {
            return Err(EngineError::Conflict(format!(
                "cannot pause container {}: it is {}; only running containers can be paused",
                record.name,
                record.status.as_str()
            )));
        }
        let layout = cgroup_layout(&record)?;
        let cgroup = Self::cgroup_path(&record.id);
        cgroups::freeze(&layout, &cgroup)
            .map_err(|e| EngineError::Invalid(format!("pausing container {}: {e}", record.name)))?;
        // The container may have exited (or been paused by another command) while we froze it:
        // save the new status only over the one we checked.
        let saved = self.store.write(|tx| -> Result<bool> {
            match write::get(tx, &record.id)? {
                Some(c) if c.status == ContainerStatus::Running => {
                    write::set_status(tx, &record.id, ContainerStatus::Paused)?;
                    Ok(true)
                }
                Some(c) if c.status == ContainerStatus::Paused => Ok(true),
                _ => Ok(false),
            }
        })?;
        if !saved {
            let _ = cgroups::thaw(&layout, &cgroup);
            return Err(EngineError::Conflict(format!(
                "cannot pause container {}: it stopped meanwhile",
                record.name
            )));
        }
        Ok(record.id)
    }

    /// Thaw a paused container (`unpause`). Returns its ID.
    pub fn unpause_container(&mut self, name_or_id: &str) -> Result<String> {
        let record = self.find_container(name_or_id)?;
        if !record.status.can_unpause() {
            return Err(EngineError::Conflict(format!(
                "cannot unpause container {}: it is {}, not paused",
                record.name,
                record.status.as_str()
            )));
        }
        let layout = cgroup_layout(&record)?;
        cgroups::thaw(&layout, &Self::cgroup_path(&record.id)).map_err(|e| {
            EngineError::Invalid(format!("unpausing container {}: {e}", record.name))
        })?;
        self.store.write(|tx| -> Result<()> {
            if let Some(c) = write::get(tx, &record.id)?
                && c.status == ContainerStatus::Paused
            {
                write::set_status(tx, &record.id, ContainerStatus::Running)?;
            }
            Ok(())
        })?;
        Ok(record.id)
    }

    /// Give a container a new name. The syntax and uniqueness of the name are checked in the
    /// same transaction that saves it, so two renames cannot both take one name.
    pub fn rename_container(&mut self, name_or_id: &str, new_name: &str) -> Result<String> {
        let record = self.find_container(name_or_id)?;
        if !crate::engine::containers::valid_name(new_name) {
            return Err(EngineError::Invalid(format!(
                "invalid container name {new_name:?}: use letters, digits, '_', '.' and '-', \
                 starting with a letter or digit"
            )));
        }
        self.store.write(|tx| -> Result<()> {
            let current = write::get(tx, &record.id)?.ok_or_else(|| {
                EngineError::ContainerNotFound(format!(
                    "no container with name or ID {name_or_id:?} found"
                ))
            })?;
            if current.name == new_name {
                return Ok(());
            }
            if write::name_taken(tx, new_name)? {
                return Err(EngineError::Conflict(format!(
                    "the container name {new_name:?} is already in use; remove that container \
                     or choose another name"
                )));
            }
            write::rename(tx, &record.id, new_name)?;
            Ok(())
        })?;
        Ok(record.id)
    }

    /// Published ports of a container (its pod's, for a pod member).
    pub fn published_ports(
        &mut self,
        name_or_id: &str,
    ) -> Result<Vec<crate::network::ports::PortMapping>> {
        let record = self.find_container(name_or_id)?;
        if let Some(pod) = &record.pod_id
            && let Some(pod) = self.store.pod(pod)?
        {
            return Ok(Self::pod_spec_of(&pod)?.publish);
        }
        Ok(Self::spec_of(&record)?.publish)
    }

    /// Published ports of a container as `(container port/protocol, host address:port)`,
    /// one per port; with `port`, only that one (an error when it is not published).
    pub fn container_ports(
        &mut self,
        name_or_id: &str,
        port: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        let record = self.find_container(name_or_id)?;
        let published: Vec<(String, String)> = self
            .published_ports(&record.id)?
            .iter()
            .flat_map(|m| m.expand())
            .map(|m| {
                (
                    format!("{}/{}", m.container_port, m.protocol.as_str()),
                    std::net::SocketAddr::new(m.bind_ip(), m.host_port).to_string(),
                )
            })
            .collect();
        if let Some(port) = port {
            let wanted = if port.contains('/') {
                port.to_string()
            } else {
                format!("{port}/tcp")
            };
            let found: Vec<_> = published
                .into_iter()
                .filter(|(p, _)| *p == wanted)
                .collect();
            if found.is_empty() {
                return Err(EngineError::Invalid(format!(
                    "container {} has no published port {wanted:?}",
                    record.name
                )));
            }
            return Ok(found);
        }
        Ok(published)
    }
}
