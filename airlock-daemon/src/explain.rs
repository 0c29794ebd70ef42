//! `airlock-daemon explain`: why a command would be allowed or denied, for a person
//! (one command) or for a program (`--batch`, NDJSON in and out).

use std::collections::BTreeSet;
use std::io::{BufRead, Write};

use airlock_core::GateOutcome;
use airlock_policy::{Basis, Decision, Element, Opt, PathSource, Policy, Reading, Verdict};
use serde::Deserialize;
use serde_json::json;

use crate::load::Agent;

/// The modules an explanation runs against.
pub enum Scope<'s> {
    /// A set of modules (the built-ins, or `--module` files): a command without a
    /// module is denied.
    Modules(&'s Policy),
    /// An agent: its three layers apply, and the daemon's checks of the working
    /// directory and the argv's paths when a cwd is given.
    Agent {
        /// The agent.
        agent: &'s Agent,
        /// The daemon's enable list.
        enable: &'s BTreeSet<String>,
    },
}

/// Which layer refused a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// The daemon's enable list (`config.toml`) does not have the command.
    EnableList,
    /// The agent's command list (`airlock.toml`) does not have it.
    AgentCommands,
    /// The command's module denied the argv.
    Module,
    /// A check of the daemon's: the working directory or a path in the argv
    /// (`airlock.cwd`, `airlock.path`).
    DaemonCheck {
        /// The check's rule id.
        rule: String,
        /// Why.
        reason: String,
    },
}

impl Layer {
    /// The layer's name in `--batch` replies.
    fn key(&self) -> &'static str {
        match self {
            Layer::EnableList => "enable-list",
            Layer::AgentCommands => "agent-commands",
            Layer::Module => "module",
            Layer::DaemonCheck { .. } => "daemon-check",
        }
    }

    /// The layer for a person.
    fn human(&self, command: &str) -> String {
        match self {
            Layer::EnableList => format!(
                "the daemon's enable list (config.toml's [commands] enable has no `{command}`)"
            ),
            Layer::AgentCommands => format!(
                "the agent's command list (its airlock.toml's `commands` has no `{command}`)"
            ),
            Layer::Module => "the command's module".to_owned(),
            Layer::DaemonCheck { rule, .. } => format!("the daemon's check `{rule}`"),
        }
    }
}

/// What `explain` concluded for one command.
pub struct Outcome<'s, 'a> {
    /// The decision, or `None` when the command does not exist in the scope.
    pub decision: Option<Decision<'s, 'a>>,
    /// The layer that refused, when the scope is an agent.
    pub refused_by: Option<Layer>,
}

impl Scope<'_> {
    /// Decides `command` with `args`; for an agent with `cwd` (a container path), also
    /// runs the daemon's checks of the working directory and the argv's paths.
    pub fn decide<'s, 'a>(
        &'s self,
        command: &str,
        args: &'a [String],
        cwd: Option<&str>,
    ) -> Outcome<'s, 'a> {
        match self {
            // Only modules: no layers to tell apart.
            Scope::Modules(policy) => Outcome {
                decision: Some(policy.check(command, args)),
                refused_by: None,
            },
            Scope::Agent { agent, enable } => {
                if !enable.contains(command) {
                    return Outcome {
                        decision: None,
                        refused_by: Some(Layer::EnableList),
                    };
                }
                match agent.scope.gate(command, args) {
                    GateOutcome::Unknown => Outcome {
                        decision: None,
                        refused_by: Some(Layer::AgentCommands),
                    },
                    GateOutcome::Decided { decision, module } => {
                        let refused_by = if !decision.is_allowed() {
                            Some(Layer::Module)
                        } else {
                            cwd.and_then(|cwd| daemon_checks(agent, module, command, args, cwd))
                        };
                        Outcome {
                            decision: Some(decision),
                            refused_by,
                        }
                    }
                }
            }
        }
    }
}

/// The daemon's checks of an allowed request, as a run would make them: the working
/// directory through the mounts (`airlock.cwd`), every path of every reading
/// (`airlock.path`), and the module again on the argv with container paths
/// translated. The repository checks for git happen only when a run starts.
fn daemon_checks(
    agent: &Agent,
    module: &airlock_policy::Module,
    command: &str,
    args: &[String],
    cwd: &str,
) -> Option<Layer> {
    let refusal = |rule: &str, reason: String| {
        Some(Layer::DaemonCheck {
            rule: rule.to_owned(),
            reason,
        })
    };
    let workdir = match crate::pipeline::resolve_cwd(agent, Some(cwd)) {
        Ok(workdir) => workdir,
        Err(e) => return refusal(e.rule.as_deref().unwrap_or("airlock.cwd"), e.reason),
    };
    let declared = agent.access.get(command).map(|a| &a.grants);
    let mut read_write = agent.mount_roots.clone();
    read_write.extend(declared.iter().flat_map(|g| g.read_write.iter().cloned()));
    let read: Vec<std::path::PathBuf> = declared
        .iter()
        .flat_map(|g| g.read.iter().cloned())
        .collect();
    let reach = crate::host_paths::Reach {
        mounts: &agent.scope.profile().mounts,
        read_write: &read_write,
        read: &read,
        cwd: &workdir.path,
    };
    let translated = match crate::host_paths::check(module, args, reach) {
        Ok(translated) => translated,
        Err(why) => return refusal("airlock.path", why),
    };
    if translated != args {
        if let GateOutcome::Decided { decision, .. } = agent.scope.gate(command, &translated) {
            if !decision.is_allowed() {
                let e = decision.explanation();
                return refusal(
                    e.rule_id.as_deref().unwrap_or("airlock.path"),
                    format!("with its paths translated to the host's: {}", e.reason),
                );
            }
        }
    }
    None
}

/// A reading as the tool reads it: global options before the subcommand, then the
/// subcommand's options and operands in order; a short option's value as its own
/// word (`-c k=v`), a long option's after `=`.
pub fn read_as(command: &str, reading: &Reading<'_, '_>) -> String {
    fn option(words: &mut Vec<String>, opt: &Opt<'_, '_>) {
        let name = opt.name();
        let short = name.len() == 2 && name.starts_with('-') && !name.starts_with("--");
        match opt.value() {
            None => words.push(name.to_owned()),
            Some(value) if short => {
                words.push(name.to_owned());
                words.push(shell_words::quote(value).into_owned());
            }
            Some(value) => words.push(format!("{name}={}", shell_words::quote(value))),
        }
    }
    let mut words = vec![shell_words::quote(command).into_owned()];
    for element in reading.elements() {
        if let Element::Option(opt) = element {
            if opt.is_global() {
                option(&mut words, &opt);
            }
        }
    }
    words.extend(
        reading
            .path()
            .iter()
            .map(|w| shell_words::quote(w).into_owned()),
    );
    for element in reading.elements() {
        match element {
            Element::Option(opt) if !opt.is_global() => option(&mut words, &opt),
            Element::Operand(word) => words.push(shell_words::quote(word.text()).into_owned()),
            _ => {}
        }
    }
    words.join(" ")
}

impl Outcome<'_, '_> {
    /// Whether the command may run.
    pub fn allowed(&self) -> bool {
        self.refused_by.is_none() && self.decision.as_ref().is_some_and(Decision::is_allowed)
    }

    /// The paths of every plausible reading (see [`PathLine`]); none when the command
    /// has no module or the argv cannot be read.
    pub fn paths(&self, args: &[String]) -> Vec<PathLine> {
        let Some(module) = self.decision.as_ref().and_then(Decision::module) else {
            return Vec::new();
        };
        let Ok(readings) = module.readings(args) else {
            return Vec::new();
        };
        let mut lines: Vec<PathLine> = Vec::new();
        for reading in &readings {
            let paths = reading.paths();
            for path in &paths {
                let (option, operand) = match path.source() {
                    PathSource::Option(opt) => (Some(opt.name().to_owned()), None),
                    PathSource::Operand { position, .. } => (None, Some(*position)),
                    _ => (None, None),
                };
                let line = PathLine {
                    access: path.access().to_string(),
                    path: path.text().to_owned(),
                    option,
                    operand,
                    arg: path.span().index(),
                    range: (path.span().range().start, path.span().range().end),
                    base: path
                        .base()
                        .iter()
                        .filter_map(|i| paths.get(*i))
                        .map(|p| p.text().to_owned())
                        .collect(),
                };
                if !lines.contains(&line) {
                    lines.push(line);
                }
            }
        }
        lines
    }

    /// `(rule id, reason)` for the batch output.
    fn rule_and_reason(&self) -> (Option<String>, Option<String>) {
        if let Some(Layer::DaemonCheck { rule, reason }) = &self.refused_by {
            return (Some(rule.clone()), Some(reason.clone()));
        }
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

/// A host path the command would read or write, from any plausible reading of its argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathLine {
    /// `read`, `write` or `chdir`.
    pub access: String,
    /// The path as the program will use it.
    pub path: String,
    /// The option whose value it is (canonical name).
    pub option: Option<String>,
    /// Or the operand it is (1 is the first operand).
    pub operand: Option<usize>,
    /// The index in `args` of the argument it is written in.
    pub arg: usize,
    /// The byte range of that argument it is written in.
    pub range: (usize, usize),
    /// The directory changes it is relative to, outermost first.
    pub base: Vec<String>,
}

impl PathLine {
    /// The line's JSON form for `--batch`.
    fn json(&self) -> serde_json::Value {
        json!({
            "access": self.access,
            "path": self.path,
            "option": self.option,
            "operand": self.operand,
            "arg": self.arg,
            "range": [self.range.0, self.range.1],
            "base": self.base,
        })
    }

    /// `write out.txt (--output, relative to sub)`.
    fn human(&self) -> String {
        let from = match (&self.option, self.operand) {
            (Some(option), _) => option.clone(),
            (None, Some(n)) => format!("operand {n}"),
            (None, None) => "?".to_owned(),
        };
        let mut text = format!(
            "{:<5} {} ({from}",
            self.access,
            shell_words::quote(&self.path)
        );
        if !self.base.is_empty() {
            let base: std::path::PathBuf = self.base.iter().collect();
            text.push_str(&format!(", relative to {}", base.display()));
        }
        text.push(')');
        text
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
    let layer = outcome
        .refused_by
        .as_ref()
        .map(|layer| format!("  layer:   {}\n", layer.human(command)))
        .unwrap_or_default();
    let Some(decision) = &outcome.decision else {
        writeln!(
            out,
            "deny: `{command}` is not a command this scope has (unknown command)"
        )?;
        writeln!(out, "  argv: {argv}")?;
        return write!(out, "{layer}");
    };
    match &outcome.refused_by {
        Some(Layer::DaemonCheck { reason, .. }) => writeln!(out, "deny: {reason}")?,
        _ => writeln!(out, "{}: {}", decision.verdict(), decision.reason())?,
    }
    writeln!(out, "  argv:    {argv}")?;
    if let Some(reading) = decision.reading() {
        writeln!(out, "  read as: {}", read_as(command, reading))?;
    }
    write!(out, "{layer}")?;
    for path in outcome.paths(args) {
        writeln!(out, "  path:    {}", path.human())?;
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
    /// The working directory (a container path), for an agent's daemon checks.
    #[serde(default)]
    cwd: Option<String>,
}

/// The longest batch line read; longer lines get an error reply.
pub const MAX_BATCH_LINE: usize = 1 << 20;

/// What a batch read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// Lines read.
    pub lines: u64,
    /// Lines that were not requests (too long or malformed).
    pub malformed: u64,
}

/// Reads NDJSON requests from `input` and writes exactly one NDJSON line per input
/// line to `out`, in order.
pub fn batch(
    scope: &Scope<'_>,
    input: impl BufRead,
    out: &mut impl Write,
) -> std::io::Result<BatchSummary> {
    let mut lines = 0;
    let mut malformed = 0;
    let mut reader = BoundedLines::new(input, MAX_BATCH_LINE);
    while let Some(line) = reader.next_line()? {
        lines += 1;
        let reply = match line {
            Line::TooLong => {
                malformed += 1;
                json!({ "error": format!("line longer than {MAX_BATCH_LINE} bytes") })
            }
            Line::Text(text) => match serde_json::from_slice::<BatchRequest>(&text) {
                Err(e) => {
                    malformed += 1;
                    json!({ "error": format!("malformed request: {e}") })
                }
                Ok(request) => {
                    let outcome =
                        scope.decide(&request.command, &request.args, request.cwd.as_deref());
                    let (rule, reason) = outcome.rule_and_reason();
                    let decision = if outcome.allowed() {
                        Verdict::Allow
                    } else {
                        Verdict::Deny
                    };
                    let paths: Vec<_> = outcome
                        .paths(&request.args)
                        .iter()
                        .map(PathLine::json)
                        .collect();
                    let layer = outcome.refused_by.as_ref().map(Layer::key);
                    json!({ "decision": decision.to_string(), "rule": rule, "reason": reason, "layer": layer, "paths": paths })
                }
            },
        };
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    Ok(BatchSummary { lines, malformed })
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

    fn git_with_paths() -> Policy {
        Policy::builder()
            .add(
                "git.toml",
                r#"[command]
bin = "git"
[syntax]
style = "gnu"
[syntax.global]
values = ["-C"]
paths = { "-C" = "chdir" }
[syntax.commands.log]
values = ["--output"]
paths = { "--output" = "write" }
[syntax.commands.clone]
operands = ["read", "write"]
"#,
            )
            .unwrap()
            .build()
    }

    #[test]
    fn human_explanation_lists_the_paths_of_every_reading() {
        let policy = git_with_paths();
        let scope = Scope::Modules(&policy);
        let args: Vec<String> = ["-C", "sub", "log", "--output=out file.txt"]
            .map(str::to_owned)
            .to_vec();
        let mut out = Vec::new();
        human(&mut out, "git", &args, &scope.decide("git", &args, None)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("  path:    chdir sub (-C)\n"), "{text}");
        assert!(
            text.contains("  path:    write 'out file.txt' (--output, relative to sub)\n"),
            "{text}"
        );
        // `--frob` may take `x` (then `clone` reads `a b`) or not (then `x` is the
        // command): the paths of the reading with `clone` are listed.
        let args: Vec<String> = ["--frob", "x", "clone", "a", "b"]
            .map(str::to_owned)
            .to_vec();
        let mut out = Vec::new();
        human(&mut out, "git", &args, &scope.decide("git", &args, None)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("  path:    read  a (operand 1)\n"), "{text}");
        assert!(text.contains("  path:    write b (operand 2)\n"), "{text}");
        // No paths, no lines.
        let args = vec!["status".to_owned()];
        let mut out = Vec::new();
        human(&mut out, "git", &args, &scope.decide("git", &args, None)).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("path:"));
    }

    #[test]
    fn batch_replies_carry_a_paths_array() {
        let policy = git_with_paths();
        let mut out = Vec::new();
        let input = "{\"command\":\"git\",\"args\":[\"-C\",\"sub\",\"log\",\"--output=o\"]}\n{\"command\":\"git\",\"args\":[\"status\"]}\n{\"command\":\"rm\"}\n";
        batch(&Scope::Modules(&policy), input.as_bytes(), &mut out).unwrap();
        let replies: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            replies[0]["paths"],
            serde_json::json!([
                {"access": "chdir", "path": "sub", "option": "-C", "operand": null, "arg": 1, "range": [0, 3], "base": []},
                {"access": "write", "path": "o", "option": "--output", "operand": null, "arg": 3, "range": [9, 10], "base": ["sub"]},
            ])
        );
        assert_eq!(replies[1]["paths"], serde_json::json!([]));
        assert_eq!(
            replies[2]["paths"],
            serde_json::json!([]),
            "an unknown command has none"
        );
    }

    #[test]
    fn human_explanation_shows_rule_location_and_reading() {
        let policy = policy();
        let args = vec!["daemon".to_owned(), "--export-all".to_owned()];
        let scope = Scope::Modules(&policy);
        let outcome = scope.decide("git", &args, None);
        let mut out = Vec::new();
        human(&mut out, "git", &args, &outcome).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("deny: serves repositories\n"), "{text}");
        assert!(text.contains("rule:    git.daemon (deny)"), "{text}");
        // The caret is under the line that matched, not the `[[rule]]` header.
        assert!(text.contains("--> git.toml:6:12"), "{text}");
        assert!(text.contains("6 | command = \"daemon\"\n"), "{text}");
        assert!(text.contains("    |           ^^^^^^^^\n"), "{text}");
        assert!(text.contains("read as: git daemon --export-all"), "{text}");
    }
}
