//! Container logs in the CRI format Kubernetes uses, as Podman's `k8s-file` driver writes them:
//!
//! ```text
//! 2026-11-28T13:45:21.123456789Z stdout F a whole line
//! 2026-11-28T13:45:21.123456789Z stderr P the first 16 KiB of a longer line
//! ```
//!
//! The monitor writes through [`LogWriter`]; `oxpod logs` reads with [`read_logs`] or
//! [`follow_logs`], which put `P` chunks back together and send each stream to its own output.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, TimeDelta, Utc};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// Longest content of one record; longer lines are split into `P` records (as conmon does).
pub const DEFAULT_MAX_LINE: usize = 16 * 1024;

/// How long [`follow_logs`] waits for a change before asking `stop()` again.
const FOLLOW_RECHECK: Duration = Duration::from_millis(250);

/// Read size, forwards and backwards.
const BLOCK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("opening log file {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("writing log file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("reading log file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("watching log file {path}: {source}")]
    Watch { path: PathBuf, source: nix::Error },
    /// Writing to the caller's outputs failed; a broken pipe here is not worth reporting.
    #[error("writing logs: {0}")]
    Output(#[source] io::Error),
    #[error(
        "invalid time value {value:?}: expected an RFC3339 timestamp, a date (2006-01-02), \
         Unix seconds or a duration (10m, 1h30m)"
    )]
    InvalidTime { value: String },
}

/// The container output a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn parse(s: &[u8]) -> Option<Self> {
        match s {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// Appends records to a container's log file. Owned by the single-threaded monitor.
#[derive(Debug)]
pub struct LogWriter {
    file: File,
    path: PathBuf,
    max_line: usize,
    /// The unterminated end of each stream's output, at most `max_line` bytes.
    pending: [Vec<u8>; 2],
    /// Records of one call, written with one syscall.
    out: Vec<u8>,
}

impl LogWriter {
    /// Open `path` for appending, creating it with mode 0640.
    pub fn open(path: &Path) -> Result<Self, LogError> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)
            .map_err(|source| LogError::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok(LogWriter {
            file,
            path: path.to_owned(),
            max_line: DEFAULT_MAX_LINE,
            pending: [Vec::new(), Vec::new()],
            out: Vec::with_capacity(BLOCK),
        })
    }

    /// Split lines longer than `max` bytes (at least 1) into `P` records.
    pub fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max.max(1);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Log a chunk of `stream`'s output: a record per complete line, the unterminated rest kept
    /// until its newline arrives, [`flush_partial`](Self::flush_partial) is called, or it
    /// exceeds the maximum line size.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> Result<(), LogError> {
        let max = self.max_line;
        let mut pending = std::mem::take(&mut self.pending[stream.index()]);
        let mut stamp = None;
        let mut rest = data;
        while let Some(nl) = find_byte(b'\n', rest) {
            let stamp = stamp.get_or_insert_with(now_stamp);
            push_line(&mut self.out, stamp, stream, max, &pending, &rest[..nl]);
            pending.clear();
            rest = &rest[nl + 1..];
        }
        pending.extend_from_slice(rest);
        if pending.len() > max {
            let stamp = stamp.get_or_insert_with(now_stamp);
            let mut start = 0;
            while pending.len() - start > max {
                push_record(
                    &mut self.out,
                    stamp,
                    stream,
                    b'P',
                    &pending[start..start + max],
                    &[],
                );
                start += max;
            }
            pending.drain(..start);
        }
        self.pending[stream.index()] = pending;
        self.write_out()
    }

    /// Write what is buffered of unterminated lines as `P` records: at container exit, so the
    /// last line is not lost, or when output has been quiet, so `logs -f` shows a prompt.
    pub fn flush_partial(&mut self) -> Result<(), LogError> {
        if self.pending.iter().all(Vec::is_empty) {
            return Ok(());
        }
        let stamp = now_stamp();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let pending = &mut self.pending[stream.index()];
            if !pending.is_empty() {
                push_record(&mut self.out, &stamp, stream, b'P', pending, &[]);
                pending.clear();
            }
        }
        self.write_out()
    }

    fn write_out(&mut self) -> Result<(), LogError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = self.file.write_all(&self.out);
        self.out.clear();
        // One huge chunk should not pin its buffer for the container's lifetime.
        self.out.shrink_to(BLOCK);
        result.map_err(|source| LogError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

fn now_stamp() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Records for the line `head` + `tail`: `P` chunks of `max` bytes, then the rest as `F`.
fn push_line(out: &mut Vec<u8>, stamp: &str, stream: Stream, max: usize, head: &[u8], tail: &[u8]) {
    let (mut a, mut b) = (head, tail);
    while a.len() + b.len() > max {
        let from_a = a.len().min(max);
        let from_b = max - from_a;
        push_record(out, stamp, stream, b'P', &a[..from_a], &b[..from_b]);
        a = &a[from_a..];
        b = &b[from_b..];
    }
    push_record(out, stamp, stream, b'F', a, b);
}

fn push_record(out: &mut Vec<u8>, stamp: &str, stream: Stream, tag: u8, a: &[u8], b: &[u8]) {
    let name = stream.as_str().as_bytes();
    out.reserve(stamp.len() + name.len() + a.len() + b.len() + 5);
    out.extend_from_slice(stamp.as_bytes());
    out.push(b' ');
    out.extend_from_slice(name);
    out.extend_from_slice(&[b' ', tag, b' ']);
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out.push(b'\n');
}

/// The first `needle` in `hay`, eight bytes at a time (the zero-byte test of memchr).
fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let repeated = LO * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")) ^ repeated;
        // The lowest flagged byte is exact; only bytes above a match can be false positives.
        let zero = word.wrapping_sub(LO) & !word & HI;
        if zero != 0 {
            return Some(offset + (zero.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| offset + p)
}

/// What `oxpod logs` selects and how it prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Only lines logged after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only lines logged before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only the last N lines (counted before `since`/`until`, as Podman does).
    pub tail: Option<usize>,
    /// Prefix each line with its timestamp.
    pub timestamps: bool,
}

/// One parsed line of the log file, borrowing its content.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Record<'a> {
    time: DateTime<FixedOffset>,
    stream: Stream,
    partial: bool,
    content: &'a [u8],
}

/// Parse one line of the file (without its newline); `None` when it is not a record.
fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    let mut fields = line.splitn(4, |&b| b == b' ');
    let time = std::str::from_utf8(fields.next()?).ok()?;
    let time = DateTime::parse_from_rfc3339(time).ok()?;
    let stream = Stream::parse(fields.next()?)?;
    // CRI tags are ':'-separated; the first says whether the line goes on.
    let partial = match fields.next()?.split(|&b| b == b':').next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    let content = fields.next().unwrap_or_default();
    Some(Record {
        time,
        stream,
        partial,
        content,
    })
}

/// Puts `P` chunks back together, per stream, and hands whole lines to the printer.
#[derive(Default)]
struct Assembler {
    pending: [Vec<u8>; 2],
    /// Time of the last chunk of an unfinished line.
    pending_time: [Option<DateTime<FixedOffset>>; 2],
}

impl Assembler {
    fn push(&mut self, rec: Record<'_>, printer: &mut Printer<'_>) -> Result<(), LogError> {
        let i = rec.stream.index();
        if rec.partial {
            self.pending[i].extend_from_slice(rec.content);
            self.pending_time[i] = Some(rec.time);
            return Ok(());
        }
        // A line carries the time of its last record, as in Podman.
        self.pending_time[i] = None;
        if self.pending[i].is_empty() {
            return printer.line(rec.time, rec.stream, rec.content, true);
        }
        let mut line = std::mem::take(&mut self.pending[i]);
        line.extend_from_slice(rec.content);
        let result = printer.line(rec.time, rec.stream, &line, true);
        line.clear();
        self.pending[i] = line;
        result
    }

    /// Print unfinished lines (the container exited mid-line) without a newline.
    fn finish(&mut self, printer: &mut Printer<'_>) -> Result<(), LogError> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let i = stream.index();
            if let Some(time) = self.pending_time[i].take() {
                let line = std::mem::take(&mut self.pending[i]);
                printer.line(time, stream, &line, false)?;
            }
        }
        Ok(())
    }
}

/// Filters lines by time and writes them to the stream's output.
struct Printer<'o> {
    opts: &'o LogOptions,
    outs: [BufWriter<&'o mut dyn Write>; 2],
    /// A line at or after `until` was seen: nothing later can match.
    past_until: bool,
}

impl<'o> Printer<'o> {
    fn new(opts: &'o LogOptions, stdout: &'o mut dyn Write, stderr: &'o mut dyn Write) -> Self {
        Printer {
            opts,
            outs: [
                BufWriter::with_capacity(BLOCK, stdout),
                BufWriter::with_capacity(BLOCK, stderr),
            ],
            past_until: false,
        }
    }

    fn line(
        &mut self,
        time: DateTime<FixedOffset>,
        stream: Stream,
        content: &[u8],
        complete: bool,
    ) -> Result<(), LogError> {
        // Strict bounds, as Podman's LogLine.Since/Until.
        if self.opts.since.is_some_and(|since| time <= since) {
            return Ok(());
        }
        if self.opts.until.is_some_and(|until| time >= until) {
            self.past_until = true;
            return Ok(());
        }
        let i = stream.index();
        // Both outputs are often one terminal: keep their order by flushing the other first.
        if !self.outs[1 - i].buffer().is_empty() {
            self.outs[1 - i].flush().map_err(LogError::Output)?;
        }
        let out = &mut self.outs[i];
        let mut write = || -> io::Result<()> {
            if self.opts.timestamps {
                out.write_all(time.to_rfc3339_opts(SecondsFormat::Nanos, true).as_bytes())?;
                out.write_all(b" ")?;
            }
            out.write_all(content)?;
            if complete {
                out.write_all(b"\n")?;
            }
            Ok(())
        };
        write().map_err(LogError::Output)
    }

    fn flush(&mut self) -> Result<(), LogError> {
        for out in &mut self.outs {
            out.flush().map_err(LogError::Output)?;
        }
        Ok(())
    }
}

/// Reads a log file forwards, record by record, keeping a torn last record for the next call.
struct RecordReader {
    file: File,
    path: PathBuf,
    buf: Vec<u8>,
}

impl RecordReader {
    fn open(path: &Path, offset: u64) -> Result<Self, LogError> {
        let file = File::open(path).map_err(|source| LogError::Open {
            path: path.to_owned(),
            source,
        })?;
        let mut reader = RecordReader {
            file,
            path: path.to_owned(),
            buf: Vec::new(),
        };
        if offset > 0 {
            use std::io::Seek;
            reader
                .file
                .seek(io::SeekFrom::Start(offset))
                .map_err(|e| reader.read_error(e))?;
        }
        Ok(reader)
    }

    fn read_error(&self, source: io::Error) -> LogError {
        LogError::Read {
            path: self.path.clone(),
            source,
        }
    }

    /// Hand each complete record appended since the last call to `each`; returns the number
    /// of bytes read.
    fn read_available(
        &mut self,
        mut each: impl FnMut(&[u8]) -> Result<(), LogError>,
    ) -> Result<u64, LogError> {
        let mut total = 0;
        loop {
            let old = self.buf.len();
            self.buf.resize(old + BLOCK, 0);
            let n = loop {
                match self.file.read(&mut self.buf[old..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(self.read_error(e));
                }
            };
            self.buf.truncate(old + n);
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
            // Search only the new bytes: the kept tail has no newline.
            let mut start = 0;
            let mut from = old;
            while let Some(k) = find_byte(b'\n', &self.buf[from..]) {
                each(&self.buf[start..from + k])?;
                start = from + k + 1;
                from = start;
            }
            self.buf.drain(..start);
        }
    }
}

/// Reads a log file backwards, record by record, a block at a time.
struct BackwardReader<'f> {
    file: &'f File,
    /// `buf` holds the file's bytes from `pos`; what lies before is not read yet.
    pos: u64,
    buf: Vec<u8>,
    bytes_read: u64,
}

impl<'f> BackwardReader<'f> {
    /// Start at the end of the last complete record before `len`.
    fn new(file: &'f File, len: u64) -> io::Result<Self> {
        let mut reader = BackwardReader {
            file,
            pos: len,
            buf: Vec::new(),
            bytes_read: 0,
        };
        loop {
            if let Some(nl) = reader.buf.iter().rposition(|&b| b == b'\n') {
                reader.buf.truncate(nl + 1);
                return Ok(reader);
            }
            if !reader.load_block()? {
                reader.buf.clear();
                return Ok(reader);
            }
        }
    }

    /// File offset just past the last record this reader will return.
    fn end(&self) -> u64 {
        self.pos + self.buf.len() as u64
    }

    /// Prepend the block before `pos`; false at the start of the file.
    fn load_block(&mut self) -> io::Result<bool> {
        if self.pos == 0 {
            return Ok(false);
        }
        let size = self.pos.min(BLOCK as u64);
        let mut block = vec![0; size as usize];
        self.file.read_exact_at(&mut block, self.pos - size)?;
        self.bytes_read += size;
        self.pos -= size;
        block.extend_from_slice(&self.buf);
        self.buf = block;
        Ok(true)
    }

    /// The record before the ones already returned, without its newline.
    fn next_back(&mut self) -> io::Result<Option<Vec<u8>>> {
        // `buf` ends with the newline of the record to return.
        let Some(mut body_len) = self.buf.len().checked_sub(1) else {
            return Ok(None);
        };
        let mut search_end = body_len;
        loop {
            if let Some(nl) = self.buf[..search_end].iter().rposition(|&b| b == b'\n') {
                let record = self.buf[nl + 1..body_len].to_vec();
                self.buf.truncate(nl + 1);
                return Ok(Some(record));
            }
            let before = self.buf.len();
            if !self.load_block()? {
                let record = self.buf[..body_len].to_vec();
                self.buf.clear();
                return Ok(Some(record));
            }
            // Only the prepended block is new; the rest was searched already.
            search_end = self.buf.len() - before;
            body_len += search_end;
        }
    }
}

/// The records making up the last `n` lines of the file (`P` chunks included, in file order),
/// and the offset following them, reading the file from its end.
fn tail_records(file: &File, len: u64, n: usize) -> io::Result<(Vec<Vec<u8>>, u64, u64)> {
    let mut back = BackwardReader::new(file, len)?;
    let resume = back.end();
    let mut picked = Vec::new();
    if n == 0 {
        return Ok((picked, resume, back.bytes_read));
    }
    let mut lines = 0;
    // Per stream: a record was taken; no earlier record can belong to the tail.
    let mut seen = [false; 2];
    let mut closed = [false; 2];
    while let Some(raw) = back.next_back()? {
        let Some(rec) = parse_record(&raw) else {
            continue;
        };
        let i = rec.stream.index();
        if closed[i] {
            continue;
        }
        // Read backwards, an `F` ends a line, and so does a stream's last chunk of all.
        let ends_line = !rec.partial || !seen[i];
        if ends_line {
            if lines == n {
                closed[i] = true;
                if closed.iter().all(|&c| c) {
                    break;
                }
                continue;
            }
            lines += 1;
        }
        seen[i] = true;
        picked.push(raw);
        if lines == n {
            for j in 0..2 {
                closed[j] |= !seen[j];
            }
            if closed.iter().all(|&c| c) {
                break;
            }
        }
    }
    picked.reverse();
    Ok((picked, resume, back.bytes_read))
}

/// Print the lines the file holds now, as `oxpod logs` without `--follow`.
pub fn read_logs(
    path: &Path,
    opts: &LogOptions,
    out_stdout: &mut dyn Write,
    out_stderr: &mut dyn Write,
) -> Result<(), LogError> {
    let mut printer = Printer::new(opts, out_stdout, out_stderr);
    let mut assembler = Assembler::default();
    let mut reader = start_reading(path, opts, &mut assembler, &mut printer)?;
    reader.read_available(|line| push_raw(line, &mut assembler, &mut printer))?;
    assembler.finish(&mut printer)?;
    printer.flush()
}

/// Print the log as [`read_logs`] does, then keep printing what is appended until `stop()`
/// says the container has exited and the file is drained, or `until` has passed. A missing
/// file is waited for. Changes are waited for with inotify; `stop()` is asked again at least
/// every quarter of a second.
pub fn follow_logs(
    path: &Path,
    opts: &LogOptions,
    out_stdout: &mut dyn Write,
    out_stderr: &mut dyn Write,
    stop: impl Fn() -> bool,
) -> Result<(), LogError> {
    let watch_error = |source| LogError::Watch {
        path: path.to_owned(),
        source,
    };
    let inotify =
        Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(watch_error)?;
    // Watch the directory: it reports writes to the file and the file's creation alike.
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    inotify
        .add_watch(
            dir,
            AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
        )
        .map_err(watch_error)?;
    let wait = || -> Result<(), LogError> {
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(FOLLOW_RECHECK).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(watch_error(e)),
        }
        // Drain the queue: one pass over the file covers every event so far.
        loop {
            match inotify.read_events() {
                Ok(events) if !events.is_empty() => continue,
                Ok(_) | Err(nix::errno::Errno::EAGAIN) => return Ok(()),
                Err(e) => return Err(watch_error(e)),
            }
        }
    };

    while !path.exists() {
        if stop() {
            return Ok(());
        }
        wait()?;
    }

    let mut printer = Printer::new(opts, out_stdout, out_stderr);
    let mut assembler = Assembler::default();
    let mut reader = start_reading(path, opts, &mut assembler, &mut printer)?;
    loop {
        // Ask before reading: whatever was written before the container exited is then read.
        let stopped = stop();
        let read = reader.read_available(|line| push_raw(line, &mut assembler, &mut printer))?;
        let until_passed = printer.past_until || opts.until.is_some_and(|u| Utc::now() >= u);
        if until_passed || (read == 0 && stopped) {
            break;
        }
        if read == 0 {
            printer.flush()?;
            wait()?;
        }
    }
    assembler.finish(&mut printer)?;
    printer.flush()
}

fn push_raw(
    line: &[u8],
    assembler: &mut Assembler,
    printer: &mut Printer<'_>,
) -> Result<(), LogError> {
    match parse_record(line) {
        Some(rec) => assembler.push(rec, printer),
        None => Ok(()),
    }
}

/// Open the file and print its `--tail` when asked; returns the reader positioned after what
/// was printed.
fn start_reading(
    path: &Path,
    opts: &LogOptions,
    assembler: &mut Assembler,
    printer: &mut Printer<'_>,
) -> Result<RecordReader, LogError> {
    let Some(n) = opts.tail else {
        return RecordReader::open(path, 0);
    };
    let read_error = |source| LogError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(|source| LogError::Open {
        path: path.to_owned(),
        source,
    })?;
    let len = file.metadata().map_err(read_error)?.len();
    let (records, resume, _) = tail_records(&file, len, n).map_err(read_error)?;
    for raw in &records {
        push_raw(raw, assembler, printer)?;
    }
    RecordReader::open(path, resume)
}

/// Parse a `--since`/`--until` value as Podman does: an RFC3339 timestamp, a date-time without
/// zone (UTC), `2006-01-02` or `2006-01-02Z07:00`, Unix seconds with an optional fraction, or
/// a Go duration counted back from `now` (`10m`, `1h30m`, `1.5h`).
pub fn parse_time_filter(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, LogError> {
    let s = s.trim();
    let invalid = || LogError::InvalidTime {
        value: s.to_owned(),
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_utc());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(t.and_utc());
    }
    if let Some((date, zone)) = s.split_at_checked(10)
        && let Ok(date) = NaiveDate::parse_from_str(date, "%Y-%m-%d")
    {
        let midnight = date.and_hms_opt(0, 0, 0).ok_or_else(invalid)?;
        if zone.is_empty() || zone == "Z" {
            return Ok(midnight.and_utc());
        }
        let offset = parse_offset(zone).ok_or_else(invalid)?;
        let local = midnight
            .and_local_timezone(offset)
            .single()
            .ok_or_else(invalid)?;
        return Ok(local.to_utc());
    }
    if let Some(t) = parse_unix_seconds(s) {
        return Ok(t);
    }
    let delta = parse_go_duration(s).ok_or_else(invalid)?;
    now.checked_sub_signed(delta).ok_or_else(invalid)
}

/// `+07:00` / `-07:00`.
fn parse_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let secs = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
    FixedOffset::east_opt(sign * secs)
}

/// `1700000000` or `1700000000.123456789`, parsed exactly rather than through a float.
fn parse_unix_seconds(s: &str) -> Option<DateTime<Utc>> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let digits = &frac[..frac.len().min(9)];
    let nanos = if digits.is_empty() {
        0
    } else {
        digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
    };
    DateTime::from_timestamp(secs, nanos)
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?unit)+` or `0`.
fn parse_go_duration(s: &str) -> Option<TimeDelta> {
    let (negative, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(TimeDelta::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(after) => {
                let n = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(n)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let unit_ns: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            _ => return None,
        };
        let int: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        total = total.checked_add(int.checked_mul(unit_ns)?)?;
        // Keep at most 18 fraction digits: beyond that they are below a nanosecond anyway.
        let frac = &frac[..frac.len().min(18)];
        if !frac.is_empty() {
            let scale = 10i128.pow(frac.len() as u32);
            total = total.checked_add(frac.parse::<i128>().ok()? * unit_ns / scale)?;
        }
        rest = after;
    }
    let total = if negative { -total } else { total };
    let secs = i64::try_from(total.div_euclid(1_000_000_000)).ok()?;
    let nanos = total.rem_euclid(1_000_000_000) as u32;
    TimeDelta::new(secs, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn read_all(path: &Path, opts: &LogOptions) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        read_logs(path, opts, &mut out, &mut err).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    fn log_path() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        (dir, path)
    }

    /// `<YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ> <stdout|stderr> <P|F> <content>`, checked by hand.
    fn assert_record_format(line: &str, max: usize) {
        let b = line.as_bytes();
        assert!(b.len() >= 30 + 1 + 6 + 3, "short record {line:?}");
        for (i, &c) in b[..30].iter().enumerate() {
            let ok = match i {
                4 | 7 => c == b'-',
                10 => c == b'T',
                13 | 16 => c == b':',
                19 => c == b'.',
                29 => c == b'Z',
                _ => c.is_ascii_digit(),
            };
            assert!(ok, "bad timestamp byte {i} in {line:?}");
        }
        assert!(line[31..].starts_with("stdout ") || line[31..].starts_with("stderr "));
        assert!(
            matches!(&line[37..40], " F " | " P "),
            "bad tag in {line:?}"
        );
        assert!(
            line.len() - 40 <= max,
            "record longer than the maximum: {line:?}"
        );
        assert!(DateTime::parse_from_rfc3339(&line[..30]).is_ok());
    }

    #[test]
    fn find_byte_matches_position() {
        let hay: Vec<u8> = (0..200u8).map(|i| i % 97).collect();
        for needle in [0u8, 1, 7, 8, 9, 50, 96, 97, 255] {
            for start in 0..20 {
                let h = &hay[start..];
                assert_eq!(
                    find_byte(needle, h),
                    h.iter().position(|&b| b == needle),
                    "needle {needle} start {start}"
                );
            }
        }
        assert_eq!(find_byte(b'\n', b""), None);
        assert_eq!(find_byte(0x80, &[0x00, 0x80, 0x80]), Some(1));
    }

    #[test]
    fn every_record_has_the_cri_format() {
        let (_dir, path) = log_path();
        let mut w = LogWriter::open(&path).unwrap().with_max_line(10);
        w.write(Stream::Stdout, b"hello world\nshort\n\n").unwrap();
        w.write(Stream::Stderr, b"oops").unwrap();
        w.write(Stream::Stdout, b"x".repeat(35).as_slice()).unwrap();
        w.flush_partial().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'));
        let records: Vec<&str> = text.lines().collect();
        for r in &records {
            assert_record_format(r, 10);
        }
        let tails: Vec<&str> = records.iter().map(|r| &r[31..]).collect();
        assert_eq!(
            tails,
            [
                "stdout P hello worl",
                "stdout F d",
                "stdout F short",
                "stdout F ",
                "stdout P xxxxxxxxxx",
                "stdout P xxxxxxxxxx",
                "stdout P xxxxxxxxxx",
                "stdout P xxxxx",
                "stderr P oops",
            ]
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777 & !0o640, 0, "mode {mode:o} is wider than 0640");
    }

    #[test]
    fn exact_max_line_is_one_full_record() {
        let (_dir, path) = log_path();
        let mut w = LogWriter::open(&path).unwrap().with_max_line(4);
        w.write(Stream::Stdout, b"abcd\nab").unwrap();
        w.write(Stream::Stdout, b"cd\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let tails: Vec<&str> = text.lines().map(|r| &r[31..]).collect();
        assert_eq!(tails, ["stdout F abcd", "stdout F abcd"]);
    }

    #[test]
    fn long_lines_round_trip() {
        let (_dir, path) = log_path();
        let mut w = LogWriter::open(&path).unwrap().with_max_line(16);
        let long = "0123456789".repeat(20);
        let mut expected = String::new();
        // Written in odd-sized pieces so lines cross chunk boundaries.
        let input = format!("{long}\nshort line\n{long}{long}\nend\n");
        for piece in input.as_bytes().chunks(7) {
            w.write(Stream::Stdout, piece).unwrap();
        }
        expected.push_str(&input);
        let (out, err) = read_all(&path, &LogOptions::default());
        assert_eq!(out, expected);
        assert_eq!(err, "");
        let records = std::fs::read_to_string(&path).unwrap();
        assert!(records.lines().any(|r| r[31..].starts_with("stdout P ")));
    }

    #[test]
    fn missing_trailing_newline_is_readable_after_flush() {
        let (_dir, path) = log_path();
        let mut w = LogWriter::open(&path).unwrap();
        w.write(Stream::Stdout, b"first\nno newline at exit")
            .unwrap();
        let (out, _) = read_all(&path, &LogOptions::default());
        assert_eq!(out, "first\n", "the unterminated rest stays buffered");
        w.flush_partial().unwrap();
        let (out, _) = read_all(&path, &LogOptions::default());
        assert_eq!(out, "first\nno newline at exit");
    }

    #[test]
    fn interleaved_streams_go_to_their_outputs() {
        let (_dir, path) = log_path();
        let mut w = LogWriter::open(&path).unwrap().with_max_line(8);
        w.write(Stream::Stdout, b"out-1\nout-2 is a long").unwrap();
        w.write(Stream::Stderr, b"err-1\n").unwrap();
        w.write(Stream::Stdout, b" line\n").unwrap();
        w.write(Stream::Stderr, b"err-2 is also long\n").unwrap();
        let (out, err) = read_all(&path, &LogOptions::default());
        assert_eq!(out, "out-1\nout-2 is a long line\n");
        assert_eq!(err, "err-1\nerr-2 is also long\n");

        // One output for both streams (a terminal) keeps the order of the file.
        struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.borrow_mut().write(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let both = std::rc::Rc::default();
        let (mut a, mut b) = (
            Shared(std::rc::Rc::clone(&both)),
            Shared(std::rc::Rc::clone(&both)),
        );
        read_logs(&path, &LogOptions::default(), &mut a, &mut b).unwrap();
        assert_eq!(
            String::from_utf8(both.take()).unwrap(),
            "out-1\nerr-1\nout-2 is a long line\nerr-2 is also long\n"
        );
    }

    fn write_fixture(path: &Path, lines: &[(&str, &str, &str, &str)]) {
        let text: String = lines
            .iter()
            .map(|(t, s, tag, c)| format!("{t} {s} {tag} {c}\n"))
            .collect();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn since_until_and_timestamps() {
        let (_dir, path) = log_path();
        write_fixture(
            &path,
            &[
                ("2026-01-01T00:00:01.000000000Z", "stdout", "F", "one"),
                ("2026-01-01T00:00:02.000000000Z", "stdout", "P", "tw"),
                ("2026-01-01T00:00:03.000000000Z", "stdout", "F", "o"),
                ("2026-01-01T00:00:04.000000000Z", "stderr", "F", "three"),
                // Other writers (conmon) use a local offset: 00:00:05Z.
                ("2026-01-01T01:00:05.5+01:00", "stdout", "F", "four"),
            ],
        );
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let opts = LogOptions {
            since: Some(at("2026-01-01T00:00:02Z")),
            until: Some(at("2026-01-01T00:00:05.6Z")),
            ..Default::default()
        };
        let (out, err) = read_all(&path, &opts);
        assert_eq!(out, "two\nfour\n", "a line has the time of its last chunk");
        assert_eq!(err, "three\n");

        let opts = LogOptions {
            until: Some(at("2026-01-01T00:00:03Z")),
            timestamps: true,
            ..Default::default()
        };
        let (out, _) = read_all(&path, &opts);
        assert_eq!(out, "2026-01-01T00:00:01.000000000Z one\n");

        let opts = LogOptions {
            since: Some(at("2026-01-01T00:00:04Z")),
            timestamps: true,
            ..Default::default()
        };
        let (out, _) = read_all(&path, &opts);
        assert_eq!(out, "2026-01-01T01:00:05.500000000+01:00 four\n");
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let (_dir, path) = log_path();
        let mut text = String::new();
        text.push_str("2026-01-01T00:00:01.000000000Z stdout F good one\n");
        text.push_str("garbage\n\n");
        text.push_str("not-a-time stdout F x\n");
        text.push_str("2026-01-01T00:00:01Z stdin F wrong stream\n");
        text.push_str("2026-01-01T00:00:01Z stdout X wrong tag\n");
        text.push_str("2026-01-01T00:00:01Z stdout\n");
        text.push_str("2026-01-01T00:00:01Z stdout F:tag keeps  spaces \n");
        text.push_str("2026-01-01T00:00:01Z stdout F\n");
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(b"\xff\xfe stdout F \xff\n");
        bytes.extend_from_slice(b"2026-01-01T00:00:02Z stderr F torn, no newline");
        std::fs::write(&path, &bytes).unwrap();
        let (out, err) = read_all(&path, &LogOptions::default());
        assert_eq!(out, "good one\nkeeps  spaces \n\n");
        assert_eq!(err, "");
        for tail in 0..10 {
            let opts = LogOptions {
                tail: Some(tail),
                ..Default::default()
            };
            let (out, _) = read_all(&path, &opts);
            let want: Vec<&str> = ["good one", "keeps  spaces ", ""]
                .into_iter()
                .rev()
                .take(tail)
                .collect();
            let want: String = want.into_iter().rev().map(|l| format!("{l}\n")).collect();
            assert_eq!(out, want, "tail {tail}");
        }
    }

    #[test]
    fn tail_counts_lines_not_records() {
        let (_dir, path) = log_path();
        let mut w = LogWriter::open(&path).unwrap().with_max_line(4);
        w.write(Stream::Stdout, b"aaaaaaaaaa\n").unwrap();
        w.write(Stream::Stdout, b"bbbbbbbbbb").unwrap();
        w.write(Stream::Stderr, b"e1\ne2 long\n").unwrap();
        w.write(Stream::Stdout, b"b\nc\nunfinished").unwrap();
        w.flush_partial().unwrap();
        let tail = |n| {
            let opts = LogOptions {
                tail: Some(n),
                ..Default::default()
            };
            read_all(&path, &opts)
        };
        assert_eq!(tail(0), (String::new(), String::new()));
        assert_eq!(tail(1), ("unfinished".into(), String::new()));
        assert_eq!(tail(2), ("c\nunfinished".into(), String::new()));
        // "bbbbbbbbbbb" began before the stderr lines, in P chunks.
        assert_eq!(
            tail(3),
            ("bbbbbbbbbbb\nc\nunfinished".into(), String::new())
        );
        assert_eq!(
            tail(4),
            ("bbbbbbbbbbb\nc\nunfinished".into(), "e2 long\n".into())
        );
        let all = (
            "aaaaaaaaaa\nbbbbbbbbbbb\nc\nunfinished".to_string(),
            "e1\ne2 long\n".to_string(),
        );
        assert_eq!(tail(6), all);
        assert_eq!(tail(100), all);
        assert_eq!(read_all(&path, &LogOptions::default()), all);
    }

    #[test]
    fn tail_of_a_large_log_reads_only_its_end() {
        let (_dir, path) = log_path();
        let mut w = LogWriter::open(&path).unwrap();
        let mut chunk = Vec::new();
        for i in 0..100_000 {
            chunk.extend_from_slice(format!("line {i}\n").as_bytes());
            if chunk.len() > 60_000 {
                w.write(Stream::Stdout, &chunk).unwrap();
                chunk.clear();
            }
        }
        w.write(Stream::Stdout, &chunk).unwrap();
        let opts = LogOptions {
            tail: Some(3),
            ..Default::default()
        };
        let (out, _) = read_all(&path, &opts);
        assert_eq!(out, "line 99997\nline 99998\nline 99999\n");

        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        let (records, resume, scanned) = tail_records(&file, len, 3).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(resume, len);
        assert!(len > 10 * BLOCK as u64);
        assert_eq!(scanned, BLOCK as u64, "one block from the end is enough");
    }

    #[test]
    fn backward_reader_handles_records_longer_than_a_block() {
        let (_dir, path) = log_path();
        let mut w = LogWriter::open(&path).unwrap().with_max_line(BLOCK * 3);
        let long = "y".repeat(BLOCK * 2 + 17);
        w.write(Stream::Stdout, format!("first\n{long}\nlast\n").as_bytes())
            .unwrap();
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        let mut back = BackwardReader::new(&file, len).unwrap();
        let mut contents = Vec::new();
        while let Some(r) = back.next_back().unwrap() {
            contents.push(parse_record(&r).unwrap().content.len());
        }
        assert_eq!(contents, [4, long.len(), 5]);
        let opts = LogOptions {
            tail: Some(2),
            ..Default::default()
        };
        assert_eq!(read_all(&path, &opts).0, format!("{long}\nlast\n"));
    }

    #[test]
    fn follow_prints_appended_records_until_stopped() {
        let (dir, path) = log_path();
        let stopped = Arc::new(AtomicBool::new(false));
        let writer = {
            let (path, stopped) = (path.clone(), stopped.clone());
            std::thread::spawn(move || {
                // The file does not exist yet when following starts.
                std::thread::sleep(Duration::from_millis(50));
                let mut w = LogWriter::open(&path).unwrap().with_max_line(8);
                for i in 0..50 {
                    w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                        .unwrap();
                    if i % 10 == 0 {
                        w.write(Stream::Stderr, b"a long error line\n").unwrap();
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                w.write(Stream::Stdout, b"bye").unwrap();
                w.flush_partial().unwrap();
                stopped.store(true, Ordering::SeqCst);
            })
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        follow_logs(&path, &LogOptions::default(), &mut out, &mut err, || {
            stopped.load(Ordering::SeqCst)
        })
        .unwrap();
        writer.join().unwrap();
        let want: String = (0..50).map(|i| format!("line {i}\n")).collect::<String>() + "bye";
        assert_eq!(String::from_utf8(out).unwrap(), want);
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "a long error line\n".repeat(5)
        );
        drop(dir);
    }

    #[test]
    fn follow_with_tail_starts_at_the_end() {
        let (_dir, path) = log_path();
        let mut w = LogWriter::open(&path).unwrap();
        w.write(Stream::Stdout, b"old 1\nold 2\nold 3\n").unwrap();
        let opts = LogOptions {
            tail: Some(1),
            ..Default::default()
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let calls = std::cell::Cell::new(0);
        let w = std::cell::RefCell::new(w);
        // The second check appends a line; the third says the container has exited.
        follow_logs(&path, &opts, &mut out, &mut err, || {
            calls.set(calls.get() + 1);
            if calls.get() == 2 {
                w.borrow_mut().write(Stream::Stdout, b"new\n").unwrap();
            }
            calls.get() >= 3
        })
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "old 3\nnew\n");
    }

    #[test]
    fn follow_of_a_missing_file_returns_when_stopped() {
        let (_dir, path) = log_path();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        follow_logs(&path, &LogOptions::default(), &mut out, &mut err, || true).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn time_filters_parse_like_podman() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T13:45:21Z")
            .unwrap()
            .to_utc();
        let p = |s: &str| {
            parse_time_filter(s, now)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Nanos, true)
        };
        assert_eq!(
            p("2026-11-28T13:45:21.123456789Z"),
            "2026-11-28T13:45:21.123456789Z"
        );
        assert_eq!(
            p("2026-11-28T15:45:21+02:00"),
            "2026-11-28T13:45:21.000000000Z"
        );
        assert_eq!(p("2026-11-28T13:45:21"), "2026-11-28T13:45:21.000000000Z");
        assert_eq!(p("2026-11-28T13:45:21.5"), "2026-11-28T13:45:21.500000000Z");
        assert_eq!(p("2026-11-28"), "2026-11-28T00:00:00.000000000Z");
        assert_eq!(p("2026-11-28Z"), "2026-11-28T00:00:00.000000000Z");
        assert_eq!(p("2026-11-28+01:00"), "2026-11-27T23:00:00.000000000Z");
        assert_eq!(p("1700000000"), "2023-11-14T22:13:20.000000000Z");
        assert_eq!(p("1700000000.25"), "2023-11-14T22:13:20.250000000Z");
        assert_eq!(p("10m"), "2026-11-28T13:35:21.000000000Z");
        assert_eq!(p("1h30m"), "2026-11-28T12:15:21.000000000Z");
        assert_eq!(p("2s"), "2026-11-28T13:45:19.000000000Z");
        assert_eq!(p("1.5h"), "2026-11-28T12:15:21.000000000Z");
        assert_eq!(p("250ms"), "2026-11-28T13:45:20.750000000Z");
        // A bare number is Unix seconds before it is a duration, as in Podman.
        assert_eq!(p("0"), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(p("0s"), "2026-11-28T13:45:21.000000000Z");
        assert_eq!(p(" 5s "), "2026-11-28T13:45:16.000000000Z");
        for bad in [
            "",
            "yesterday",
            "10x",
            "1h30",
            "h",
            ".s",
            "2026-13-01",
            "1.2.3",
            "-",
        ] {
            assert!(
                matches!(
                    parse_time_filter(bad, now),
                    Err(LogError::InvalidTime { .. })
                ),
                "{bad:?} should be rejected"
            );
        }
    }
}
