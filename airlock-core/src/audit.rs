//! The audit record: one per request, written as one NDJSON line. It never holds an
//! environment value.

use serde::Serialize;

/// The local peer of a connection, from the socket's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Peer {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Process id, when known.
    pub pid: Option<i32>,
}

/// What happened to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditDecision {
    /// Checked and run.
    Allow,
    /// Refused by policy, a hook or the cwd check.
    Deny,
    /// Not a command this agent has.
    Unknown,
    /// Only checked (`check` method), allowed.
    CheckAllow,
    /// Only checked, denied.
    CheckDeny,
    /// A run is starting (written before the program starts; its end is the `allow`
    /// record, or `error`).
    Start,
    /// The request was malformed or failed inside the daemon.
    Error,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// RFC 3339 UTC time the request arrived.
    pub time: String,
    /// The agent.
    pub agent: String,
    /// Who connected.
    pub peer: Option<Peer>,
    /// The command.
    pub command: String,
    /// Its arguments, as requested.
    pub argv: Vec<String>,
    /// The cwd the client claimed.
    pub cwd: Option<String>,
    /// The host directory the program ran in (the open directory it entered).
    pub host_cwd: Option<String>,
    /// The confinement the program ran under (`landlock-v7`, `none`), for runs.
    pub confinement: Option<String>,
    /// The engine's reading of what ran (subcommand path, options, operands, host
    /// paths), for runs; the first of its plausible readings.
    pub reading: Option<serde_json::Value>,
    /// When the record was shortened to fit: the argv's original length in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<usize>,
    /// What happened.
    pub decision: AuditDecision,
    /// The rule (or engine id) that decided.
    pub rule: Option<String>,
    /// The human reason.
    pub reason: Option<String>,
    /// The program's exit code.
    pub exit_code: Option<i32>,
    /// The signal that ended the program.
    pub signal: Option<i32>,
    /// Milliseconds from request to reply.
    pub duration_ms: u64,
    /// Bytes of stdin forwarded to the program.
    pub bytes_in: u64,
    /// Bytes of output sent back.
    pub bytes_out: u64,
}

impl AuditRecord {
    /// The record as one JSON line, newline included.
    pub fn to_line(&self) -> String {
        // Strings and numbers always serialize; the fallback keeps the line valid JSON.
        let mut line = serde_json::to_string(self)
            .unwrap_or_else(|_| "{\"error\":\"unserializable audit record\"}".to_owned());
        line.push('\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_json_line_per_record() {
        let record = AuditRecord {
            time: "2026-11-28T20:00:00Z".into(),
            agent: "a1".into(),
            peer: Some(Peer {
                uid: 1000,
                gid: 1000,
                pid: Some(42),
            }),
            command: "git".into(),
            argv: vec!["commit".into(), "-m".into(), "line\nbreak".into()],
            cwd: Some("/workspace".into()),
            host_cwd: Some("/srv/a1/ws".into()),
            confinement: Some("landlock-v7".into()),
            reading: None,
            truncated: None,
            decision: AuditDecision::Allow,
            rule: None,
            reason: None,
            exit_code: Some(0),
            signal: None,
            duration_ms: 3,
            bytes_in: 0,
            bytes_out: 12,
        };
        let line = record.to_line();
        assert_eq!(line.matches('\n').count(), 1);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["decision"], "allow");
        assert_eq!(value["argv"][2], "line\nbreak");
        assert_eq!(value["peer"]["uid"], 1000);
    }
}
