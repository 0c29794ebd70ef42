//! `start --verbose`: one line per request on the daemon's stderr, from the request's
//! terminal audit record (a run's `start` record is not repeated). The audit log stays
//! the record; this is for a person watching the daemon.

use std::sync::atomic::{AtomicBool, Ordering};

use airlock_core::{AuditDecision, AuditRecord};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// The longest argv printed, in characters.
const MAX_ARGV: usize = 200;

/// Turns the request lines on.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Prints the line for `record` when the request lines are on and the record ends a
/// request.
pub fn request(record: &AuditRecord) {
    if ENABLED.load(Ordering::Relaxed) && record.decision != AuditDecision::Start {
        eprintln!("{}", line(record));
    }
}

/// `TIME agent NAME (uid U, pid P): COMMAND ARGS in CWD: DECISION [RULE] exit N, D ms`.
fn line(record: &AuditRecord) -> String {
    let mut argv = std::iter::once(record.command.as_str())
        .chain(record.argv.iter().map(String::as_str))
        .map(|a| shell_words::quote(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    if argv.chars().count() > MAX_ARGV {
        argv = argv.chars().take(MAX_ARGV).collect::<String>() + "...";
    }
    // Control characters from a request never reach the terminal as such.
    let argv: String = argv
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let peer = record.peer.map_or_else(String::new, |p| match p.pid {
        Some(pid) => format!(" (uid {}, pid {pid})", p.uid),
        None => format!(" (uid {})", p.uid),
    });
    let decision = serde_json::to_value(record.decision)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut text = format!("{} agent {}{peer}: {argv}", record.time, record.agent);
    if let Some(cwd) = &record.cwd {
        text.push_str(&format!(" in {}", shell_words::quote(cwd)));
    }
    text.push_str(&format!(": {decision}"));
    if let Some(rule) = &record.rule {
        text.push_str(&format!(" [{rule}]"));
    }
    if let Some(code) = record.exit_code {
        text.push_str(&format!(", exit {code}"));
    }
    if let Some(signal) = record.signal {
        text.push_str(&format!(", signal {signal}"));
    }
    text.push_str(&format!(", {} ms", record.duration_ms));
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
