//! The audit log writer: one NDJSON line per record, appended and flushed before the
//! reply completes, rotated by size (`audit.log` -> `audit.log.1` -> ...).
//!
//! - **One whole line or none.** A write that fails part way (a full disk) is cut back
//!   to where the line began, so a torn line never merges with the next record.
//! - **The file it names.** A log that was deleted, renamed away or replaced (its
//!   directory too) is reopened at its path before the next record: records never go
//!   to a file nobody can see.
//! - **Bounded records.** A record is at most [`MAX_RECORD`] bytes: long argv values are
//!   shortened (with how much was cut), so one request cannot flush the history out.
//! - **A budget per agent.** One agent cannot rotate the others' history (or its own)
//!   out of the log by flooding it with requests: each agent may write a burst of
//!   1/32 of the log's capacity and then what refills at a rate that would take an
//!   hour to fill the whole log ([`Budget`]). Past its budget, the records of its
//!   requests (checks, refusals) are counted instead of written, and one record
//!   (rule `airlock.audit-budget`) says how many of which were left out; the records of
//!   its runs (start and end) are always written, with their arguments summarised.
//! - **Fails loudly.** Every error reaches the caller, which refuses to start a run whose
//!   record cannot be written.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use airlock_core::{AuditDecision, AuditRecord};

/// An append-only, size-rotated NDJSON file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    max_size: u64,
    max_files: u32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    file: File,
    /// The open file's device and inode.
    identity: (u64, u64),
    size: u64,
    budget: Budget,
}

/// What a record is, for the agent's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// The start or the end of a run: always written (summarised past the budget).
    Run,
    /// Anything else (a check, a refusal): left out past the budget, and counted.
    Request,
}

/// The rule of the record that says how many records an agent's budget left out.
pub const BUDGET_RULE: &str = "airlock.audit-budget";

/// An agent's budget is this fraction of the log's capacity, in one burst.
const BURST_FRACTION: u64 = 32;

/// An agent's budget refills at a rate that takes this long to fill the whole log.
const FILL_TIME: Duration = Duration::from_secs(3600);

/// How often, at most, an agent's left-out records are summed up while it stays over
/// its budget.
const SUMMARY_EVERY: Duration = Duration::from_secs(5);

/// Per-agent token buckets on the bytes each agent's records take in the log.
#[derive(Debug)]
struct Budget {
    /// Bytes an agent may write at once.
    burst: f64,
    /// Bytes per second its budget regains.
    rate: f64,
    accounts: BTreeMap<String, Account>,
}

#[derive(Debug)]
struct Account {
    /// Bytes it may write now (below zero after summarised run records).
    tokens: f64,
    refilled: Instant,
    /// Records left out since the last summary, by decision.
    left_out: BTreeMap<String, u64>,
    /// Their bytes.
    left_out_bytes: u64,
    /// When the first of them was left out (RFC 3339).
    since: Option<String>,
    summarised: Instant,
}

impl Budget {
    /// A budget for a log that holds `capacity` bytes over all its files.
    fn for_capacity(capacity: u64) -> Self {
        let burst = (capacity / BURST_FRACTION).max(4 * MAX_RECORD as u64);
        Self {
            burst: burst as f64,
            rate: capacity as f64 / FILL_TIME.as_secs_f64(),
            accounts: BTreeMap::new(),
        }
    }

    /// `agent`'s account, refilled to `now`.
    fn account(&mut self, agent: &str, now: Instant) -> &mut Account {
        let (burst, rate) = (self.burst, self.rate);
        let account = self
            .accounts
            .entry(agent.to_owned())
            .or_insert_with(|| Account {
                tokens: burst,
                refilled: now,
                left_out: BTreeMap::new(),
                left_out_bytes: 0,
                since: None,
                summarised: now,
            });
        let elapsed = now.saturating_duration_since(account.refilled);
        account.tokens = (account.tokens + elapsed.as_secs_f64() * rate).min(burst);
        account.refilled = now;
        account
    }
}

impl Account {
    /// The record that sums up what was left out since the last one, if anything was.
    fn summary(&mut self, agent: &str, now: Instant) -> Option<AuditRecord> {
        let since = self.since.take()?;
        let count: u64 = self.left_out.values().sum();
        let by: Vec<String> = self
            .left_out
            .iter()
            .map(|(decision, n)| format!("{n} {decision}"))
            .collect();
        let reason = format!(
            "{count} records ({} bytes) of agent `{agent}` left out since {since}, over its audit budget: {}",
            self.left_out_bytes,
            by.join(", ")
        );
        self.left_out.clear();
        self.left_out_bytes = 0;
        self.summarised = now;
        Some(AuditRecord {
            time: rfc3339(SystemTime::now()),
            agent: agent.to_owned(),
            peer: None,
            command: String::new(),
            argv: Vec::new(),
            cwd: None,
            host_cwd: None,
            confinement: None,
            reading: None,
            truncated: None,
            decision: AuditDecision::Error,
            rule: Some(BUDGET_RULE.to_owned()),
            reason: Some(reason),
            exit_code: None,
            signal: None,
            duration_ms: 0,
            bytes_in: 0,
            bytes_out: 0,
        })
    }

    fn leave_out(&mut self, record: &AuditRecord, bytes: usize) {
        let decision = serde_json::to_value(record.decision)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        *self.left_out.entry(decision).or_default() += 1;
        self.left_out_bytes += bytes as u64;
        if self.since.is_none() {
            self.since = Some(rfc3339(SystemTime::now()));
        }
    }
}

/// The most one record may take in the log.
pub const MAX_RECORD: usize = 16 * 1024;

/// Each argument and the reason are shortened to this many bytes when a record is too
/// long.
const SHORT: usize = 256;

/// A shortened record keeps this many arguments.
const MAX_ARGS: usize = 32;

impl AuditLog {
    /// Opens (creating with mode 0600) the log at `path`.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let (file, identity, size) = open_append(path)?;
        let capacity = max_size.saturating_mul(u64::from(max_files) + 1);
        Ok(Self {
            path: path.to_owned(),
            max_size,
            max_files,
            state: Mutex::new(State {
                file,
                identity,
                size,
                budget: Budget::for_capacity(capacity),
            }),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` (shortened to [`MAX_RECORD`]) as one whole line and flushes
    /// it, rotating first when it would overflow; reopens a log that is no longer the
    /// file at its path. On error nothing of the line stays in the log.
    ///
    /// Within the record's agent's budget: a record of `kind` [`RecordKind::Request`]
    /// past it is left out and counted (`Ok`: leaving it out is not a failure), one of
    /// a run is written with its arguments summarised. Before the agent's next record
    /// that is written, and at most every few seconds while it stays over its budget, a
    /// record (rule [`BUDGET_RULE`]) says what was left out.
    pub fn write(&self, record: &AuditRecord, kind: RecordKind) -> std::io::Result<()> {
        let mut line = bounded_line(record);
        let mut state = self
            .state
            .lock()
            .map_err(|_| std::io::Error::other("audit log lock poisoned"))?;
        let now = Instant::now();
        let burst = state.budget.burst;
        let account = state.budget.account(&record.agent, now);
        let within = account.tokens >= line.len() as f64;
        let (line, summary) = if !within && kind == RecordKind::Request {
            account.leave_out(record, line.len());
            let due = now.saturating_duration_since(account.summarised) >= SUMMARY_EVERY;
            let summary = if due {
                account.summary(&record.agent, now)
            } else {
                None
            };
            (None, summary)
        } else {
            if !within {
                line = summarised_line(record);
            }
            // Never more than one burst in debt: a flood of runs is summarised, and
            // the agent's budget comes back once it stops.
            account.tokens = (account.tokens - line.len() as f64).max(-burst);
            (Some(line), account.summary(&record.agent, now))
        };
        if let Some(summary) = summary {
            self.append(&mut state, &bounded_line(&summary))?;
        }
        if let Some(line) = line {
            self.append(&mut state, &line)?;
        }
        crate::verbose::request(record);
        Ok(())
    }

    /// Writes the records that sum up what each agent's budget left out since its last
    /// one (the daemon calls this every few seconds and when it stops).
    pub fn write_summaries(&self) -> std::io::Result<()> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| std::io::Error::other("audit log lock poisoned"))?;
        let now = Instant::now();
        let summaries: Vec<AuditRecord> = state
            .budget
            .accounts
            .iter_mut()
            .filter_map(|(agent, account)| account.summary(agent, now))
            .collect();
        for summary in summaries {
            self.append(&mut state, &bounded_line(&summary))?;
        }
        Ok(())
    }

    /// Appends `line` (one whole line or none), reopening and rotating as needed.
    fn append(&self, state: &mut State, line: &str) -> std::io::Result<()> {
        let line = line.as_bytes();
        if !self.still_at_path(state.identity) {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            (state.file, state.identity, state.size) = open_append(&self.path)?;
        }
        if state.size > 0 && state.size + line.len() as u64 > self.max_size {
            self.rotate()?;
            (state.file, state.identity, state.size) = open_append(&self.path)?;
        }
        let before = state.size;
        let written = state.file.write_all(line).and_then(|()| state.file.flush());
        if let Err(e) = written {
            // Cut a partial line back off (best effort: the disk may refuse this too).
            let _ = state.file.set_len(before);
            return Err(e);
        }
        state.size += line.len() as u64;
        Ok(())
    }

    /// Whether the open file, whose device and inode are `identity`, is still the file
    /// at the log's path (not deleted, renamed away or replaced). One `stat` of the
    /// path: while the file is open its inode cannot go to another file, so the same
    /// device and inode at the path are the same file, still linked.
    fn still_at_path(&self, identity: (u64, u64)) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.path).is_ok_and(|named| (named.dev(), named.ino()) == identity)
    }

    fn rotate(&self) -> std::io::Result<()> {
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.max_files == 0 {
            return std::fs::remove_file(&self.path);
        }
        let _ = std::fs::remove_file(numbered(self.max_files));
        for n in (1..self.max_files).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))
    }
}

/// `record` as one line of at most [`MAX_RECORD`] bytes: when it is longer, each
/// argument, the reason and the reading are shortened and the record says so.
fn bounded_line(record: &AuditRecord) -> String {
    let line = record.to_line();
    if line.len() <= MAX_RECORD {
        return line;
    }
    let mut short = record.clone();
    let original: usize = record.argv.iter().map(String::len).sum();
    short.argv = record
        .argv
        .iter()
        .take(MAX_ARGS)
        .map(|arg| shorten(arg))
        .collect();
    if record.argv.len() > MAX_ARGS {
        short
            .argv
            .push(format!("[{} more arguments]", record.argv.len() - MAX_ARGS));
    }
    short.reason = record.reason.as_deref().map(shorten);
    short.reading = None;
    // The command name is the client's too (a megabyte of it is an unknown command).
    short.command = shorten(&record.command);
    short.cwd = record.cwd.as_deref().map(shorten);
    short.host_cwd = record.host_cwd.as_deref().map(shorten);
    short.rule = record.rule.as_deref().map(shorten);
    short.truncated = Some(original);
    let line = short.to_line();
    if line.len() <= MAX_RECORD {
        return line;
    }
    // Nothing left to shorten but the reading's other fields: keep the essentials.
    short.argv = vec![format!("[{} arguments]", record.argv.len())];
    short.to_line()
}

/// `record` as one short line, for a run past its agent's budget: the arguments and
/// the reading are left out (`truncated` says how long the arguments were), the rest is
/// shortened.
fn summarised_line(record: &AuditRecord) -> String {
    let mut short = record.clone();
    let bytes: usize = record.argv.iter().map(String::len).sum();
    short.argv = vec![format!(
        "[{} arguments left out: over the agent's audit budget]",
        record.argv.len()
    )];
    short.truncated = Some(bytes);
    short.reading = None;
    short.command = shorten(&record.command);
    short.cwd = record.cwd.as_deref().map(shorten);
    short.host_cwd = record.host_cwd.as_deref().map(shorten);
    short.reason = record.reason.as_deref().map(shorten);
    short.to_line()
}

/// `text` cut to [`SHORT`] bytes at a character boundary, with what was cut.
fn shorten(text: &str) -> String {
    if text.len() <= SHORT {
        return text.to_owned();
    }
    let mut end = SHORT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...[{} bytes]", text.get(..end).unwrap_or(""), text.len())
}

/// Opens the log at `path` for appending (made with mode 0600): the file, its device
/// and inode, and its size.
fn open_append(path: &Path) -> std::io::Result<(File, (u64, u64), u64)> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let meta = file.metadata()?;
    Ok((file, (meta.dev(), meta.ino()), meta.len()))
}

/// `time` as RFC 3339 UTC with milliseconds, e.g. `2026-11-28T20:41:07.123Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::AuditDecision;
    use std::time::Duration;

    fn record(n: usize) -> AuditRecord {
        AuditRecord {
            time: rfc3339(UNIX_EPOCH),
            agent: "a1".into(),
            peer: None,
            command: "git".into(),
            argv: vec![format!("arg{n}")],
            cwd: None,
            host_cwd: None,
            confinement: None,
            reading: None,
            truncated: None,
            decision: AuditDecision::Deny,
            rule: Some("git.daemon".into()),
            reason: None,
            exit_code: None,
            signal: None,
            duration_ms: 0,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    impl AuditLog {
        fn write_run(&self, record: &AuditRecord) -> std::io::Result<()> {
            self.write(record, RecordKind::Run)
        }
    }

    #[test]
    fn formats_utc_times() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_898_467_123);
        assert_eq!(rfc3339(t), "2026-11-28T20:41:07.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn appends_lines_and_rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let line_len = record(0).to_line().len() as u64;
        let log = AuditLog::open(&path, line_len * 2, 2).unwrap();
        for n in 0..7 {
            log.write_run(&record(n)).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        assert_eq!(current.lines().count(), 1);
        assert!(current.contains("arg6"));
        let one = std::fs::read_to_string(dir.path().join("audit.log.1")).unwrap();
        assert!(one.contains("arg4") && one.contains("arg5"), "{one}");
        let two = std::fs::read_to_string(dir.path().join("audit.log.2")).unwrap();
        assert!(two.contains("arg2") && two.contains("arg3"), "{two}");
        assert!(!dir.path().join("audit.log.3").exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        for line in one.lines().chain(two.lines()) {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(value["rule"], "git.daemon");
        }
    }

    #[test]
    fn a_deleted_or_replaced_log_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/audit.log");
        let log = AuditLog::open(&path, 1 << 20, 2).unwrap();
        log.write_run(&record(1)).unwrap();
        std::fs::remove_dir_all(dir.path().join("logs")).unwrap();
        log.write_run(&record(2)).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("arg2"));
        std::fs::rename(&path, dir.path().join("moved")).unwrap();
        std::fs::write(&path, "").unwrap();
        log.write_run(&record(3)).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("arg3"));
        assert!(
            !std::fs::read_to_string(dir.path().join("moved"))
                .unwrap()
                .contains("arg3")
        );
    }

    #[test]
    fn long_records_are_shortened_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path, 1 << 20, 2).unwrap();
        // A megabyte command name (an unknown command) is shortened too.
        let mut named = record(0);
        named.command = "c".repeat(1 << 20);
        log.write_run(&named).unwrap();
        let line = std::fs::read_to_string(&path).unwrap();
        assert!(line.len() <= MAX_RECORD, "{}", line.len());
        std::fs::remove_file(&path).unwrap();
        let mut big = record(0);
        big.argv = vec!["é".repeat(50_000); 100];
        log.write_run(&big).unwrap();
        let line = std::fs::read_to_string(&path).unwrap();
        assert_eq!(line.lines().count(), 1);
        assert!(line.len() <= MAX_RECORD, "{}", line.len());
        let value: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(value["truncated"], 10_000_000);
        assert_eq!(value["argv"].as_array().unwrap().len(), 33);
        assert!(
            value["argv"][0]
                .as_str()
                .unwrap()
                .ends_with("...[100000 bytes]")
        );
        assert_eq!(value["argv"][32], "[68 more arguments]");
    }

    #[test]
    fn past_its_budget_an_agents_requests_are_counted_and_its_runs_summarised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        // 128 KiB over two files; a burst of 64 KiB per agent.
        let log = AuditLog::open(&path, 64 << 10, 1).unwrap();
        let mut other = record(0);
        other.agent = "a2".into();
        log.write(&other, RecordKind::Run).unwrap();
        for n in 1..=100 {
            let mut big = record(n);
            big.argv.push("y".repeat(4000));
            log.write(&big, RecordKind::Request).unwrap();
        }
        let mut run = record(101);
        run.decision = AuditDecision::Start;
        run.argv.push("z".repeat(4000));
        log.write(&run, RecordKind::Run).unwrap();
        let text = std::fs::read_to_string(dir.path().join("audit.log.1")).unwrap_or_default()
            + &std::fs::read_to_string(&path).unwrap();
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records[0]["agent"], "a2", "another agent's record stays");
        let written = records
            .iter()
            .filter(|r| r["agent"] == "a1" && r["decision"] == "deny")
            .count();
        assert!(written > 0 && written < 100, "{written}");
        let summary = records
            .iter()
            .find(|r| r["rule"] == BUDGET_RULE)
            .expect("a record says what was left out");
        let reason = summary["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("{} records (", 100 - written))
                && reason.ends_with(&format!(": {} deny", 100 - written)),
            "{reason}"
        );
        let start = records.last().unwrap();
        assert_eq!(start["decision"], "start", "the run is on record");
        assert_eq!(start["truncated"], 4006);
        assert!(
            start["argv"][0].as_str().unwrap().contains("left out"),
            "{start}"
        );
        // Nothing more to say until more is left out.
        let before = std::fs::read_to_string(&path).unwrap();
        log.write_summaries().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    }

    #[test]
    fn a_failed_write_leaves_no_partial_line() {
        // /dev/full refuses every write with ENOSPC, like a full disk.
        let path = PathBuf::from("/dev/full");
        let (file, identity, size) = open_append(&path).unwrap();
        let log = AuditLog {
            path,
            max_size: 1 << 20,
            max_files: 1,
            state: Mutex::new(State {
                file,
                identity,
                size,
                budget: Budget::for_capacity(1 << 20),
            }),
        };
        let e = log.write_run(&record(1)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28), "{e}");
    }
}
