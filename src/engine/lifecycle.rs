//! Kubernetes probes and lifecycle hooks of a container, run from outside it.
//!
//! The monitor drives [`KubeProbes`] from its poll loop, one per run of the container:
//! `postStart` first (a failure kills the container); then the startup probe, which holds the
//! liveness and readiness probes back until it passes; each probe from its
//! `initialDelaySeconds` (at least a second) after the start, every `periodSeconds` from its
//! previous attempt's start, each attempt bounded by
//! `timeoutSeconds`, its state set by runs of `successThreshold` / `failureThreshold` equal
//! results. A failing liveness or startup probe kills the container as the kubelet does
//! (`preStop`, the stop signal, SIGKILL after the grace period) and the restart policy decides
//! what follows. Readiness is kept in the store (`ready`), and every change rewrites the
//! Services' endpoints.
//!
//! Exec actions run inside the container through the health check runner; network actions run
//! on a short-lived thread inside the container's network namespace (see
//! [`crate::runtime::probes`]). Nothing here blocks the loop: each action in flight is polled
//! through a descriptor, its process's SIGCHLD, or its deadline.
//!
//! `preStop` also runs when a container is stopped (`stop`, `pod stop`, `rm -f`), from the
//! stopping command, before it sends the stop signal: [`Engine::run_pre_stop`].

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use super::Engine;
use super::sandbox::namespace_paths;
use crate::runtime::health::{self, CheckProcess, RunningCheck};
use crate::runtime::logs::{LogWriter, Stream};
use crate::runtime::probes::{NetProbe, Outcome, ProbeKind, Tracker};
use crate::spec::{ContainerSpec, ProbeAction};
use crate::state::containers::write;
use crate::state::{ContainerRecord, ContainerStatus};
use crate::sys::process;

/// How long a `postStart` exec or network hook may take (Kubernetes sets no bound; a hook
/// that hangs must not hold the container's probes back for ever). A sleep takes its time.
const POST_START_TIMEOUT: Duration = Duration::from_secs(120);

/// The earliest a probe runs after the start, whatever its `initialDelaySeconds`: the
/// kubelet sees a container running only at its next relist, up to a second after the start,
/// and a probe in the very first milliseconds would only catch the program starting up.
const FIRST_PROBE_AFTER: Duration = Duration::from_secs(1);

/// The least time between the stop signal and SIGKILL once a `preStop` hook used up the grace
/// period (the kubelet's minimum grace).
const MIN_KILL_GRACE: Duration = Duration::from_secs(2);

/// Where a container's network actions connect from: its network namespace and the pod's
/// address (127.0.0.1 without one).
struct Target {
    netns: Option<OwnedFd>,
    ip: IpAddr,
}

/// What runs a container's actions.
struct Runner {
    id: String,
    state_root: PathBuf,
    /// The built-in runtime runs exec actions; external ones cannot yet.
    exec: bool,
    process: CheckProcess,
    target: Target,
}

/// An action in flight.
enum InFlight {
    Exec {
        check: RunningCheck,
        command: Vec<String>,
    },
    Net(NetProbe),
    Sleep(Instant),
}

/// The result of an exec action, from its health-check record.
fn exec_outcome(entry: health::HealthLogEntry, timed_out: bool, command: &[String]) -> Outcome {
    let output = entry.output.trim();
    if entry.exit_code == 0 {
        return Outcome::pass(output);
    }
    if timed_out {
        return Outcome::fail(format!("command {:?} timed out", command.join(" ")));
    }
    if entry.exit_code == health::EXIT_CHECK_ERROR {
        return Outcome::fail(output);
    }
    let mut message = format!(
        "command {:?} exited with {}",
        command.join(" "),
        entry.exit_code
    );
    if !output.is_empty() {
        message.push_str(": ");
        message.push_str(output);
    }
    Outcome::fail(message)
}

impl InFlight {
    /// The descriptor that turns readable when there is something to do.
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            InFlight::Exec { check, .. } => check.output_fd(),
            InFlight::Net(probe) => Some(probe.fd()),
            InFlight::Sleep(_) => None,
        }
    }

    /// When the loop must look at it again at the latest.
    fn deadline(&self) -> Option<Instant> {
        match self {
            // Once killed, its reaping wakes the loop.
            InFlight::Exec { check, .. } => (!check.timed_out()).then(|| check.deadline()),
            InFlight::Net(probe) => Some(probe.deadline()),
            InFlight::Sleep(at) => Some(*at),
        }
    }

    /// Its outcome, when done by now (an exec action's comes with its reaping instead; here it
    /// is killed once it overruns its timeout).
    fn poll(&mut self, now: Instant) -> Option<Outcome> {
        match self {
            InFlight::Exec { check, .. } => {
                check.enforce_timeout(now);
                None
            }
            InFlight::Net(probe) => probe.outcome(now),
            InFlight::Sleep(at) => (now >= *at).then(|| Outcome::pass("slept")),
        }
    }

    fn pid(&self) -> Option<i32> {
        match self {
            InFlight::Exec { check, .. } => Some(check.pid()),
            _ => None,
        }
    }

    /// An exec action's outcome once its process was reaped with `status`.
    fn reaped(self, status: WaitStatus) -> Outcome {
        match self {
            InFlight::Exec { check, command } => {
                let timed_out = check.timed_out();
                exec_outcome(check.finish(status), timed_out, &command)
            }
            _ => Outcome::fail("not a process"),
        }
    }

    /// Wait for the outcome (for a caller without an event loop).
    fn wait(self) -> Outcome {
        match self {
            InFlight::Exec { check, command } => {
                let entry = check.wait();
                let timed_out = entry.exit_code == health::EXIT_CHECK_ERROR
                    && entry.output.contains("exceeded timeout");
                exec_outcome(entry, timed_out, &command)
            }
            InFlight::Net(probe) => probe.wait(),
            InFlight::Sleep(at) => {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                Outcome::pass("slept")
            }
        }
    }

    /// Give up on it: an exec action's process is killed and reaped; a network action's
    /// thread ends on its own at its deadline.
    fn abandon(self) {
        if let InFlight::Exec { check, .. } = self {
            let _ = process::signal(check.pid(), Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(Pid::from_raw(check.pid()), None);
        }
    }
}

impl Runner {
    /// Start `action`, to end within `timeout`; a failure to start is its outcome.
    fn start(&self, action: &ProbeAction, timeout: Duration) -> Result<InFlight, Outcome> {
        match action {
            ProbeAction::Sleep { seconds } => Ok(InFlight::Sleep(
                Instant::now() + Duration::from_secs(*seconds).min(timeout),
            )),
            ProbeAction::Exec { command } => {
                if !self.exec {
                    return Err(Outcome::fail(
                        "exec actions run on the built-in runtime only",
                    ));
                }
                if command.is_empty() {
                    return Err(Outcome::fail("exec action without a command"));
                }
                health::spawn(
                    &self.state_root,
                    &self.id,
                    command.clone(),
                    &self.process,
                    timeout,
                )
                .map(|check| InFlight::Exec {
                    check,
                    command: command.clone(),
                })
                .map_err(|e| Outcome::fail(e.to_string()))
            }
            ProbeAction::Http { .. } | ProbeAction::Tcp { .. } | ProbeAction::Grpc { .. } => {
                let netns = self
                    .target
                    .netns
                    .as_ref()
                    .and_then(|fd| fd.try_clone().ok());
                NetProbe::spawn(netns, action.clone(), self.target.ip, timeout)
                    .map(InFlight::Net)
                    .map_err(|e| Outcome::fail(format!("starting the probe: {e}")))
            }
        }
    }
}

/// True when `path` is a bind-mounted namespace.
fn is_namespace(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

impl Engine {
    /// How to run a container's actions while its init is `pid`.
    fn probe_runner(&self, record: &ContainerRecord, spec: &ContainerSpec, pid: i32) -> Runner {
        // The pod's (or the lone container's) namespace as its sandbox holds it; else the
        // init's own (a host-network pod, `--network host`, a namespace given by path).
        let held = match &record.pod_id {
            Some(pod) => namespace_paths(&self.pod_dir(pod), true, false, false).net,
            None => self.container_netns(record, spec),
        };
        let netns = held
            .filter(|p| is_namespace(p))
            .and_then(|p| std::fs::File::open(p).ok())
            .or_else(|| std::fs::File::open(format!("/proc/{pid}/ns/net")).ok())
            .map(OwnedFd::from);
        if netns.is_none() {
            tracing::warn!(
                "{}: no network namespace to probe from; probing from the host's",
                record.name
            );
        }
        let owner = record.pod_id.as_deref().unwrap_or(&record.id);
        let ip = self
            .store
            .sandbox(owner)
            .ok()
            .flatten()
            .and_then(|s| s.ip)
            .and_then(|ip| ip.parse().ok())
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let config = self.container_dir(&record.id).config();
        let process = CheckProcess::from_bundle(&config).unwrap_or_else(|e| {
            tracing::warn!("{e}; exec probes run as root in /");
            CheckProcess {
                cwd: PathBuf::from("/"),
                ..Default::default()
            }
        });
        Runner {
            id: record.id.clone(),
            state_root: self.runtime_state_root(),
            exec: spec
                .runtime
                .as_deref()
                .is_none_or(|r| r == crate::runtime::BUILTIN),
            process,
            target: Target { netns, ip },
        }
    }

    /// Run the container's `preStop` hook before it is sent its stop signal; `timeout` is the
    /// stop's (when zero, as with `rm -f`, the container's own grace period bounds the hook,
    /// so it still runs). A hook that fails or overruns is reported; the stop goes on.
    pub(crate) fn run_pre_stop(
        &mut self,
        record: &ContainerRecord,
        spec: &ContainerSpec,
        timeout: Duration,
    ) {
        let Some(action) = &spec.lifecycle.pre_stop else {
            return;
        };
        let Some(pid) = record.pid else {
            return;
        };
        if !matches!(
            record.status,
            ContainerStatus::Running | ContainerStatus::Paused
        ) {
            return;
        }
        let budget = if timeout.is_zero() {
            Duration::from_secs(spec.stop_timeout.into())
        } else {
            timeout
        };
        if budget.is_zero() {
            return;
        }
        // The runtime's tenant builder changes directory; this command may go on with
        // relative paths.
        let cwd = std::env::current_dir().ok();
        let outcome = match self.probe_runner(record, spec, pid).start(action, budget) {
            Ok(running) => running.wait(),
            Err(outcome) => outcome,
        };
        if let Some(cwd) = cwd {
            let _ = std::env::set_current_dir(cwd);
        }
        if !outcome.passed {
            tracing::warn!("{}: preStop hook failed: {}", record.name, outcome.message);
        }
    }

    /// At the start of a run: set the container's readiness (not ready while a readiness or
    /// startup probe has yet to pass; none without), then start `postStart` or the probes.
    /// None when the container has neither probes nor `postStart`.
    pub(super) fn start_kube_probes(
        &mut self,
        record: &ContainerRecord,
        spec: &ContainerSpec,
        pid: i32,
        first_run: bool,
        log: &mut LogWriter,
    ) -> Option<KubeProbes> {
        let wanted = !spec.probes.is_empty() || spec.lifecycle.post_start.is_some();
        let runner = wanted.then(|| self.probe_runner(record, spec, pid));
        let mut slots = Vec::new();
        for (kind, probe) in [
            (ProbeKind::Startup, &spec.probes.startup),
            (ProbeKind::Liveness, &spec.probes.liveness),
            (ProbeKind::Readiness, &spec.probes.readiness),
        ] {
            let Some(probe) = probe else {
                continue;
            };
            if matches!(probe.action, ProbeAction::Exec { .. })
                && runner.as_ref().is_some_and(|r| !r.exec)
            {
                let line = format!(
                    "oxpod: the {} probe is not run: exec probes run on the built-in runtime \
                     only\n",
                    kind.as_str()
                );
                let _ = log.write(Stream::Stderr, line.as_bytes());
                continue;
            }
            slots.push(Slot {
                kind,
                tracker: Tracker::new(probe.clone()),
                next: None,
                running: None,
                done: false,
            });
        }
        let gated = slots
            .iter()
            .any(|s| matches!(s.kind, ProbeKind::Startup | ProbeKind::Readiness));
        let ready = gated.then_some(false);
        // (A run ends with no readiness recorded: only the first may find a stale one.)
        if (ready.is_some() || (first_run && record.ready.is_some()))
            && let Err(e) = self
                .store
                .write(|tx| write::set_ready(tx, &record.id, ready))
        {
            tracing::warn!("recording readiness: {e}");
        }
        // A restarted container leaves the endpoints until it is ready again. (The first
        // start's caller refreshes them itself.)
        if gated
            && !first_run
            && let Err(e) = self.refresh_service_endpoints()
        {
            tracing::warn!("updating Service endpoints: {e}");
        }
        let runner = runner?;
        let mut probes = KubeProbes {
            pid,
            started: Instant::now(),
            runner,
            slots,
            hook: None,
            pre_stop: spec.lifecycle.pre_stop.clone(),
            phase: Phase::Probing,
            ready,
            stop_signal: spec.stop_signal,
            grace: Duration::from_secs(spec.stop_timeout.into()),
            killed: false,
        };
        match &spec.lifecycle.post_start {
            Some(action) => {
                probes.phase = Phase::PostStart;
                match probes.runner.start(action, POST_START_TIMEOUT) {
                    Ok(running) => probes.hook = Some(running),
                    Err(outcome) => probes.hook_done(self, log, outcome),
                }
            }
            None => probes.schedule(Instant::now()),
        }
        Some(probes)
    }

    /// At the end of a run: stop what is in flight, and the container has no readiness
    /// until it runs again.
    pub(super) fn end_kube_probes(&mut self, id: &str, mut probes: KubeProbes) {
        if let Some(hook) = probes.hook.take() {
            hook.abandon();
        }
        for slot in &mut probes.slots {
            if let Some(running) = slot.running.take() {
                running.abandon();
            }
        }
        if probes.ready.is_some() {
            if let Err(e) = self.store.write(|tx| write::set_ready(tx, id, None)) {
                tracing::warn!("recording readiness: {e}");
            }
            if probes.ready == Some(true)
                && let Err(e) = self.refresh_service_endpoints()
            {
                tracing::warn!("updating Service endpoints: {e}");
            }
        }
    }
}

/// One probe of a run.
struct Slot {
    kind: ProbeKind,
    tracker: Tracker,
    /// When it is due; None while the startup probe (or `postStart`) holds it back.
    next: Option<Instant>,
    running: Option<InFlight>,
    /// A startup probe that passed: it never runs again in this run.
    done: bool,
}

enum Phase {
    /// `postStart` is running; the probes wait.
    PostStart,
    Probing,
    /// A probe or hook failed: `preStop` (when it has one, in `hook`), then the stop signal,
    /// then SIGKILL at `kill_at`.
    Killing {
        since: Instant,
        kill_at: Option<Instant>,
    },
    /// Nothing more to do in this run.
    Done,
}

/// What the monitor's poll loop waits on for the probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProbeToken {
    Hook,
    Probe(usize),
}

/// The probes and hooks of one run of a container.
pub(super) struct KubeProbes {
    pid: i32,
    started: Instant,
    runner: Runner,
    slots: Vec<Slot>,
    /// `postStart`, or `preStop` while killing.
    hook: Option<InFlight>,
    pre_stop: Option<ProbeAction>,
    phase: Phase,
    /// As recorded in the store.
    ready: Option<bool>,
    stop_signal: Signal,
    grace: Duration,
    /// A probe or hook killed the container in this run.
    pub killed: bool,
}

impl KubeProbes {
    /// Schedule the probes that may run now: the startup probe, or (without one, or once it
    /// passed) liveness and readiness; each at its initial delay after the start.
    fn schedule(&mut self, now: Instant) {
        self.phase = Phase::Probing;
        let startup_pending = self
            .slots
            .iter()
            .any(|s| s.kind == ProbeKind::Startup && !s.done);
        for slot in &mut self.slots {
            let runs = match slot.kind {
                ProbeKind::Startup => !slot.done,
                _ => !startup_pending,
            };
            if runs && slot.next.is_none() {
                let delay = slot.tracker.probe.initial_delay.max(FIRST_PROBE_AFTER);
                slot.next = Some((self.started + delay).max(now));
            }
        }
    }

    /// Descriptors to poll, with what each belongs to.
    pub(super) fn fds(&self) -> Vec<(BorrowedFd<'_>, ProbeToken)> {
        let mut out = Vec::new();
        if let Some(fd) = self.hook.as_ref().and_then(InFlight::fd) {
            out.push((fd, ProbeToken::Hook));
        }
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(fd) = slot.running.as_ref().and_then(InFlight::fd) {
                out.push((fd, ProbeToken::Probe(i)));
            }
        }
        out
    }

    /// A descriptor of `token` is readable: drain an exec action's output (a network
    /// action's outcome is collected by the next [`tick`](Self::tick)).
    pub(super) fn readable(&mut self, token: ProbeToken) {
        let running = match token {
            ProbeToken::Hook => self.hook.as_mut(),
            ProbeToken::Probe(i) => self.slots.get_mut(i).and_then(|s| s.running.as_mut()),
        };
        if let Some(InFlight::Exec { check, .. }) = running {
            check.read_output();
        }
    }

    /// The next time the loop must call [`tick`](Self::tick); none once the container exited.
    pub(super) fn wake(&self, exited: bool) -> Option<Instant> {
        if exited {
            return None;
        }
        let mut times: Vec<Instant> = Vec::new();
        times.extend(self.hook.as_ref().and_then(InFlight::deadline));
        for slot in &self.slots {
            match &slot.running {
                Some(running) => times.extend(running.deadline()),
                None if matches!(self.phase, Phase::Probing) && !slot.done => {
                    times.extend(slot.next)
                }
                None => {}
            }
        }
        if let Phase::Killing {
            kill_at: Some(at), ..
        } = self.phase
        {
            times.push(at);
        }
        times.into_iter().min()
    }

    /// Collect what finished or timed out, start what is due, and move a kill along.
    pub(super) fn tick(
        &mut self,
        engine: &mut Engine,
        log: &mut LogWriter,
        now: Instant,
        exited: bool,
    ) {
        if exited {
            // Nothing more to judge: network actions are dropped (their threads end on their
            // own), so their pipes stop waking the loop; exec processes die with the
            // container and are reaped.
            let network = |r: &Option<InFlight>| !matches!(r, None | Some(InFlight::Exec { .. }));
            if network(&self.hook) {
                self.hook = None;
            }
            for slot in &mut self.slots {
                if network(&slot.running) {
                    slot.running = None;
                }
            }
            return;
        }
        if let Some(hook) = self.hook.as_mut()
            && let Some(outcome) = hook.poll(now)
        {
            self.hook = None;
            self.hook_done(engine, log, outcome);
        }
        for i in 0..self.slots.len() {
            if let Some(running) = self.slots[i].running.as_mut()
                && let Some(outcome) = running.poll(now)
            {
                self.slots[i].running = None;
                self.result(engine, log, i, outcome);
            }
        }
        match self.phase {
            Phase::Probing => self.launch_due(engine, log, now),
            Phase::Killing {
                kill_at: Some(at), ..
            } if now >= at => {
                let _ = process::signal(self.pid, Signal::SIGKILL);
                self.phase = Phase::Done;
            }
            _ => {}
        }
    }

    fn launch_due(&mut self, engine: &mut Engine, log: &mut LogWriter, now: Instant) {
        let due: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                let s = &self.slots[i];
                !s.done && s.running.is_none() && s.next.is_some_and(|n| now >= n)
            })
            .collect();
        if due.is_empty() {
            return;
        }
        // A paused container is not probed (an exec could not run, a request not be
        // answered), as Docker skips health checks then.
        let paused = engine
            .store
            .container(&self.runner.id)
            .ok()
            .flatten()
            .is_some_and(|c| c.status == ContainerStatus::Paused);
        for i in due {
            let probe = &self.slots[i].tracker.probe;
            let (action, timeout) = (probe.action.clone(), probe.timeout);
            self.slots[i].next = Some(now + probe.period);
            if paused {
                continue;
            }
            match self.runner.start(&action, timeout) {
                Ok(running) => self.slots[i].running = Some(running),
                // A container that has just exited refuses new processes: not a result.
                Err(_) if exited_unreaped(self.pid) => {}
                Err(outcome) => self.result(engine, log, i, outcome),
            }
            if !matches!(self.phase, Phase::Probing) {
                break;
            }
        }
    }

    /// An exec action's process was reaped: true when it was one of ours.
    pub(super) fn reaped(
        &mut self,
        engine: &mut Engine,
        log: &mut LogWriter,
        pid: i32,
        status: WaitStatus,
        exited: bool,
    ) -> bool {
        if self.hook.as_ref().and_then(InFlight::pid) == Some(pid) {
            let outcome = self.hook.take().expect("checked above").reaped(status);
            if !exited {
                self.hook_done(engine, log, outcome);
            }
            return true;
        }
        let Some(i) = self
            .slots
            .iter()
            .position(|s| s.running.as_ref().and_then(InFlight::pid) == Some(pid))
        else {
            return false;
        };
        let outcome = self.slots[i]
            .running
            .take()
            .expect("checked above")
            .reaped(status);
        if !exited {
            self.result(engine, log, i, outcome);
        }
        true
    }

    /// A hook finished: `postStart` lets the probes begin or kills the container; `preStop`
    /// lets the stop signal go.
    fn hook_done(&mut self, engine: &mut Engine, log: &mut LogWriter, outcome: Outcome) {
        match self.phase {
            Phase::PostStart if outcome.passed => self.schedule(Instant::now()),
            Phase::PostStart => {
                let reason = format!("postStart hook failed: {}", outcome.message);
                self.kill(engine, log, reason);
            }
            Phase::Killing { kill_at: None, .. } => {
                if !outcome.passed {
                    let line = format!("oxpod: preStop hook failed: {}\n", outcome.message);
                    let _ = log.write(Stream::Stderr, line.as_bytes());
                }
                self.signal_stop(Instant::now());
            }
            _ => {}
        }
    }

    /// One result of probe `i`.
    fn result(&mut self, engine: &mut Engine, log: &mut LogWriter, i: usize, outcome: Outcome) {
        if !matches!(self.phase, Phase::Probing) {
            return;
        }
        let kind = self.slots[i].kind;
        let Some(state) = self.slots[i].tracker.record(outcome.passed) else {
            return;
        };
        match (kind, state) {
            (ProbeKind::Startup, true) => {
                self.slots[i].done = true;
                self.slots[i].next = None;
                self.schedule(Instant::now());
                let has_readiness = self.slots.iter().any(|s| s.kind == ProbeKind::Readiness);
                if !has_readiness {
                    self.set_ready(engine, true);
                }
            }
            (ProbeKind::Startup | ProbeKind::Liveness, false) => {
                let reason = format!("{} probe failed: {}", kind.as_str(), outcome.message);
                self.kill(engine, log, reason);
            }
            (ProbeKind::Readiness, state) => self.set_ready(engine, state),
            (ProbeKind::Liveness, true) => {}
        }
    }

    fn set_ready(&mut self, engine: &mut Engine, ready: bool) {
        if self.ready == Some(ready) {
            return;
        }
        self.ready = Some(ready);
        if let Err(e) = engine
            .store
            .write(|tx| write::set_ready(tx, &self.runner.id, Some(ready)))
        {
            tracing::warn!("recording readiness: {e}");
        }
        if let Err(e) = engine.refresh_service_endpoints() {
            tracing::warn!("updating Service endpoints: {e}");
        }
    }

    /// Kill the container as the kubelet does: say why in its log, run `preStop`, send the
    /// stop signal, SIGKILL after the grace period. A stop already asked for (`oxpod stop`)
    /// has the last word instead.
    fn kill(&mut self, engine: &mut Engine, log: &mut LogWriter, reason: String) {
        if matches!(self.phase, Phase::Killing { .. } | Phase::Done) {
            return;
        }
        let stopping = engine
            .store
            .container(&self.runner.id)
            .ok()
            .flatten()
            .is_none_or(|c| c.stop_requested);
        if stopping {
            self.phase = Phase::Done;
            return;
        }
        let _ = log.flush_partial();
        let _ = log.write(Stream::Stderr, format!("oxpod: {reason}\n").as_bytes());
        self.killed = true;
        let now = Instant::now();
        self.phase = Phase::Killing {
            since: now,
            kill_at: None,
        };
        for slot in &mut self.slots {
            if let Some(running) = slot.running.take() {
                running.abandon();
            }
        }
        if self.ready == Some(true) {
            self.set_ready(engine, false);
        }
        if let Some(hook) = self.hook.take() {
            hook.abandon();
        }
        match &self.pre_stop {
            Some(action) if !self.grace.is_zero() => match self.runner.start(action, self.grace) {
                Ok(running) => self.hook = Some(running),
                Err(outcome) => self.hook_done(engine, log, outcome),
            },
            _ => self.signal_stop(now),
        }
    }

    /// Send the stop signal; SIGKILL follows at the end of the grace period.
    fn signal_stop(&mut self, now: Instant) {
        let Phase::Killing { since, .. } = self.phase else {
            return;
        };
        let _ = process::signal(self.pid, self.stop_signal);
        let kill_at = if self.grace.is_zero() {
            now
        } else {
            (since + self.grace).max(now + MIN_KILL_GRACE.min(self.grace))
        };
        self.phase = Phase::Killing {
            since,
            kill_at: Some(kill_at),
        };
    }
}

/// Whether `pid` (our child) has exited but is not reaped yet.
fn exited_unreaped(pid: i32) -> bool {
    use nix::sys::wait::{Id, WaitPidFlag, waitid};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    matches!(
        waitid(Id::Pid(Pid::from_raw(pid)), flags),
        Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(code: i32, output: &str) -> health::HealthLogEntry {
        health::HealthLogEntry {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: output.into(),
        }
    }

    #[test]
    fn exec_outcomes_say_what_failed() {
        let cmd = vec!["cat".to_string(), "/tmp/healthy".to_string()];
        assert!(exec_outcome(entry(0, "ok\n"), false, &cmd).passed);
        assert_eq!(
            exec_outcome(entry(1, "cat: can't open '/tmp/healthy'\n"), false, &cmd).message,
            "command \"cat /tmp/healthy\" exited with 1: cat: can't open '/tmp/healthy'"
        );
        assert_eq!(
            exec_outcome(entry(-1, "Health check exceeded timeout (1s)"), true, &cmd).message,
            "command \"cat /tmp/healthy\" timed out"
        );
        assert_eq!(
            exec_outcome(entry(-1, "starting the health check: boom"), false, &cmd).message,
            "starting the health check: boom"
        );
    }

    #[test]
    fn sleeps_are_bounded_by_the_timeout() {
        let runner = Runner {
            id: "x".into(),
            state_root: PathBuf::from("/nonexistent"),
            exec: false,
            process: CheckProcess::default(),
            target: Target {
                netns: None,
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            },
        };
        let started = Instant::now();
        let outcome = runner
            .start(
                &ProbeAction::Sleep { seconds: 60 },
                Duration::from_millis(50),
            )
            .ok()
            .unwrap()
            .wait();
        assert!(outcome.passed);
        assert!(started.elapsed() < Duration::from_secs(5));
        let exec = ProbeAction::Exec {
            command: vec!["true".into()],
        };
        let refused = runner.start(&exec, Duration::from_secs(1)).err().unwrap();
        assert!(refused.message.contains("built-in runtime"), "{refused:?}");
    }
}
