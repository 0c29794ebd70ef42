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
//! - **Fails loudly.** Every error reaches the caller, which refuses to start a run whose
//!   record cannot be written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use airlock_core::AuditRecord;

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
    size: u64,
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
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_owned(),
            max_size,
            max_files,
            state: Mutex::new(State { file, size }),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` (shortened to [`MAX_RECORD`]) as one whole line and flushes
    /// it, rotating first when it would overflow; reopens a log that is no longer the
    /// file at its path. On error nothing of the line stays in the log.
    pub fn write(&self, record: &AuditRecord) -> std::io::Result<()> {
        let line = bounded_line(record);
        let mut state = self
            .state
            .lock()
            .map_err(|_| std::io::Error::other("audit log lock poisoned"))?;
        if !self.still_at_path(&state.file) {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            state.file = open_append(&self.path)?;
            state.size = state.file.metadata()?.len();
        }
        if state.size > 0 && state.size + line.len() as u64 > self.max_size {
            self.rotate()?;
            state.file = open_append(&self.path)?;
            state.size = 0;
        }
        let before = state.size;
        let written = state
            .file
            .write_all(line.as_bytes())
            .and_then(|()| state.file.flush());
        if let Err(e) = written {
            // Cut a partial line back off (best effort: the disk may refuse this too).
            let _ = state.file.set_len(before);
            return Err(e);
        }
        state.size += line.len() as u64;
        crate::verbose::request(record);
        Ok(())
    }

    /// Whether `file` is still the file at the log's path (not deleted, renamed away or
    /// replaced).
    fn still_at_path(&self, file: &File) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(&self.path)) {
            (Ok(open), Ok(named)) => {
                open.nlink() > 0 && open.dev() == named.dev() && open.ino() == named.ino()
            }
            _ => false,
        }
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
    short.cwd = record.cwd.as_deref().map(shorten);
    short.truncated = Some(original);
    let line = short.to_line();
    if line.len() <= MAX_RECORD {
        return line;
    }
    // Nothing left to shorten but the reading's other fields: keep the essentials.
    short.argv = vec![format!("[{} arguments]", record.argv.len())];
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

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
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
            log.write(&record(n)).unwrap();
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
        log.write(&record(1)).unwrap();
        std::fs::remove_dir_all(dir.path().join("logs")).unwrap();
        log.write(&record(2)).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("arg2"));
        std::fs::rename(&path, dir.path().join("moved")).unwrap();
        std::fs::write(&path, "").unwrap();
        log.write(&record(3)).unwrap();
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
        let mut big = record(0);
        big.argv = vec!["é".repeat(50_000); 100];
        log.write(&big).unwrap();
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
    fn a_failed_write_leaves_no_partial_line() {
        // /dev/full refuses every write with ENOSPC, like a full disk.
        let log = AuditLog {
            path: PathBuf::from("/dev/full"),
            max_size: 1 << 20,
            max_files: 1,
            state: Mutex::new(State {
                file: OpenOptions::new().append(true).open("/dev/full").unwrap(),
                size: 0,
            }),
        };
        let e = log.write(&record(1)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28), "{e}");
    }
}
