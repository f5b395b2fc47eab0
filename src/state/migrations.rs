//! Schema migrations, keyed by SQLite's `user_version`. Append only: a released migration is
//! never edited, so every database reaches the same schema by the same steps.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{Result, StateError};

const MIGRATIONS: &[&str] = &[
    // 1: images, their names (tags) and the layers they are made of.
    r#"
    CREATE TABLE images (
        id          TEXT PRIMARY KEY,      -- config digest, hex
        digest      TEXT NOT NULL,         -- manifest digest, "sha256:..."
        media_type  TEXT NOT NULL,         -- manifest media type
        manifest    BLOB NOT NULL,         -- manifest bytes as pulled (their digest is `digest`)
        config      BLOB NOT NULL,         -- image config JSON
        created     TEXT,                  -- from the config, RFC 3339
        size        INTEGER NOT NULL,      -- uncompressed size of all layers
        added       TEXT NOT NULL          -- when this store got it, RFC 3339
    );
    CREATE TABLE image_layers (
        image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        diff_id     TEXT NOT NULL,         -- "sha256:..." of the uncompressed tar
        digest      TEXT NOT NULL,         -- "sha256:..." of the blob as stored
        media_type  TEXT NOT NULL,
        size        INTEGER NOT NULL,      -- blob size
        diff_size   INTEGER NOT NULL,      -- uncompressed size
        PRIMARY KEY (image_id, position)
    );
    CREATE INDEX image_layers_diff ON image_layers(diff_id);
    CREATE TABLE image_names (
        name        TEXT PRIMARY KEY,      -- "registry/repository:tag"
        image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position    INTEGER NOT NULL       -- order names were given, for stable output
    );
    CREATE INDEX image_names_image ON image_names(image_id);
    CREATE TABLE image_digests (
        repository  TEXT NOT NULL,         -- "registry/repository"
        digest      TEXT NOT NULL,         -- manifest digest in that repository
        image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        PRIMARY KEY (repository, digest)
    );
    CREATE INDEX image_digests_image ON image_digests(image_id);
    "#,
    // 2: containers and volumes.
    r#"
    CREATE TABLE containers (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        image_id     TEXT NOT NULL REFERENCES images(id),
        image_name   TEXT NOT NULL,        -- as the user gave it
        spec         TEXT NOT NULL,        -- ContainerSpec JSON
        created      TEXT NOT NULL,
        status       TEXT NOT NULL,        -- created | running | paused | exited
        pid          INTEGER,              -- container init, while running
        monitor_pid  INTEGER,
        monitor_start INTEGER,             -- monitor's start time (clock ticks), against pid reuse
        started_at   TEXT,
        finished_at  TEXT,
        exit_code    INTEGER,
        oom_killed   INTEGER NOT NULL DEFAULT 0,
        restart_count INTEGER NOT NULL DEFAULT 0,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        health       TEXT,                 -- starting | healthy | unhealthy, with a health check
        health_failing INTEGER NOT NULL DEFAULT 0,
        health_log   TEXT                  -- JSON array of the last results
    );
    CREATE INDEX containers_image ON containers(image_id);
    CREATE TABLE volumes (
        name        TEXT PRIMARY KEY,
        created     TEXT NOT NULL,
        labels      TEXT NOT NULL DEFAULT '{}',
        options     TEXT NOT NULL DEFAULT '{}',
        anonymous   INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE container_volumes (
        container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
        volume       TEXT NOT NULL REFERENCES volumes(name),
        PRIMARY KEY (container_id, volume)
    );
    CREATE INDEX container_volumes_volume ON container_volumes(volume);
    "#,
    // 3: networks, pods, and the network side of each (a sandbox).
    r#"
    CREATE TABLE networks (
        name        TEXT PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        bridge      TEXT NOT NULL UNIQUE,
        subnet      TEXT NOT NULL,
        gateway     TEXT NOT NULL,
        internal    INTEGER NOT NULL DEFAULT 0,
        labels      TEXT NOT NULL DEFAULT '{}',
        created     TEXT NOT NULL
    );
    CREATE TABLE pods (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        spec        TEXT NOT NULL,        -- PodSpec JSON
        created     TEXT NOT NULL
    );
    -- What holds a pod's (or a lone container's) namespaces open and connects them: the
    -- address lease, the host end of its veth, its port proxy and its PID-namespace infra.
    CREATE TABLE sandboxes (
        owner       TEXT PRIMARY KEY,     -- pod id or container id
        network     TEXT REFERENCES networks(name),
        ip          TEXT,
        veth        TEXT,
        proxy_pid   INTEGER,
        proxy_start INTEGER,
        infra_pid   INTEGER,
        infra_start INTEGER,
        UNIQUE (network, ip)
    );
    ALTER TABLE containers ADD COLUMN pod_id TEXT REFERENCES pods(id);
    CREATE INDEX containers_pod ON containers(pod_id);
    "#,
    // 4: Kubernetes objects that live beside pods (ConfigMaps, Secrets), and Services.
    r#"
    CREATE TABLE kube_objects (
        namespace   TEXT NOT NULL,
        kind        TEXT NOT NULL,
        name        TEXT NOT NULL,
        data        TEXT NOT NULL,        -- the object's JSON; a Secret's lives in a 0600 file
        created     TEXT NOT NULL,
        PRIMARY KEY (namespace, kind, name)
    );
    -- A Service's virtual IP is a sandbox row (owner = service id) on its network, so the
    -- IPAM hands it out like a pod address; this row holds the rest.
    CREATE TABLE services (
        id          TEXT PRIMARY KEY,
        namespace   TEXT NOT NULL,
        name        TEXT NOT NULL,
        spec        TEXT NOT NULL,        -- ServiceSpec JSON: ports and selector
        created     TEXT NOT NULL,
        UNIQUE (namespace, name)
    );
    "#,
    // 5: readiness of containers with a readiness probe (NULL: no probe; 0/1 otherwise).
    r#"
    ALTER TABLE containers ADD COLUMN ready INTEGER;
    "#,
];

pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current == known {
        return Ok(());
    }
    if current > known {
        return Err(StateError::TooNew {
            path: path.to_path_buf(),
            found: current,
            known,
        });
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated while we waited for the lock.
    let current: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}
