//! `top`: a container's processes with ps-like columns, read from `/proc`. As in Podman, PIDs
//! and user names are those the container sees: PIDs from its PID namespace (`NSpid`), names
//! from its own `/etc/passwd` and `/etc/group`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::cgroup_layout;
use crate::engine::{Engine, EngineError, Result};
use crate::runtime::cgroups;

/// A `top` column, named by Podman's format descriptors (AIX `ps` names and `%` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopDescriptor {
    /// Effective user name (container's).
    User,
    /// Real user name.
    Ruser,
    /// Effective group name.
    Group,
    /// Real group name.
    Rgroup,
    /// Effective user name on the host.
    Huser,
    /// Effective group name on the host.
    Hgroup,
    /// PID in the container.
    Pid,
    /// PID on the host.
    Hpid,
    /// Parent's PID in the container (0 when the parent is outside it).
    Ppid,
    /// Process group in the container.
    Pgid,
    /// CPU time over elapsed time, in percent.
    Pcpu,
    /// Time since the process started.
    Etime,
    /// Controlling terminal.
    Tty,
    /// CPU time used.
    Time,
    /// Command with its arguments.
    Args,
    /// Command name.
    Comm,
    /// Nice value.
    Nice,
    /// Process state (`R`, `S`, `D` (a frozen process shows this), `Z`, ...).
    State,
    /// Virtual memory size in KiB.
    Vsz,
    /// Resident set size in KiB.
    Rss,
    /// Seccomp mode: disabled, strict or filter.
    Seccomp,
}

/// (descriptor, `%` code, column header).
const DESCRIPTORS: &[(&str, &str, TopDescriptor, &str)] = &[
    ("user", "%U", TopDescriptor::User, "USER"),
    ("ruser", "%u", TopDescriptor::Ruser, "RUSER"),
    ("group", "%G", TopDescriptor::Group, "GROUP"),
    ("rgroup", "%g", TopDescriptor::Rgroup, "RGROUP"),
    ("huser", "", TopDescriptor::Huser, "HUSER"),
    ("hgroup", "", TopDescriptor::Hgroup, "HGROUP"),
    ("pid", "%p", TopDescriptor::Pid, "PID"),
    ("hpid", "", TopDescriptor::Hpid, "HPID"),
    ("ppid", "%P", TopDescriptor::Ppid, "PPID"),
    ("pgid", "%r", TopDescriptor::Pgid, "PGID"),
    ("pcpu", "%C", TopDescriptor::Pcpu, "%CPU"),
    ("etime", "%t", TopDescriptor::Etime, "ELAPSED"),
    ("tty", "%y", TopDescriptor::Tty, "TTY"),
    ("time", "%x", TopDescriptor::Time, "TIME"),
    ("args", "%a", TopDescriptor::Args, "COMMAND"),
    ("comm", "%c", TopDescriptor::Comm, "COMMAND"),
    ("nice", "%n", TopDescriptor::Nice, "NI"),
    ("state", "", TopDescriptor::State, "STATE"),
    ("vsz", "%z", TopDescriptor::Vsz, "VSZ"),
    ("rss", "", TopDescriptor::Rss, "RSS"),
    ("seccomp", "", TopDescriptor::Seccomp, "SECCOMP"),
];

/// Podman's default columns: USER PID PPID %CPU ELAPSED TTY TIME COMMAND.
pub const DEFAULT_TOP_DESCRIPTORS: [TopDescriptor; 8] = [
    TopDescriptor::User,
    TopDescriptor::Pid,
    TopDescriptor::Ppid,
    TopDescriptor::Pcpu,
    TopDescriptor::Etime,
    TopDescriptor::Tty,
    TopDescriptor::Time,
    TopDescriptor::Args,
];

impl TopDescriptor {
    pub fn parse(word: &str) -> Option<TopDescriptor> {
        DESCRIPTORS
            .iter()
            .find(|(name, code, _, _)| *name == word || (!code.is_empty() && *code == word))
            .map(|(_, _, d, _)| *d)
    }

    pub fn header(self) -> &'static str {
        DESCRIPTORS
            .iter()
            .find(|(_, _, d, _)| *d == self)
            .map(|(_, _, _, h)| *h)
            .expect("every descriptor has a header")
    }

    /// The names `top` accepts, for help and errors.
    pub fn names() -> Vec<&'static str> {
        DESCRIPTORS.iter().map(|(n, _, _, _)| *n).collect()
    }
}

/// Read `top`'s arguments as descriptors, given separately or comma-separated. `None` when
/// one is not a descriptor: Podman then runs `ps` with those arguments in the container.
pub fn parse_top_descriptors(args: &[String]) -> Option<Vec<TopDescriptor>> {
    if args.is_empty() {
        return Some(DEFAULT_TOP_DESCRIPTORS.to_vec());
    }
    args.iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(TopDescriptor::parse)
        .collect()
}

/// `top`'s table: one row of cells per process, ordered by PID.
#[derive(Debug, Clone, Default)]
pub struct TopReport {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// What `/proc/<pid>/{stat,status,cmdline}` say about one process.
#[derive(Debug, Clone, Default)]
struct ProcInfo {
    host_pid: i32,
    ns_pid: i32,
    host_ppid: i32,
    ns_pgid: i32,
    state: char,
    tty_nr: u64,
    utime: u64,
    stime: u64,
    nice: i64,
    start_ticks: u64,
    vsize: u64,
    rss_pages: u64,
    uids: [u32; 2],
    gids: [u32; 2],
    comm: String,
    args: String,
    seccomp: u8,
}

fn read_proc(pid: i32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    parse_proc(pid, &stat, &status, &cmdline)
}

fn parse_proc(pid: i32, stat: &str, status: &str, cmdline: &[u8]) -> Option<ProcInfo> {
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let f: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    let field = |name: &str| -> Vec<&str> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default()
    };
    let ids = |name: &str| -> [u32; 2] {
        let v = field(name);
        let get = |i: usize| v.get(i).and_then(|x| x.parse().ok()).unwrap_or(0);
        [get(0), get(1)]
    };
    let last = |name: &str| -> Option<i32> { field(name).last()?.parse().ok() };
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(ProcInfo {
        host_pid: pid,
        ns_pid: last("NSpid").unwrap_or(pid),
        host_ppid: num(1)? as i32,
        ns_pgid: last("NSpgid").unwrap_or(num(2)? as i32),
        state: f.first()?.chars().next()?,
        tty_nr: num(4)?,
        utime: num(11)?,
        stime: num(12)?,
        nice: f.get(16).and_then(|v| v.parse().ok()).unwrap_or(0),
        start_ticks: num(19)?,
        vsize: num(20).unwrap_or(0),
        rss_pages: num(21).unwrap_or(0),
        uids: ids("Uid"),
        gids: ids("Gid"),
        args: if args.is_empty() {
            format!("[{comm}]")
        } else {
            args.join(" ")
        },
        comm,
        seccomp: field("Seccomp")
            .first()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    })
}

/// A duration as Go prints one (`20.386825206s`, `1m2.5s`, `10ms`, `0s`), which is how
/// Podman's `top` shows times.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let frac = |value: u128, unit: u128| -> String {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = unit.ilog10() as usize;
        let rest = format!("{rest:0digits$}");
        format!("{whole}.{}", rest.trim_end_matches('0'))
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns, 1_000_000));
    }
    let hours = ns / 3_600_000_000_000;
    let minutes = ns / 60_000_000_000 % 60;
    let seconds = frac(ns % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `pts/3`, `tty1`, or `?` for no terminal, from `/proc/<pid>/stat`'s `tty_nr`.
fn tty_name(tty_nr: u64) -> String {
    if tty_nr == 0 {
        return "?".into();
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => format!("pts/{}", minor + (major - 136) * 256),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        5 if minor == 1 => "console".into(),
        _ => "?".into(),
    }
}

/// `name:x:id:...` lines of a passwd or group file, by ID.
fn names_by_id(text: Option<String>) -> HashMap<u32, String> {
    text.unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut f = line.split(':');
            let name = f.next().filter(|n| !n.is_empty() && !n.starts_with('#'))?;
            let id = f.nth(1)?.trim().parse().ok()?;
            Some((id, name.to_string()))
        })
        .collect()
}

impl Engine {
    /// The processes of a running (or paused) container, with the given columns.
    pub fn top_container(
        &mut self,
        name_or_id: &str,
        columns: &[TopDescriptor],
    ) -> Result<TopReport> {
        let record = self.find_container(name_or_id)?;
        if !record.status.is_active() {
            return Err(EngineError::Conflict(format!(
                "top can only be used on running containers: {} is {}",
                record.name,
                record.status.as_str()
            )));
        }
        let layout = cgroup_layout(&record)?;
        let procs: Vec<ProcInfo> = cgroups::pids(&layout, &Self::cgroup_path(&record.id))
            .into_iter()
            .filter_map(read_proc)
            .collect();
        let ns_pid_of: HashMap<i32, i32> = procs.iter().map(|p| (p.host_pid, p.ns_pid)).collect();

        let wants = |d: &[TopDescriptor]| columns.iter().any(|c| d.contains(c));
        use TopDescriptor as D;
        let (users, groups) = if wants(&[D::User, D::Ruser, D::Group, D::Rgroup]) {
            let (view, mounted) = self.container_view(&record.id)?;
            let users = names_by_id(view.read_file(Path::new("/etc/passwd")));
            let groups = names_by_id(view.read_file(Path::new("/etc/group")));
            drop(view);
            self.release_rootfs(mounted);
            (users, groups)
        } else {
            Default::default()
        };
        let name = |table: &HashMap<u32, String>, id: u32| {
            table.get(&id).cloned().unwrap_or_else(|| id.to_string())
        };
        let host_user = |uid: u32| {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
                .map_or_else(|| uid.to_string(), |u| u.name)
        };
        let host_group = |gid: u32| {
            nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
                .ok()
                .flatten()
                .map_or_else(|| gid.to_string(), |g| g.name)
        };
        let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|t| *t > 0)
            .unwrap_or(100) as f64;
        let page_kib = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096) as u64
            / 1024;
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);

        let mut procs = procs;
        procs.sort_by_key(|p| (p.ns_pid, p.host_pid));
        let rows = procs
            .iter()
            .map(|p| {
                let cpu_secs = (p.utime + p.stime) as f64 / ticks;
                let elapsed = (uptime - p.start_ticks as f64 / ticks).max(0.0);
                columns
                    .iter()
                    .map(|c| match c {
                        D::User => name(&users, p.uids[1]),
                        D::Ruser => name(&users, p.uids[0]),
                        D::Group => name(&groups, p.gids[1]),
                        D::Rgroup => name(&groups, p.gids[0]),
                        D::Huser => host_user(p.uids[1]),
                        D::Hgroup => host_group(p.gids[1]),
                        D::Pid => p.ns_pid.to_string(),
                        D::Hpid => p.host_pid.to_string(),
                        D::Ppid => ns_pid_of
                            .get(&p.host_ppid)
                            .copied()
                            .unwrap_or(0)
                            .to_string(),
                        D::Pgid => p.ns_pgid.to_string(),
                        D::Pcpu => format!(
                            "{:.3}",
                            if elapsed > 0.0 {
                                cpu_secs / elapsed * 100.0
                            } else {
                                0.0
                            }
                        ),
                        D::Etime => go_duration(Duration::from_secs_f64(elapsed)),
                        D::Tty => tty_name(p.tty_nr),
                        D::Time => go_duration(Duration::from_secs_f64(cpu_secs)),
                        D::Args => p.args.clone(),
                        D::Comm => p.comm.clone(),
                        D::Nice => p.nice.to_string(),
                        D::State => p.state.to_string(),
                        D::Vsz => (p.vsize / 1024).to_string(),
                        D::Rss => (p.rss_pages * page_kib).to_string(),
                        D::Seccomp => match p.seccomp {
                            0 => "disabled",
                            1 => "strict",
                            _ => "filter",
                        }
                        .to_string(),
                    })
                    .collect()
            })
            .collect();
        Ok(TopReport {
            headers: columns.iter().map(|c| c.header()).collect(),
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_millis(10)), "10ms");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(
            go_duration(Duration::from_nanos(20_386_825_206)),
            "20.386825206s"
        );
        assert_eq!(go_duration(Duration::from_secs(62)), "1m2s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(61_500)), "1m1.5s");
    }

    #[test]
    fn descriptors_parse_separately_or_with_commas() {
        use TopDescriptor as D;
        assert_eq!(
            parse_top_descriptors(&["pid,user".into(), "args".into()]).unwrap(),
            [D::Pid, D::User, D::Args]
        );
        assert_eq!(
            parse_top_descriptors(&["%p".into(), "%C".into()]).unwrap(),
            [D::Pid, D::Pcpu]
        );
        assert_eq!(parse_top_descriptors(&[]).unwrap(), DEFAULT_TOP_DESCRIPTORS);
        assert!(parse_top_descriptors(&["aux".into()]).is_none());
    }

    #[test]
    fn proc_files_parse_with_odd_command_names() {
        let stat = "4242 (we (ird) name) S 4200 4242 4242 34816 4242 4194560 1 0 0 0 7 3 0 0 \
                    20 0 1 0 12345 4321792 256 18446744073709551615";
        let status = "Name:\tsleep\nUid:\t1000\t1001\t1001\t1001\nGid:\t50\t51\t51\t51\n\
                      NSpid:\t4242\t7\nNSpgid:\t4242\t7\nSeccomp:\t2\n";
        let p = parse_proc(4242, stat, status, b"sleep\x00100\x00").unwrap();
        assert_eq!(p.comm, "we (ird) name");
        assert_eq!(p.ns_pid, 7);
        assert_eq!(p.ns_pgid, 7);
        assert_eq!(p.host_ppid, 4200);
        assert_eq!(p.state, 'S');
        assert_eq!((p.utime, p.stime), (7, 3));
        assert_eq!(p.start_ticks, 12345);
        assert_eq!(p.uids, [1000, 1001]);
        assert_eq!(p.gids, [50, 51]);
        assert_eq!(p.args, "sleep 100");
        assert_eq!(p.seccomp, 2);
        assert_eq!(tty_name(34816), "pts/0");
        assert_eq!(tty_name(0), "?");
        let p = parse_proc(
            2,
            "2 (kthreadd) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0",
            "",
            b"",
        )
        .unwrap();
        assert_eq!(p.args, "[kthreadd]");
    }

    #[test]
    fn passwd_files_give_names_by_id() {
        let names = names_by_id(Some(
            "root:x:0:0::/root:/bin/sh\n#c:x:5:5\nbad\napp:x:1000:1000\n".into(),
        ));
        assert_eq!(names.get(&0).unwrap(), "root");
        assert_eq!(names.get(&1000).unwrap(), "app");
        assert_eq!(names.len(), 2);
    }
}
