//! `airlock-daemon explain`: why a command would be allowed or denied, for a person
//! (one command) or for a program (`--batch`, NDJSON in and out).

use std::io::{BufRead, Write};

use airlock_core::{AgentScope, GateOutcome};
use airlock_policy::{Basis, Decision, Policy, Verdict};
use serde::Deserialize;
use serde_json::json;

/// The modules an explanation runs against.
pub enum Scope<'s> {
    /// A set of modules (the built-ins, or `--module` files): a command without a
    /// module is denied.
    Modules(&'s Policy),
    /// An agent: its three layers apply.
    Agent(&'s AgentScope),
}

/// What `explain` concluded for one command.
pub struct Outcome<'s, 'a> {
    /// The decision, or `None` when the command does not exist in the scope.
    pub decision: Option<Decision<'s, 'a>>,
}

impl Scope<'_> {
    /// Decides `command` with `args`.
    pub fn decide<'s, 'a>(&'s self, command: &str, args: &'a [String]) -> Outcome<'s, 'a> {
        match self {
            Scope::Modules(policy) => Outcome {
                decision: Some(policy.check(command, args)),
            },
            Scope::Agent(agent) => match agent.gate(command, args) {
                GateOutcome::Unknown => Outcome { decision: None },
                GateOutcome::Decided { decision, .. } => Outcome {
                    decision: Some(decision),
                },
            },
        }
    }
}

impl Outcome<'_, '_> {
    /// Whether the command may run.
    pub fn allowed(&self) -> bool {
        self.decision.as_ref().is_some_and(Decision::is_allowed)
    }

    /// `(rule id, reason)` for the batch output.
    fn rule_and_reason(&self) -> (Option<String>, Option<String>) {
        match &self.decision {
            None => (
                Some("airlock.unknown-command".to_owned()),
                Some("unknown command".to_owned()),
            ),
            Some(d) => {
                let e = d.explanation();
                let reason = match d.basis() {
                    Basis::NoDenyRuleHeld => None,
                    _ => Some(e.reason),
                };
                (e.rule_id, reason)
            }
        }
    }
}

/// Writes the human explanation of `command args` to `out`.
pub fn human(
    out: &mut impl Write,
    command: &str,
    args: &[String],
    outcome: &Outcome<'_, '_>,
) -> std::io::Result<()> {
    let argv = std::iter::once(command)
        .chain(args.iter().map(String::as_str))
        .map(|a| shell_words::quote(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let Some(decision) = &outcome.decision else {
        writeln!(
            out,
            "deny: `{command}` is not a command this scope has (unknown command)"
        )?;
        return writeln!(out, "  argv: {argv}");
    };
    writeln!(out, "{}: {}", decision.verdict(), decision.reason())?;
    writeln!(out, "  argv:    {argv}")?;
    if let Some(reading) = decision.reading_text() {
        writeln!(out, "  read as: {command} {reading}")?;
    }
    match decision.rule() {
        Some(rule) => {
            writeln!(out, "  rule:    {} ({})", rule.id(), rule.action())?;
            writeln!(out, "  --> {}", rule.location())?;
            let mut snippet = String::new();
            // Writing to a String cannot fail.
            let _ = rule.snippet().render(rule.location().line, &mut snippet);
            for line in snippet.lines() {
                writeln!(out, "  {line}")?;
            }
        }
        None => {
            if let Some(id) = decision.explanation().rule_id {
                writeln!(out, "  rule:    {id}")?;
            }
        }
    }
    if let Some(module) = decision.module() {
        writeln!(out, "  module:  {}", module.source_name())?;
    }
    Ok(())
}

/// One request line of `--batch`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    command: String,
    #[serde(default)]
    args: Vec<String>,
}

/// The longest batch line read; longer lines get an error reply.
pub const MAX_BATCH_LINE: usize = 1 << 20;

/// Reads NDJSON requests from `input` and writes exactly one NDJSON line per input
/// line to `out`, in order. Returns how many lines were read.
pub fn batch(scope: &Scope<'_>, input: impl BufRead, out: &mut impl Write) -> std::io::Result<u64> {
    let mut lines = 0;
    let mut reader = BoundedLines::new(input, MAX_BATCH_LINE);
    while let Some(line) = reader.next_line()? {
        lines += 1;
        let reply = match line {
            Line::TooLong => json!({ "error": format!("line longer than {MAX_BATCH_LINE} bytes") }),
            Line::Text(text) => match serde_json::from_slice::<BatchRequest>(&text) {
                Err(e) => json!({ "error": format!("malformed request: {e}") }),
                Ok(request) => {
                    let outcome = scope.decide(&request.command, &request.args);
                    let (rule, reason) = outcome.rule_and_reason();
                    let decision = if outcome.allowed() {
                        Verdict::Allow
                    } else {
                        Verdict::Deny
                    };
                    json!({ "decision": decision.to_string(), "rule": rule, "reason": reason })
                }
            },
        };
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    Ok(lines)
}

enum Line {
    Text(Vec<u8>),
    TooLong,
}

/// Reads lines without ever holding more than `max` bytes of one.
struct BoundedLines<R> {
    input: R,
    max: usize,
}

impl<R: BufRead> BoundedLines<R> {
    fn new(input: R, max: usize) -> Self {
        Self { input, max }
    }

    fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        let mut line = Vec::new();
        let mut too_long = false;
        let mut any = false;
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            any = true;
            let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (buf.get(..i).unwrap_or(&[]), Some(i + 1)),
                None => (buf, None),
            };
            if !too_long {
                if line.len() + chunk.len() > self.max {
                    too_long = true;
                    line.clear();
                } else {
                    line.extend_from_slice(chunk);
                }
            }
            let consumed = done.unwrap_or(buf.len());
            self.input.consume(consumed);
            if done.is_some() {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(if too_long {
            Line::TooLong
        } else {
            Line::Text(line)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::builder()
            .add(
                "git.toml",
                "[command]\nbin = \"git\"\n[[rule]]\nid = \"git.daemon\"\naction = \"deny\"\ncommand = \"daemon\"\nreason = \"serves repositories\"\n",
            )
            .unwrap()
            .build()
    }

    fn run_batch(input: &str) -> Vec<serde_json::Value> {
        let policy = policy();
        let mut out = Vec::new();
        batch(&Scope::Modules(&policy), input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn batch_answers_every_line_in_order() {
        let replies = run_batch(
            "{\"command\":\"git\",\"args\":[\"daemon\"]}\nnot json\n{\"command\":\"git\",\"args\":[\"status\"]}\n\n{\"command\":\"rm\",\"args\":[]}",
        );
        assert_eq!(replies.len(), 5);
        assert_eq!(replies[0]["decision"], "deny");
        assert_eq!(replies[0]["rule"], "git.daemon");
        assert_eq!(replies[0]["reason"], "serves repositories");
        assert!(replies[1]["error"].as_str().unwrap().contains("malformed"));
        assert_eq!(replies[2]["decision"], "allow");
        assert_eq!(replies[2]["rule"], serde_json::Value::Null);
        assert!(
            replies[3]["error"].is_string(),
            "an empty line is malformed"
        );
        assert_eq!(replies[4]["decision"], "deny");
        assert_eq!(replies[4]["rule"], "airlock.unknown-command");
    }

    #[test]
    fn oversized_lines_get_an_error_and_the_rest_continue() {
        let long = format!("{{\"command\":\"{}\"}}\n", "x".repeat(MAX_BATCH_LINE + 10));
        let replies = run_batch(&format!("{long}{{\"command\":\"git\",\"args\":[]}}\n"));
        assert_eq!(replies.len(), 2);
        assert!(replies[0]["error"].as_str().unwrap().contains("longer"));
        assert_eq!(replies[1]["decision"], "allow");
    }

    #[test]
    fn human_explanation_shows_rule_location_and_reading() {
        let policy = policy();
        let args = vec!["daemon".to_owned(), "--export-all".to_owned()];
        let scope = Scope::Modules(&policy);
        let outcome = scope.decide("git", &args);
        let mut out = Vec::new();
        human(&mut out, "git", &args, &outcome).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("deny: serves repositories\n"), "{text}");
        assert!(text.contains("rule:    git.daemon (deny)"), "{text}");
        assert!(text.contains("--> git.toml:3:1"), "{text}");
        assert!(text.contains("3 | [[rule]]"), "{text}");
        assert!(text.contains("read as: git daemon --export-all"), "{text}");
    }
}
