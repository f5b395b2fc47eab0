//! Seccomp: oxpod's default profile (an allow-list in the spirit of Podman's and Docker's)
//! and the conversion of profiles in the Docker/OCI JSON format to the runtime spec.
//!
//! Unknown system calls fail with `ENOSYS`, so a libc that tries a newer call (`clone3`,
//! `faccessat2`) falls back to an older one; calls that need a capability the container
//! lacks fail with `EPERM`, as the kernel itself would answer.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
    LinuxSyscallBuilder,
};
use serde::Deserialize;

use super::SpecError;
use super::container::parse_capability_name;

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// System calls every container may make.
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    // files and descriptors
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
    "preadv2", "pwritev2", "open", "openat", "openat2", "close", "close_range", "creat",
    "lseek", "_llseek", "dup", "dup2", "dup3", "pipe", "pipe2", "fcntl", "fcntl64", "ioctl",
    "flock", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "sync_file_range2",
    "arm_sync_file_range", "truncate", "truncate64", "ftruncate", "ftruncate64", "fallocate",
    "fadvise64", "fadvise64_64", "arm_fadvise64_64", "readahead", "sendfile", "sendfile64",
    "splice", "tee", "vmsplice", "copy_file_range", "memfd_create",
    // metadata
    "stat", "stat64", "fstat", "fstat64", "lstat", "lstat64", "newfstatat", "fstatat64",
    "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "access", "faccessat",
    "faccessat2", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "chown32", "fchown",
    "fchown32", "fchownat", "lchown", "lchown32", "umask", "utime", "utimes", "utimensat",
    "utimensat_time64", "futimesat", "getxattr", "lgetxattr", "fgetxattr", "setxattr",
    "lsetxattr", "fsetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr",
    "lremovexattr", "fremovexattr",
    // names in the file tree
    "link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat",
    "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "mknod", "mknodat",
    "getdents", "getdents64", "readdir", "getcwd", "chdir", "fchdir",
    // waiting for events
    "select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll", "ppoll_time64",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait",
    "epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd",
    "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_settime64", "timerfd_gettime",
    "timerfd_gettime64", "inotify_init", "inotify_init1", "inotify_add_watch",
    "inotify_rm_watch", "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents",
    "io_pgetevents", "io_pgetevents_time64",
    // memory
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "pkey_mprotect", "pkey_alloc",
    "pkey_free", "madvise", "mlock", "mlock2", "munlock", "mlockall", "munlockall", "mincore",
    "msync", "membarrier", "remap_file_pages", "get_mempolicy", "process_mrelease",
    "cacheflush", "set_tls", "breakpoint",
    // processes and threads
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
    "waitpid", "kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal", "getpid",
    "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid",
    "set_tid_address", "set_robust_list", "get_robust_list", "futex", "futex_time64",
    "futex_waitv", "futex_wake", "futex_wait", "futex_requeue", "rseq", "restart_syscall",
    "prctl", "arch_prctl", "capget", "capset", "seccomp", "landlock_create_ruleset",
    "landlock_add_rule", "landlock_restrict_self", "get_thread_area", "set_thread_area",
    "uname", "olduname", "oldolduname", "sysinfo", "getrandom", "getcpu", "times",
    // signals
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "sigaction", "sigprocmask", "sigreturn", "sigpending", "sigsuspend", "sigaltstack",
    "signal", "pause", "alarm",
    // credentials (the kernel checks CAP_SETUID/CAP_SETGID itself)
    "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid",
    "getegid32", "setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32",
    "setregid", "setregid32", "setresuid", "setresuid32", "setresgid", "setresgid32",
    "getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32",
    "setgroups", "setgroups32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32",
    // scheduling and limits
    "getpriority", "setpriority", "sched_yield", "sched_getaffinity", "sched_setaffinity",
    "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_getattr", "sched_setattr", "getrlimit",
    "ugetrlimit", "setrlimit", "prlimit64", "getrusage", "ioprio_get", "ioprio_set",
    // time
    "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
    "clock_nanosleep", "clock_nanosleep_time64", "gettimeofday", "time", "nanosleep",
    "getitimer", "setitimer", "timer_create", "timer_delete", "timer_settime",
    "timer_settime64", "timer_gettime", "timer_gettime64", "timer_getoverrun", "adjtimex",
    // sockets
    "socket", "socketpair", "socketcall", "bind", "listen", "accept", "accept4", "connect",
    "getsockname", "getpeername", "getsockopt", "setsockopt", "sendto", "recvfrom", "send",
    "recv", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "recvmmsg_time64", "shutdown",
    // System V and POSIX IPC (namespaced)
    "ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop",
    "semtimedop_time64", "semctl", "shmget", "shmat", "shmdt", "shmctl", "mq_open",
    "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
    // host names live in the container's own UTS namespace
    "sethostname", "setdomainname",
];

/// System calls allowed only with one of the capabilities; `EPERM` otherwise.
#[rustfmt::skip]
const NEED_CAPABILITY: &[(&[Capability], &[&str])] = &[
    (&[Capability::SysAdmin], &[
        "mount", "umount", "umount2", "mount_setattr", "move_mount", "open_tree", "fsopen",
        "fsconfig", "fsmount", "fspick", "pivot_root", "unshare", "setns", "quotactl",
        "quotactl_fd", "fanotify_init", "lookup_dcookie", "swapon", "swapoff",
        "name_to_handle_at", "clone3",
    ]),
    (&[Capability::SysAdmin, Capability::Bpf], &["bpf"]),
    (&[Capability::SysAdmin, Capability::Perfmon], &["perf_event_open"]),
    (&[Capability::SysBoot], &["reboot", "kexec_load", "kexec_file_load"]),
    (&[Capability::SysModule], &["init_module", "finit_module", "delete_module"]),
    (&[Capability::SysTime], &[
        "settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime",
        "clock_adjtime64",
    ]),
    (&[Capability::SysPacct], &["acct"]),
    (&[Capability::SysRawio], &["iopl", "ioperm"]),
    (&[Capability::SysChroot], &["chroot"]),
    (&[Capability::SysTtyConfig], &["vhangup"]),
    (&[Capability::Syslog], &["syslog"]),
    (&[Capability::DacReadSearch], &["open_by_handle_at"]),
    (&[Capability::SysNice], &[
        "mbind", "set_mempolicy", "set_mempolicy_home_node", "migrate_pages", "move_pages",
    ]),
    (&[Capability::SysPtrace], &["kcmp", "pidfd_getfd", "userfaultfd"]),
];

/// Tracing calls: safe since Linux 4.8 (seccomp is re-checked after a tracer changes a
/// call), so allowed there without CAP_SYS_PTRACE.
const PTRACE_CALLS: &[&str] = &["ptrace", "process_vm_readv", "process_vm_writev"];
const PTRACE_SAFE_KERNEL: (u32, u32) = (4, 8);

/// Always refused with `EPERM`: the kernel keyring is not namespaced, and the rest are
/// obsolete or known attack surface.
#[rustfmt::skip]
const DENIED: &[&str] = &[
    "add_key", "keyctl", "request_key", "modify_ldt", "uselib", "vm86", "vm86old",
    "nfsservctl", "create_module", "get_kernel_syms", "query_module", "_sysctl", "ustat",
    "sysfs", "io_uring_setup", "io_uring_enter", "io_uring_register",
];

/// `personality(2)` domains allowed: Linux, its 32-bit variant, no-ASLR variants, and the
/// query value.
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// `CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET`: without
/// CAP_SYS_ADMIN, `clone` may not create namespaces.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// The built-in profile for a container with capabilities `caps` on kernel `kernel`.
pub fn default_profile(caps: &HashSet<Capability>, kernel: Option<(u32, u32)>) -> LinuxSeccomp {
    let mut syscalls = vec![rule(ALLOWED, LinuxSeccompAction::ScmpActAllow, None, None)];

    let mut denied: Vec<&str> = DENIED.to_vec();
    let mut allowed: Vec<&str> = Vec::new();
    for (needs, names) in NEED_CAPABILITY {
        if needs.iter().any(|c| caps.contains(c)) {
            allowed.extend(*names);
        } else {
            // clone3 is left to the default ENOSYS: its flags live in memory seccomp
            // cannot inspect, and libc falls back to clone on ENOSYS (not on EPERM).
            denied.extend(names.iter().filter(|n| **n != "clone3"));
        }
    }
    let ptrace_ok =
        caps.contains(&Capability::SysPtrace) || kernel.is_some_and(|k| k >= PTRACE_SAFE_KERNEL);
    if ptrace_ok {
        allowed.extend(PTRACE_CALLS);
    } else {
        denied.extend(PTRACE_CALLS);
    }
    if !allowed.is_empty() {
        syscalls.push(rule(&allowed, LinuxSeccompAction::ScmpActAllow, None, None));
    }
    syscalls.push(rule(
        &denied,
        LinuxSeccompAction::ScmpActErrno,
        Some(EPERM),
        None,
    ));

    if caps.contains(&Capability::SysAdmin) {
        syscalls.push(rule(
            &["clone"],
            LinuxSeccompAction::ScmpActAllow,
            None,
            None,
        ));
    } else {
        let arg = seccomp_arg(
            clone_flags_index(),
            CLONE_NAMESPACE_FLAGS,
            Some(0),
            LinuxSeccompOperator::ScmpCmpMaskedEq,
        );
        syscalls.push(rule(
            &["clone"],
            LinuxSeccompAction::ScmpActAllow,
            None,
            Some(vec![arg]),
        ));
    }
    for &persona in PERSONALITIES {
        let arg = seccomp_arg(0, persona, None, LinuxSeccompOperator::ScmpCmpEq);
        syscalls.push(rule(
            &["personality"],
            LinuxSeccompAction::ScmpActAllow,
            None,
            Some(vec![arg]),
        ));
    }

    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(LinuxSeccompAction::ScmpActErrno);
    profile.set_default_errno_ret(Some(ENOSYS));
    profile.set_architectures(Some(native_arches().1.to_vec()));
    profile.set_syscalls(Some(syscalls));
    profile
}

fn seccomp_arg(
    index: usize,
    value: u64,
    value_two: Option<u64>,
    op: LinuxSeccompOperator,
) -> LinuxSeccompArg {
    let builder = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op);
    let builder = match value_two {
        Some(v) => builder.value_two(v),
        None => builder,
    };
    builder
        .build()
        .expect("every field of a seccomp argument is set")
}

fn rule(
    names: &[&str],
    action: LinuxSeccompAction,
    errno: Option<u32>,
    args: Option<Vec<LinuxSeccompArg>>,
) -> LinuxSyscall {
    let mut r = LinuxSyscall::default();
    r.set_names(names.iter().map(|s| s.to_string()).collect());
    r.set_action(action);
    r.set_errno_ret(errno);
    r.set_args(args);
    r
}

/// s390 swaps clone's first two arguments.
fn clone_flags_index() -> usize {
    if cfg!(target_arch = "s390x") { 1 } else { 0 }
}

/// This machine's architecture: its Go name (as profiles' `includes.arches` use) and the
/// seccomp architectures a container may run code for.
///
/// Only the native ABI: each extra architecture (x86, x32 beside x86-64) multiplies the
/// filter libseccomp compiles at every container start — measured here at about 10 ms of
/// the start for x86 plus x32. 32-bit binaries therefore need a profile that names their
/// architecture (`--security-opt seccomp=PATH`) or `seccomp=unconfined`.
fn native_arches() -> (&'static str, &'static [Arch]) {
    if cfg!(target_arch = "x86_64") {
        ("amd64", &[Arch::ScmpArchX86_64])
    } else if cfg!(target_arch = "aarch64") {
        ("arm64", &[Arch::ScmpArchAarch64])
    } else if cfg!(target_arch = "riscv64") {
        ("riscv64", &[Arch::ScmpArchRiscv64])
    } else if cfg!(target_arch = "s390x") {
        ("s390x", &[Arch::ScmpArchS390x, Arch::ScmpArchS390])
    } else if cfg!(target_arch = "powerpc64") {
        ("ppc64le", &[Arch::ScmpArchPpc64le])
    } else {
        ("", &[Arch::ScmpArchNative])
    }
}

/// A profile file as Docker and Podman write them; the OCI `linux.seccomp` shape is a
/// subset of it and loads too.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileFile {
    default_action: LinuxSeccompAction,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<Arch>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    flags: Option<Vec<LinuxSeccompFilterFlag>>,
    #[serde(default)]
    syscalls: Option<Vec<ProfileRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: Arch,
    #[serde(default)]
    sub_architectures: Option<Vec<Arch>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileRule {
    #[serde(default)]
    names: Option<Vec<String>>,
    /// The older one-name form.
    #[serde(default)]
    name: Option<String>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Option<RuleFilter>,
    #[serde(default)]
    excludes: Option<RuleFilter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleFilter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// Load a profile file (Docker/Podman or OCI format) and specialise it for a container
/// with capabilities `caps` on kernel `kernel`: rules are kept or dropped by their
/// `includes`/`excludes`, and `archMap` picks this machine's architectures.
pub fn load_profile(
    path: &Path,
    caps: &HashSet<Capability>,
    kernel: Option<(u32, u32)>,
) -> Result<LinuxSeccomp, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| SpecError::io(path, e))?;
    convert_profile(&text, caps, kernel).map_err(|reason| SpecError::SeccompProfile {
        path: path.to_path_buf(),
        reason,
    })
}

fn convert_profile(
    text: &str,
    caps: &HashSet<Capability>,
    kernel: Option<(u32, u32)>,
) -> Result<LinuxSeccomp, String> {
    let file: ProfileFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let (go_arch, native) = native_arches();

    let architectures = match (&file.architectures, &file.arch_map) {
        (Some(list), _) if !list.is_empty() => list.clone(),
        (_, Some(map)) => map
            .iter()
            .filter(|m| native.contains(&m.architecture))
            .flat_map(|m| {
                std::iter::once(m.architecture)
                    .chain(m.sub_architectures.clone().unwrap_or_default())
            })
            .collect(),
        _ => Vec::new(),
    };

    let has_cap = |name: &String| {
        parse_capability_name(name)
            .ok()
            .flatten()
            .is_some_and(|c| caps.contains(&c))
    };
    let kernel_at_least = |min: &str| -> Result<bool, String> {
        let want = parse_kernel_version(min).ok_or(format!("bad minKernel \"{min}\""))?;
        Ok(kernel.is_some_and(|k| k >= want))
    };

    let mut syscalls = Vec::new();
    for r in file.syscalls.unwrap_or_default() {
        let inc = r.includes.unwrap_or_default();
        let exc = r.excludes.unwrap_or_default();
        let wanted = inc.caps.as_ref().is_none_or(|c| c.iter().all(has_cap))
            && inc
                .arches
                .as_ref()
                .is_none_or(|a| a.is_empty() || a.iter().any(|x| x == go_arch))
            && match &inc.min_kernel {
                Some(min) if !min.is_empty() => kernel_at_least(min)?,
                _ => true,
            }
            && !exc.caps.as_ref().is_some_and(|c| c.iter().any(has_cap))
            && !exc
                .arches
                .as_ref()
                .is_some_and(|a| a.iter().any(|x| x == go_arch));
        if !wanted {
            continue;
        }
        let mut names = r.names.unwrap_or_default();
        names.extend(r.name);
        if names.is_empty() {
            return Err("a syscall rule names no system call".into());
        }
        let mut out = LinuxSyscallBuilder::default()
            .names(names)
            .action(r.action)
            .build()
            .map_err(|e| e.to_string())?;
        out.set_errno_ret(r.errno_ret);
        out.set_args(r.args.filter(|a| !a.is_empty()));
        syscalls.push(out);
    }

    let mut seccomp = LinuxSeccompBuilder::default()
        .default_action(file.default_action)
        .build()
        .map_err(|e| e.to_string())?;
    seccomp.set_default_errno_ret(file.default_errno_ret);
    seccomp.set_architectures((!architectures.is_empty()).then_some(architectures));
    seccomp.set_flags(file.flags.filter(|f| !f.is_empty()));
    seccomp.set_syscalls(Some(syscalls));
    Ok(seccomp)
}

/// `"6.1.0-13-amd64"` → `(6, 1)`.
pub(crate) fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(list: &[Capability]) -> HashSet<Capability> {
        list.iter().copied().collect()
    }

    fn action_for(profile: &LinuxSeccomp, name: &str) -> Vec<(LinuxSeccompAction, Option<u32>)> {
        profile
            .syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|r| r.names().iter().any(|n| n == name))
            .map(|r| (r.action(), r.errno_ret()))
            .collect()
    }

    const ALLOW: LinuxSeccompAction = LinuxSeccompAction::ScmpActAllow;
    const ERRNO: LinuxSeccompAction = LinuxSeccompAction::ScmpActErrno;

    #[test]
    fn default_profile_shape() {
        let p = default_profile(&caps(&[Capability::Chown]), Some((6, 1)));
        assert_eq!(p.default_action(), ERRNO);
        assert_eq!(p.default_errno_ret(), Some(ENOSYS));
        assert_eq!(action_for(&p, "read"), vec![(ALLOW, None)]);
        for denied in [
            "mount",
            "kexec_load",
            "init_module",
            "reboot",
            "swapon",
            "bpf",
            "perf_event_open",
            "keyctl",
            "unshare",
        ] {
            assert_eq!(
                action_for(&p, denied),
                vec![(ERRNO, Some(EPERM))],
                "{denied}"
            );
        }
        // clone3 falls to the default ENOSYS; clone is filtered on its flags.
        assert!(action_for(&p, "clone3").is_empty());
        let clone = p
            .syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .find(|r| r.names() == &["clone"])
            .unwrap();
        assert_eq!(
            clone.args().as_ref().unwrap()[0].value(),
            CLONE_NAMESPACE_FLAGS
        );
        assert_eq!(action_for(&p, "personality").len(), PERSONALITIES.len());
        // Modern kernels allow ptrace without the capability.
        assert_eq!(action_for(&p, "ptrace"), vec![(ALLOW, None)]);
    }

    #[test]
    fn every_call_has_one_verdict() {
        // libseccomp refuses two unconditional rules with different actions for one call.
        for set in [
            caps(&[]),
            caps(&[Capability::SysAdmin, Capability::SysPtrace]),
        ] {
            let p = default_profile(&set, None);
            let mut seen = HashSet::new();
            for r in p.syscalls().as_ref().unwrap() {
                if r.args().is_some() {
                    continue;
                }
                for n in r.names() {
                    assert!(seen.insert(n.clone()), "{n} listed twice");
                }
            }
        }
    }

    #[test]
    fn capabilities_open_their_calls() {
        let p = default_profile(&caps(&[Capability::SysAdmin]), None);
        assert_eq!(action_for(&p, "mount"), vec![(ALLOW, None)]);
        assert_eq!(action_for(&p, "clone3"), vec![(ALLOW, None)]);
        assert_eq!(action_for(&p, "bpf"), vec![(ALLOW, None)]);
        assert_eq!(action_for(&p, "reboot"), vec![(ERRNO, Some(EPERM))]);
        let clone = action_for(&p, "clone");
        assert_eq!(clone, vec![(ALLOW, None)]);
        // Old kernel without CAP_SYS_PTRACE: no ptrace.
        assert_eq!(action_for(&p, "ptrace"), vec![(ERRNO, Some(EPERM))]);
        let p = default_profile(&caps(&[Capability::SysPtrace]), Some((3, 10)));
        assert_eq!(action_for(&p, "ptrace"), vec![(ALLOW, None)]);
    }

    #[test]
    fn docker_profile_conversion() {
        let text = r#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
            ],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": []},
                {"name": "getpid", "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_CHROOT"]}},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
            ]
        }"#;
        let p = convert_profile(text, &caps(&[Capability::SysChroot]), Some((6, 1))).unwrap();
        assert_eq!(p.default_errno_ret(), Some(1));
        let arches = p.architectures().as_ref().unwrap();
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                arches,
                &[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
            );
        }
        assert_eq!(action_for(&p, "getpid"), vec![(ALLOW, None)]);
        assert!(action_for(&p, "mount").is_empty());
        assert_eq!(action_for(&p, "ptrace"), vec![(ALLOW, None)]);
        assert!(action_for(&p, "chroot").is_empty());
        assert_eq!(action_for(&p, "personality").len(), 1);

        let p = convert_profile(text, &caps(&[Capability::SysAdmin]), Some((4, 4))).unwrap();
        assert_eq!(action_for(&p, "mount"), vec![(ALLOW, None)]);
        assert!(action_for(&p, "ptrace").is_empty());
        assert_eq!(action_for(&p, "chroot"), vec![(ERRNO, Some(1))]);

        // The runtime spec's own shape loads as well.
        let oci = serde_json::to_string(&default_profile(&caps(&[]), None)).unwrap();
        let back = convert_profile(&oci, &caps(&[]), None).unwrap();
        assert_eq!(back, default_profile(&caps(&[]), None));
    }

    #[test]
    fn bad_profiles_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_BOGUS"}"#).unwrap();
        let err = load_profile(&path, &caps(&[]), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.json"), "{err}");
        let err = load_profile(&dir.path().join("none.json"), &caps(&[]), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.json"), "{err}");
        assert!(
            convert_profile(
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}"#,
                &caps(&[]),
                None
            )
            .is_err()
        );
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_kernel_version("6.18.44-fc-v769"), Some((6, 18)));
        assert_eq!(parse_kernel_version("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel_version("5"), Some((5, 0)));
        assert_eq!(parse_kernel_version("x"), None);
    }
}
