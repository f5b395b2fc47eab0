//! An external OCI runtime (crun, runc, youki, or a binary given by path), driven through its
//! command line as conmon drives it for Podman: `create` with the container's stdio as the
//! runtime process's own 0/1/2 (the container inherits them), the init's pid from
//! `--pid-file`, then `start`; `kill` and `delete` by ID.
//!
//! The runtime process exits once the container is created, so the init is reparented to the
//! nearest child subreaper: the monitor, which calls this and reaps it. Unlike the built-in
//! runtime, the init does not die with a killed monitor; the next command notices the lost
//! monitor and `delete --force` stops it.
//!
//! The runtime's own messages go to a log file (`--log`, JSON lines), since its stderr is the
//! container's; a failure is reported with what the runtime said there.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use nix::sys::signal::Signal;

use super::cgroups::CgroupLayout;
use super::{ContainerIo, OciRuntime, RuntimeError};

/// What crun 1.8 says on a hybrid cgroup host with a controller on the cgroup2 mount.
const HYBRID_REFUSAL: &str = "cgroups in hybrid mode not supported";

/// An OCI runtime binary with its own state directory (its `--root`).
#[derive(Debug, Clone)]
pub struct ExternalRuntime {
    /// As the user named it (`crun`), or the file name of a path.
    name: String,
    binary: PathBuf,
    root: PathBuf,
}

/// Find a runtime: a name is looked up on `PATH`, anything with a `/` is a path.
pub fn find_binary(runtime: &str) -> Result<PathBuf, RuntimeError> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let not_found = |detail: String| RuntimeError::NotFound {
        runtime: runtime.to_string(),
        detail,
    };
    if runtime.is_empty() {
        return Err(not_found("the name is empty".into()));
    }
    if runtime.contains('/') {
        let path = PathBuf::from(runtime);
        return if executable(&path) {
            Ok(path)
        } else {
            Err(not_found("no executable file at that path".into()))
        };
    }
    let path_var =
        std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(runtime))
        .find(|p| executable(p))
        .ok_or_else(|| not_found("no such executable in $PATH".into()))
}

impl ExternalRuntime {
    /// The runtime `runtime` (a name on `PATH` or a path), keeping its state in `root`.
    pub fn new(runtime: &str, root: &Path) -> Result<ExternalRuntime, RuntimeError> {
        Ok(Self::with_binary(find_binary(runtime)?, root.to_path_buf()))
    }

    /// The runtime at `binary` (as [`find_binary`] found it), keeping its state in `root`.
    pub fn with_binary(binary: PathBuf, root: PathBuf) -> ExternalRuntime {
        ExternalRuntime {
            name: Self::name_of(&binary),
            binary,
            root,
        }
    }

    /// A runtime's name: its binary's file name (`/usr/bin/crun` is `crun`).
    pub fn name_of(binary: &Path) -> String {
        binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| binary.display().to_string())
    }

    fn pid_file(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.pid"))
    }

    fn log_file(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.log"))
    }

    /// Whether the runtime holds state for the container (crun, runc and youki all keep it
    /// in `<root>/<id>`).
    fn knows(&self, id: &str) -> bool {
        self.root.join(id).exists()
    }

    fn command(&self, id: &str) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(self.log_file(id))
            .arg("--log-format")
            .arg("json");
        cmd
    }

    /// Run `RUNTIME VERB FLAGS... ID ARGS...` (a verb whose output is not the container's),
    /// capturing what it prints.
    fn invoke(
        &self,
        id: &str,
        verb: &str,
        flags: &[&str],
        args: &[&str],
    ) -> Result<(), RuntimeError> {
        let log = LogCursor::at_end(&self.log_file(id));
        let output = self
            .command(id)
            .arg(verb)
            .args(flags)
            .arg(id)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(io_err(&self.binary))?;
        if output.status.success() {
            return Ok(());
        }
        let mut said = log.read_new();
        said.push('\n');
        said.push_str(&String::from_utf8_lossy(&output.stderr));
        said.push('\n');
        said.push_str(&String::from_utf8_lossy(&output.stdout));
        Err(self.failure(verb, output.status, &said))
    }

    /// The error for a failed verb: what the runtime said, explained where we know better.
    fn failure(&self, verb: &str, status: ExitStatus, said: &str) -> RuntimeError {
        let message = runtime_message(said);
        if message.contains(HYBRID_REFUSAL) {
            return hybrid_error(&self.name, &message);
        }
        let message = if message.is_empty() {
            format!(
                "`{} {verb}` failed ({status}) without saying why",
                self.name
            )
        } else {
            message
        };
        RuntimeError::Failed {
            runtime: self.name.clone(),
            message: format!("{verb}: {message}"),
        }
    }
}

impl OciRuntime for ExternalRuntime {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, id: &str, bundle: &Path, io: ContainerIo) -> Result<i32, RuntimeError> {
        fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        // State left by an earlier run of the same container (its monitor was killed before
        // it could delete): `create` would refuse the ID, and a stale pid file would lie.
        let _ = self.delete(id, true);
        let pid_file = self.pid_file(id);
        let log_file = self.log_file(id);
        let mut cmd = self.command(id);
        cmd.arg("create").arg("--bundle").arg(bundle);
        match io {
            ContainerIo::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                cmd.stdin(Stdio::from(stdin))
                    .stdout(Stdio::from(stdout))
                    .stderr(Stdio::from(stderr));
            }
            ContainerIo::Terminal { console_socket } => {
                cmd.arg("--console-socket")
                    .arg(console_socket)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
            }
        }
        cmd.arg("--pid-file").arg(&pid_file).arg(id);
        let status = cmd.status().map_err(io_err(&self.binary));
        // The container's stdio must not stay open here: the monitor reads to end of file.
        drop(cmd);
        let status = status?;
        if !status.success() {
            let said = fs::read_to_string(&log_file).unwrap_or_default();
            let error = self.failure("create", status, &said);
            let _ = self.delete(id, true);
            return Err(error);
        }
        let pid = fs::read_to_string(&pid_file)
            .map_err(io_err(&pid_file))
            .and_then(|text| {
                text.trim()
                    .parse::<i32>()
                    .map_err(|_| RuntimeError::Failed {
                        runtime: self.name.clone(),
                        message: format!(
                            "create: pid file {} holds {:?}, not a process ID",
                            pid_file.display(),
                            text.trim()
                        ),
                    })
            });
        let pid = match pid {
            Ok(pid) => pid,
            Err(e) => {
                let _ = self.delete(id, true);
                return Err(e);
            }
        };
        if let Err(e) = self.invoke(id, "start", &[], &[]) {
            let _ = self.delete(id, true);
            return Err(e);
        }
        Ok(pid)
    }

    fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<(), RuntimeError> {
        if !self.knows(id) {
            return Ok(());
        }
        let flags: &[&str] = if all { &["--all"] } else { &[] };
        self.invoke(id, "kill", flags, &[&(signal as i32).to_string()])
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        if self.knows(id) {
            let args: &[&str] = if force { &["--force"] } else { &[] };
            self.invoke(id, "delete", args, &[])?;
        }
        let _ = fs::remove_file(self.pid_file(id));
        let _ = fs::remove_file(self.log_file(id));
        Ok(())
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeError + use<> {
    let path = path.to_path_buf();
    move |source| RuntimeError::Io { path, source }
}

/// Where a log file ended before a command, to read only what that command added.
struct LogCursor {
    path: PathBuf,
    offset: u64,
}

impl LogCursor {
    fn at_end(path: &Path) -> LogCursor {
        LogCursor {
            path: path.to_path_buf(),
            offset: fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        }
    }

    fn read_new(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(&self.path)
            && file.seek(SeekFrom::Start(self.offset)).is_ok()
        {
            let _ = file.read_to_string(&mut text);
        }
        text
    }
}

/// The runtime's messages, one line: the `msg` of error-level JSON log records when it wrote
/// any (crun, runc and youki do with `--log-format json`), else its text output. Text crun
/// prints after a record without a newline is split off the JSON.
fn runtime_message(said: &str) -> String {
    let mut errors = Vec::new();
    let mut text = Vec::new();
    for line in said.lines() {
        let mut rest = line.trim();
        while rest.starts_with('{') {
            let mut stream =
                serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
            let Some(Ok(record)) = stream.next() else {
                break;
            };
            let level = record["level"].as_str().unwrap_or("error");
            if matches!(level, "error" | "fatal" | "panic")
                && let Some(msg) = record["msg"].as_str()
            {
                errors.push(msg.trim().to_string());
            }
            rest = rest[stream.byte_offset()..].trim_start();
        }
        if !rest.is_empty() {
            text.push(rest.to_string());
        }
    }
    let mut chosen = if errors.is_empty() { text } else { errors };
    chosen.dedup();
    chosen.join("; ")
}

/// crun 1.8 refuses a hybrid cgroup host (v1 controllers plus a cgroup2 mount) as soon as any
/// controller sits on the cgroup2 mount; say so, which controllers, and how to fix the host.
fn hybrid_error(runtime: &str, said: &str) -> RuntimeError {
    let layout = CgroupLayout::detect().ok();
    let controllers: Vec<String> = layout
        .as_ref()
        .map(|l| l.unified_controllers().map(str::to_string).collect())
        .unwrap_or_default();
    let unified = layout
        .as_ref()
        .and_then(|l| l.unified_mount().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup/unified"));
    let base = unified
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup"));
    RuntimeError::HybridCgroups {
        runtime: runtime.to_string(),
        said: said.to_string(),
        controllers: controllers.clone(),
        unified,
        fix: hybrid_fix(&base, &controllers),
    }
}

/// Shell commands that move the cgroup2 mount's controllers to v1 hierarchies of their own.
fn hybrid_fix(base: &Path, controllers: &[String]) -> String {
    let controllers: Vec<&str> = if controllers.is_empty() {
        vec!["hugetlb"]
    } else {
        controllers.iter().map(String::as_str).collect()
    };
    controllers
        .iter()
        .map(|c| {
            let dir = base.join(c);
            format!(
                "mkdir -p {dir} && mount -t cgroup -o {c} cgroup {dir}",
                dir = dir.display()
            )
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn json_log_records_become_the_message() {
        let said = "{\"msg\":\"cgroups in hybrid mode not supported, drop all controllers from cgroupv2\",\"level\":\"error\",\"time\":\"2026-01-01T00:00:00Z\"}cgroups in hybrid mode not supported, drop all controllers from cgroupv2";
        assert_eq!(
            runtime_message(said),
            "cgroups in hybrid mode not supported, drop all controllers from cgroupv2"
        );
        let runc = "{\"level\":\"warning\",\"msg\":\"deprecated\"}\n{\"level\":\"error\",\"msg\":\"container \\\"x\\\" does not exist\"}\n";
        assert_eq!(runtime_message(runc), "container \"x\" does not exist");
        assert_eq!(runtime_message("plain failure\n"), "plain failure");
        assert_eq!(runtime_message(""), "");
    }

    #[test]
    fn the_hybrid_refusal_is_explained_with_a_fix() {
        let fix = hybrid_fix(Path::new("/sys/fs/cgroup"), &["hugetlb".to_string()]);
        assert_eq!(
            fix,
            "mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb"
        );
        let rt = ExternalRuntime {
            name: "crun".into(),
            binary: "/usr/bin/crun".into(),
            root: "/nonexistent".into(),
        };
        let e = rt.failure(
            "create",
            ExitStatus::default(),
            "{\"msg\":\"cgroups in hybrid mode not supported, drop all controllers from cgroupv2\",\"level\":\"error\"}",
        );
        let text = e.to_string();
        assert!(matches!(e, RuntimeError::HybridCgroups { .. }), "{text}");
        assert!(text.contains("mount -t cgroup -o"), "{text}");
        assert!(!text.contains('\n'), "one line: {text}");
    }

    #[test]
    fn missing_runtimes_are_named() {
        let e = find_binary("oxpod-no-such-runtime").unwrap_err();
        assert!(e.to_string().contains("oxpod-no-such-runtime"), "{e}");
        assert!(find_binary("/nonexistent/crun").is_err());
        assert!(find_binary("").is_err());
    }

    /// A shell script standing in for crun: records its arguments, writes its own pid as the
    /// container's, and fails `start` when told to.
    fn fake_runtime(dir: &Path, start_fails: bool) -> PathBuf {
        let script = dir.join("fake-crun");
        let calls = dir.join("calls");
        let body = format!(
            r#"#!/bin/sh
echo "$@" >> {calls}
root=$2
log=$4
while [ $# -gt 0 ]; do
  case "$1" in
    create) shift; while [ $# -gt 1 ]; do
        case "$1" in --pid-file) echo $$ > "$2"; shift;; esac; shift; done
        mkdir -p "$root/$1"; exit 0;;
    start) {start};;
    delete) shift; while [ $# -gt 1 ]; do shift; done; rm -rf "$root/$1"; exit 0;;
    kill) exit 0;;
  esac
  shift
done
exit 0
"#,
            calls = calls.display(),
            start = if start_fails {
                r#"echo '{"level":"error","msg":"exec: no such file"}' >> "$log"; exit 1"#
            } else {
                "exit 0"
            },
        );
        fs::write(&script, body).unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    fn pipes() -> ContainerIo {
        let null = || fs::File::open("/dev/null").unwrap().into();
        ContainerIo::Pipes {
            stdin: null(),
            stdout: fs::File::create("/dev/null").unwrap().into(),
            stderr: null(),
        }
    }

    #[test]
    fn create_start_kill_delete_run_the_runtime_as_the_oci_cli_says() {
        let dir = tempfile::tempdir().unwrap();
        let script = fake_runtime(dir.path(), false);
        let rt = ExternalRuntime::new(script.to_str().unwrap(), &dir.path().join("state")).unwrap();
        assert_eq!(rt.name(), "fake-crun");
        let pid = rt.run("c1", Path::new("/bundle"), pipes()).unwrap();
        assert!(pid > 0);
        rt.kill("c1", Signal::SIGTERM, true).unwrap();
        rt.delete("c1", true).unwrap();
        // Nothing known about it any more: no call at all.
        rt.delete("c1", true).unwrap();
        let calls = fs::read_to_string(dir.path().join("calls")).unwrap();
        let root = dir.path().join("state");
        let log = root.join("c1.log");
        let prefix = format!(
            "--root {} --log {} --log-format json",
            root.display(),
            log.display()
        );
        let expected = [
            format!(
                "{prefix} create --bundle /bundle --pid-file {} c1",
                root.join("c1.pid").display()
            ),
            format!("{prefix} start c1"),
            format!("{prefix} kill --all c1 15"),
            format!("{prefix} delete --force c1"),
        ];
        assert_eq!(calls.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn a_failed_start_reports_the_runtime_log_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let script = fake_runtime(dir.path(), true);
        let rt = ExternalRuntime::new(script.to_str().unwrap(), &dir.path().join("state")).unwrap();
        let e = rt.run("c2", Path::new("/bundle"), pipes()).unwrap_err();
        assert_eq!(e.to_string(), "fake-crun: start: exec: no such file");
        let calls = fs::read_to_string(dir.path().join("calls")).unwrap();
        assert!(
            calls.lines().last().unwrap().ends_with("delete --force c2"),
            "{calls}"
        );
        assert!(!dir.path().join("state/c2").exists());
    }
}
