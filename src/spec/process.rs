//! The container's process: arguments, environment, working directory and user, from the
//! image config and the [`ContainerSpec`] with Docker's rules.
//!
//! Users and groups are looked up in the image's own `/etc/passwd` and `/etc/group`. Those
//! files come from an untrusted image and may be symlinks, so they are resolved the way the
//! container would see them: inside the rootfs, never out of it onto the host's files.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::SpecError;
use super::container::{ContainerSpec, HealthCheck};

/// The PATH a container gets when neither the image nor the user sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the image config contributes to a container (its `config` object; Docker's
/// PascalCase keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageDefaults {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub stop_signal: Option<String>,
    /// `VOLUME` paths: each gets an anonymous volume unless a mount covers it.
    pub volumes: Vec<PathBuf>,
    pub labels: BTreeMap<String, String>,
    pub healthcheck: Option<HealthCheck>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct RawImageConfig {
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    stop_signal: Option<String>,
    volumes: Option<BTreeMap<String, serde_json::Value>>,
    labels: Option<BTreeMap<String, String>>,
    healthcheck: Option<RawHealthcheck>,
}

/// Durations are nanoseconds in the image config (Go's `time.Duration`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct RawHealthcheck {
    test: Option<Vec<String>>,
    interval: Option<u64>,
    timeout: Option<u64>,
    start_period: Option<u64>,
    retries: Option<u32>,
}

impl ImageDefaults {
    /// Read the image config's `config` object; `None` (a config without one) gives empty
    /// defaults.
    pub fn from_config(config: Option<&serde_json::Value>) -> Result<Self, SpecError> {
        let Some(value) = config.filter(|v| !v.is_null()) else {
            return Ok(Self::default());
        };
        let raw: RawImageConfig = serde_json::from_value(value.clone())
            .map_err(|e| SpecError::invalid("image config", value.to_string(), e.to_string()))?;
        let healthcheck = raw.healthcheck.and_then(|h| {
            let test = h.test.filter(|t| !t.is_empty())?;
            let mut hc = HealthCheck::new(test);
            // Zero means "inherit the default" in the image format.
            let pick = |ns: Option<u64>, default: Duration| match ns {
                Some(n) if n > 0 => Duration::from_nanos(n),
                _ => default,
            };
            hc.interval = pick(h.interval, hc.interval);
            hc.timeout = pick(h.timeout, hc.timeout);
            hc.start_period = pick(h.start_period, hc.start_period);
            if let Some(r) = h.retries.filter(|r| *r > 0) {
                hc.retries = r;
            }
            Some(hc)
        });
        Ok(ImageDefaults {
            entrypoint: raw.entrypoint,
            cmd: raw.cmd,
            env: raw.env.unwrap_or_default(),
            working_dir: raw.working_dir.filter(|w| !w.is_empty()),
            user: raw.user.filter(|u| !u.is_empty()),
            stop_signal: raw.stop_signal.filter(|s| !s.is_empty()),
            volumes: raw
                .volumes
                .unwrap_or_default()
                .into_keys()
                .map(PathBuf::from)
                .collect(),
            labels: raw.labels.unwrap_or_default(),
            healthcheck,
        })
    }
}

/// The process to run, ready for the runtime spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedProcess {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Resolve everything about the process: arguments, user, environment and working
/// directory. `hostname` is the container's (see [`ContainerSpec::effective_hostname`]).
pub fn resolve_process(
    spec: &ContainerSpec,
    image: &ImageDefaults,
    rootfs: &Path,
    hostname: &str,
) -> Result<ResolvedProcess, SpecError> {
    let args = resolve_args(
        image.entrypoint.as_deref(),
        image.cmd.as_deref(),
        spec.entrypoint.as_deref(),
        spec.command.as_deref(),
    )?;
    let user = resolve_user(rootfs, spec.user.as_deref().or(image.user.as_deref()))?;
    let env = build_env(&image.env, &spec.env, spec.tty, hostname, &user.home);
    let cwd = resolve_workdir(spec.workdir.as_deref(), image.working_dir.as_deref());
    let mut additional_gids = user.additional_gids;
    for gid in &spec.group_add {
        if !additional_gids.contains(gid) {
            additional_gids.push(*gid);
        }
    }
    if spec.run_as_non_root && user.uid == 0 {
        return Err(SpecError::invalid(
            "user",
            spec.user.clone().or(image.user.clone()).unwrap_or_default(),
            "the container must not run as root (runAsNonRoot), and its user is root",
        ));
    }
    Ok(ResolvedProcess {
        args,
        env,
        cwd,
        uid: user.uid,
        gid: user.gid,
        additional_gids,
    })
}

/// Docker's rule: an entrypoint override replaces the image's entrypoint and drops the
/// image's command (only the user's command follows it); a command override replaces the
/// image's command. The process is entrypoint followed by command.
pub fn resolve_args(
    image_entrypoint: Option<&[String]>,
    image_cmd: Option<&[String]>,
    entrypoint: Option<&[String]>,
    command: Option<&[String]>,
) -> Result<Vec<String>, SpecError> {
    let (ep, cmd) = match entrypoint {
        Some(ep) => (ep, command.unwrap_or_default()),
        None => (
            image_entrypoint.unwrap_or_default(),
            command.or(image_cmd).unwrap_or_default(),
        ),
    };
    let args: Vec<String> = ep.iter().chain(cmd).cloned().collect();
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(args)
}

/// Merge the environment: oxpod's defaults, then the image's, then the user's, a later
/// value replacing an earlier one in place. `HOSTNAME` and `HOME` are added unless set.
pub fn build_env(
    image_env: &[String],
    user_env: &[String],
    tty: bool,
    hostname: &str,
    home: &str,
) -> Vec<String> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set =
        |key: &str, value: &str, replace: bool| match env.iter_mut().find(|(k, _)| k == key) {
            Some(entry) if replace => entry.1 = value.to_string(),
            Some(_) => {}
            None => env.push((key.to_string(), value.to_string())),
        };
    set("PATH", DEFAULT_PATH, true);
    if tty {
        set("TERM", "xterm", true);
    }
    // systemd and others detect containers by this variable.
    set("container", "oxpod", true);
    for entry in image_env.iter().chain(user_env) {
        match entry.split_once('=') {
            Some((k, v)) if !k.is_empty() => set(k, v, true),
            // A bare name in an image config has no value to give; skip it.
            _ => {}
        }
    }
    set("HOSTNAME", hostname, false);
    set("HOME", home, false);
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// `-w`, else the image's `WorkingDir` (relative ones are taken from `/`), else `/`.
pub fn resolve_workdir(flag: Option<&Path>, image: Option<&str>) -> PathBuf {
    match (flag, image) {
        (Some(dir), _) => super::container::normalize(dir),
        (None, Some(dir)) if !dir.is_empty() => {
            super::container::normalize(&Path::new("/").join(dir))
        }
        _ => PathBuf::from("/"),
    }
}

/// A user resolved against the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// From `/etc/passwd`; `/` when the user has no entry.
    pub home: String,
    pub name: Option<String>,
}

/// Resolve `-u` (or the image's `USER`): `name`, `uid`, `name:group`, `uid:gid`, any mix.
/// Numeric IDs need no entry (gid 0 and home `/` then). Without an explicit group the
/// supplementary groups are those listing the user in `/etc/group`, as runc does.
pub fn resolve_user(rootfs: &Path, user: Option<&str>) -> Result<ResolvedUser, SpecError> {
    let spec = user.map(str::trim).filter(|u| !u.is_empty()).unwrap_or("0");
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_rootfs_file(rootfs, "/etc/passwd")?
        .map(|t| parse_passwd(&t))
        .unwrap_or_default();
    let entry = match user_part.parse::<u32>() {
        // A numeric user needs no entry: gid 0 and home `/` then, as runc does.
        Ok(uid) => passwd
            .iter()
            .find(|e| e.uid == uid)
            .cloned()
            .unwrap_or(PasswdEntry {
                name: String::new(),
                uid,
                gid: 0,
                home: "/".into(),
            }),
        Err(_) => passwd
            .iter()
            .find(|e| e.name == user_part)
            .cloned()
            .ok_or_else(|| SpecError::UnknownUser(user_part.to_string()))?,
    };

    let needs_groups = group_part.is_some_and(|g| g.parse::<u32>().is_err())
        || (group_part.is_none() && !entry.name.is_empty());
    let groups = if needs_groups {
        read_rootfs_file(rootfs, "/etc/group")?
            .map(|t| parse_group(&t))
            .unwrap_or_default()
    } else {
        Vec::new()
    };

    let (gid, additional_gids) = match group_part {
        Some(g) => {
            let gid = match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => groups
                    .iter()
                    .find(|e| e.name == g)
                    .map(|e| e.gid)
                    .ok_or_else(|| SpecError::UnknownGroup(g.to_string()))?,
            };
            (gid, Vec::new())
        }
        None => {
            let mut extra: Vec<u32> = groups
                .iter()
                .filter(|grp| grp.gid != entry.gid && grp.members.contains(&entry.name))
                .map(|grp| grp.gid)
                .collect();
            extra.sort_unstable();
            extra.dedup();
            (entry.gid, extra)
        }
    };
    Ok(ResolvedUser {
        uid: entry.uid,
        gid,
        additional_gids,
        home: if entry.home.is_empty() {
            "/".into()
        } else {
            entry.home
        },
        name: (!entry.name.is_empty()).then_some(entry.name),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped, as libc does.
fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].trim().parse().ok()?,
                gid: f[3].trim().parse().ok()?,
                home: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// `name:password:gid:member,member`.
fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 || f[0].is_empty() {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].trim().parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Read a file of the image by its in-container path; `None` when it does not exist.
fn read_rootfs_file(rootfs: &Path, path: &str) -> Result<Option<String>, SpecError> {
    let host_path = resolve_in_rootfs(rootfs, Path::new(path))
        .map_err(|e| SpecError::io(rootfs.join(path.trim_start_matches('/')), e))?;
    // O_NOFOLLOW: the last component was resolved above; refuse one swapped in since.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&host_path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SpecError::io(host_path, e)),
    };
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| SpecError::io(&host_path, e))?;
    Ok(Some(text))
}

/// Symlinks followed before giving up, as the kernel's limit.
const MAX_SYMLINKS: u32 = 40;

/// Map an in-container path to a host path under `rootfs`, following symlinks as the
/// container would: an absolute target restarts at the rootfs, `..` stops at it. The
/// result is always inside `rootfs`. Missing components are kept as they are.
pub fn resolve_in_rootfs(rootfs: &Path, path: &Path) -> io::Result<PathBuf> {
    enum Part {
        Up,
        Name(OsString),
    }
    fn parts(p: &Path) -> Vec<Part> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(Part::Name(n.to_os_string())),
                Component::ParentDir => Some(Part::Up),
                _ => None,
            })
            .collect()
    }

    // Pending components, next one last (a stack).
    let mut pending: Vec<Part> = parts(path);
    pending.reverse();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        let name = match part {
            Part::Up => {
                resolved.pop();
                continue;
            }
            Part::Name(n) => n,
        };
        let mut candidate = rootfs.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&name);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut more = parts(&target);
                more.reverse();
                pending.extend(more);
            }
            Ok(_) => resolved.push(name),
            Err(e) if e.kind() == io::ErrorKind::NotFound => resolved.push(name),
            Err(e) => return Err(e),
        }
    }
    let mut out = rootfs.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Docker's table for ENTRYPOINT/CMD against `--entrypoint` and a command.
    #[test]
    fn entrypoint_and_cmd_override_table() {
        let ep = v(&["/ep"]);
        let cmd = v(&["cmd-arg"]);
        let user_ep = v(&["/user-ep"]);
        let user_cmd = v(&["user-arg"]);
        type Case<'a> = (
            Option<&'a [String]>,
            Option<&'a [String]>,
            Option<&'a [String]>,
            Option<&'a [String]>,
            &'a [&'a str],
        );
        let cases: &[Case] = &[
            // image ep, image cmd, --entrypoint, command => args
            (Some(&ep), Some(&cmd), None, None, &["/ep", "cmd-arg"]),
            (
                Some(&ep),
                Some(&cmd),
                None,
                Some(&user_cmd),
                &["/ep", "user-arg"],
            ),
            (Some(&ep), Some(&cmd), Some(&user_ep), None, &["/user-ep"]),
            (
                Some(&ep),
                Some(&cmd),
                Some(&user_ep),
                Some(&user_cmd),
                &["/user-ep", "user-arg"],
            ),
            (None, Some(&cmd), None, None, &["cmd-arg"]),
            (None, Some(&cmd), None, Some(&user_cmd), &["user-arg"]),
            (Some(&ep), None, None, None, &["/ep"]),
            (None, None, None, Some(&user_cmd), &["user-arg"]),
            (None, Some(&cmd), Some(&user_ep), None, &["/user-ep"]),
            // `--entrypoint ""` clears the entrypoint and the image command.
            (
                Some(&ep),
                Some(&cmd),
                Some(&[]),
                Some(&user_cmd),
                &["user-arg"],
            ),
        ];
        for (i, (iep, icmd, uep, ucmd, want)) in cases.iter().enumerate() {
            let got = resolve_args(*iep, *icmd, *uep, *ucmd).unwrap();
            assert_eq!(got, v(want), "case {i}");
        }
        for (iep, icmd, uep, ucmd) in [
            (None, None, None, None),
            (Some(&ep[..]), Some(&cmd[..]), Some(&[][..]), None),
        ] {
            let err = resolve_args(iep, icmd, uep, ucmd).unwrap_err();
            assert_eq!(err.to_string(), "no command specified");
        }
    }

    #[test]
    fn env_merge_order_and_defaults() {
        let image = v(&["PATH=/image/bin", "A=image", "B=image", "BARE"]);
        let user = v(&["B=user", "C=user", "A=user2"]);
        let env = build_env(&image, &user, true, "host1", "/root");
        assert_eq!(
            env,
            v(&[
                "PATH=/image/bin",
                "TERM=xterm",
                "container=oxpod",
                "A=user2",
                "B=user",
                "C=user",
                "HOSTNAME=host1",
                "HOME=/root",
            ])
        );

        let env = build_env(&[], &v(&["HOME=/custom", "HOSTNAME=mine"]), false, "h", "/");
        assert_eq!(
            env,
            v(&[
                &format!("PATH={DEFAULT_PATH}"),
                "container=oxpod",
                "HOME=/custom",
                "HOSTNAME=mine",
            ])
        );
        // The user may override TERM even with a terminal.
        let env = build_env(&[], &v(&["TERM=dumb"]), true, "h", "/");
        assert!(env.contains(&"TERM=dumb".to_string()));
    }

    #[test]
    fn workdir_precedence() {
        assert_eq!(
            resolve_workdir(Some(Path::new("/w")), Some("/img")),
            Path::new("/w")
        );
        assert_eq!(resolve_workdir(None, Some("/img")), Path::new("/img"));
        assert_eq!(resolve_workdir(None, Some("app")), Path::new("/app"));
        assert_eq!(resolve_workdir(None, None), Path::new("/"));
        assert_eq!(resolve_workdir(None, Some("")), Path::new("/"));
    }

    fn rootfs_with(passwd: &str, group: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), passwd).unwrap();
        std::fs::write(dir.path().join("etc/group"), group).unwrap();
        dir
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
        # a comment\n\
        broken line\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:root\nwheel:x:10:root,app\n\
        app:x:1000:\naudio:x:29:app\nstaff:x:50:\n";

    #[test]
    fn users_by_name_and_id() {
        let root = rootfs_with(PASSWD, GROUP);
        let r = root.path();

        let u = resolve_user(r, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(u.additional_gids, vec![10]);

        let u = resolve_user(r, Some("app")).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/app"));
        assert_eq!(u.additional_gids, vec![10, 29]);
        assert_eq!(u.name.as_deref(), Some("app"));

        let u = resolve_user(r, Some("1000")).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));

        // Numeric IDs need no entry.
        let u = resolve_user(r, Some("4242:4343")).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 4343, "/"));
        assert!(u.additional_gids.is_empty());
        let u = resolve_user(r, Some("4242")).unwrap();
        assert_eq!((u.uid, u.gid), (4242, 0));

        // An explicit group replaces the supplementary ones.
        let u = resolve_user(r, Some("app:staff")).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        assert!(u.additional_gids.is_empty());

        let err = resolve_user(r, Some("bob")).unwrap_err().to_string();
        assert_eq!(err, "unknown user \"bob\": not in the image's /etc/passwd");
        let err = resolve_user(r, Some("app:nogroup"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"nogroup\""), "{err}");
    }

    #[test]
    fn no_passwd_file() {
        let dir = tempfile::tempdir().unwrap();
        let u = resolve_user(dir.path(), None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/"));
        assert!(resolve_user(dir.path(), Some("1:2")).is_ok());
        assert!(matches!(
            resolve_user(dir.path(), Some("root")),
            Err(SpecError::UnknownUser(_))
        ));
    }

    /// An image whose /etc/passwd is a symlink pointing out of the rootfs must not make us
    /// read the host's file.
    #[test]
    fn symlinked_passwd_stays_inside_rootfs() {
        let outside = tempfile::tempdir().unwrap();
        let host_passwd = outside.path().join("passwd");
        std::fs::write(&host_passwd, "bob:x:7777:7777::/home/bob:/bin/sh\n").unwrap();

        // Absolute target: resolved against the rootfs, where it does not exist.
        let rootfs = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(rootfs.path().join("etc")).unwrap();
        symlink(&host_passwd, rootfs.path().join("etc/passwd")).unwrap();
        let err = resolve_user(rootfs.path(), Some("bob")).unwrap_err();
        assert!(matches!(err, SpecError::UnknownUser(_)), "{err}");

        // Relative target climbing out: `..` stops at the rootfs.
        let rootfs2 = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(rootfs2.path().join("etc")).unwrap();
        let ups = "../".repeat(64);
        let rel = format!(
            "{ups}{}",
            host_passwd.display().to_string().trim_start_matches('/')
        );
        symlink(&rel, rootfs2.path().join("etc/passwd")).unwrap();
        let err = resolve_user(rootfs2.path(), Some("bob")).unwrap_err();
        assert!(matches!(err, SpecError::UnknownUser(_)), "{err}");

        // A symlinked /etc directory is followed inside the rootfs.
        let rootfs3 = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(rootfs3.path().join("real-etc")).unwrap();
        std::fs::write(
            rootfs3.path().join("real-etc/passwd"),
            "bob:x:5:6::/b:/bin/sh\n",
        )
        .unwrap();
        symlink("/real-etc", rootfs3.path().join("etc")).unwrap();
        let u = resolve_user(rootfs3.path(), Some("bob")).unwrap();
        assert_eq!((u.uid, u.gid), (5, 6));
    }

    #[test]
    fn symlink_loops_are_an_error() {
        let rootfs = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(rootfs.path().join("etc")).unwrap();
        symlink("/etc/passwd", rootfs.path().join("etc/passwd")).unwrap();
        let err = resolve_user(rootfs.path(), Some("x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("symbolic links"), "{err}");
    }

    #[test]
    fn resolve_in_rootfs_never_leaves() {
        let rootfs = tempfile::tempdir().unwrap();
        let r = rootfs.path();
        std::fs::create_dir_all(r.join("a/b")).unwrap();
        symlink("../../../../..", r.join("a/b/up")).unwrap();
        assert_eq!(
            resolve_in_rootfs(r, Path::new("/a/b/up/etc")).unwrap(),
            r.join("etc")
        );
        assert_eq!(
            resolve_in_rootfs(r, Path::new("/../../x")).unwrap(),
            r.join("x")
        );
    }

    #[test]
    fn image_defaults_from_config() {
        let config = serde_json::json!({
            "Entrypoint": ["/docker-entrypoint.sh"],
            "Cmd": null,
            "Env": ["PATH=/bin", "X=1"],
            "WorkingDir": "/srv",
            "User": "app",
            "StopSignal": "SIGQUIT",
            "Volumes": {"/data": {}},
            "Labels": {"a": "b"},
            "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000u64, "Retries": 0}
        });
        let d = ImageDefaults::from_config(Some(&config)).unwrap();
        assert_eq!(d.entrypoint, Some(v(&["/docker-entrypoint.sh"])));
        assert_eq!(d.cmd, None);
        assert_eq!(d.working_dir.as_deref(), Some("/srv"));
        assert_eq!(d.volumes, vec![PathBuf::from("/data")]);
        let hc = d.healthcheck.unwrap();
        assert_eq!(hc.interval, Duration::from_secs(5));
        assert_eq!(hc.retries, 3);
        assert_eq!(
            ImageDefaults::from_config(None).unwrap(),
            ImageDefaults::default()
        );
    }

    #[test]
    fn whole_process() {
        let root = rootfs_with(PASSWD, GROUP);
        let image = ImageDefaults {
            cmd: Some(v(&["sh"])),
            env: v(&["A=1"]),
            user: Some("app".into()),
            working_dir: Some("/srv".into()),
            ..Default::default()
        };
        let mut spec = ContainerSpec::new("c", "img");
        spec.env = v(&["B=2"]);
        let p = resolve_process(&spec, &image, root.path(), "h").unwrap();
        assert_eq!(p.args, v(&["sh"]));
        assert_eq!((p.uid, p.gid), (1000, 1000));
        assert_eq!(p.cwd, Path::new("/srv"));
        assert!(p.env.contains(&"HOME=/home/app".to_string()));
        assert!(p.env.contains(&"B=2".to_string()));

        spec.user = Some("bob".into());
        assert!(matches!(
            resolve_process(&spec, &image, root.path(), "h"),
            Err(SpecError::UnknownUser(_))
        ));
    }
}
