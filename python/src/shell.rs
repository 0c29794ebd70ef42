//! Shell command lines (`airlock-shell`): every simple command of a POSIX/bash line
//! judged by the policy, and the constructs that cannot be known before the line runs.

use airlock_shell::{CommandDecision, DEFAULT_MAX_DEPTH, DEFAULT_MAX_LEN, ShellDecision};
use pyo3::prelude::*;

use crate::decision::{PyLocation, py_str_or_none};
use crate::policy::PyPolicy;

/// What the caller decides for a line: which plain commands (without a module) may
/// run, which environment variables may be assigned, the directory redirections must
/// stay inside, and whether what cannot be known is refused or asked about.
#[pyclass(frozen, module = "airlock_policy", name = "ShellOptions")]
#[derive(Debug, Clone, Default)]
pub struct PyShellOptions {
    inner: airlock_shell::ShellOptions,
}

#[pymethods]
impl PyShellOptions {
    #[new]
    #[pyo3(signature = (
        *,
        allow_commands = Vec::new(),
        allow_env = Vec::new(),
        root = None,
        cwd = None,
        ask = false,
        max_len = DEFAULT_MAX_LEN,
        max_depth = DEFAULT_MAX_DEPTH,
    ))]
    fn new(
        allow_commands: Vec<String>,
        allow_env: Vec<String>,
        root: Option<String>,
        cwd: Option<String>,
        ask: bool,
        max_len: usize,
        max_depth: usize,
    ) -> Self {
        let mut inner = airlock_shell::ShellOptions::new()
            .allow_commands(allow_commands)
            .ask(ask)
            .max_len(max_len)
            .max_depth(max_depth);
        for name in allow_env {
            inner = inner.allow_env(name);
        }
        if let Some(root) = root {
            inner = inner.root(root);
        }
        if let Some(cwd) = cwd {
            inner = inner.cwd(cwd);
        }
        Self { inner }
    }

    /// Whether `name` is an allowed plain command.
    fn is_allowed_command(&self, name: &str) -> bool {
        self.inner.is_allowed_command(name)
    }

    /// Whether assigning `name` is allowed.
    fn is_allowed_env(&self, name: &str) -> bool {
        self.inner.is_allowed_env(name)
    }

    /// The directory redirections must stay inside.
    #[getter]
    fn root(&self) -> Option<&str> {
        self.inner.root_dir()
    }

    /// The directory the line starts in.
    #[getter]
    fn cwd(&self) -> Option<&str> {
        self.inner.cwd_dir()
    }

    /// Whether the unknowable is asked about rather than refused.
    #[getter]
    fn ask(&self) -> bool {
        self.inner.asks()
    }

    /// The longest line read, in bytes.
    #[getter]
    fn max_len(&self) -> usize {
        self.inner.max_len_bytes()
    }

    /// How deeply constructs may nest.
    #[getter]
    fn max_depth(&self) -> usize {
        self.inner.max_nesting()
    }

    fn __repr__(&self) -> String {
        format!(
            "ShellOptions(root={}, ask={})",
            py_str_or_none(self.inner.root_dir()),
            if self.inner.asks() { "True" } else { "False" }
        )
    }
}

/// The judgement of one part of a line: a simple command or a construct in it.
#[pyclass(frozen, module = "airlock_policy", name = "CommandDecision")]
#[derive(Debug, Clone)]
pub struct PyCommandDecision {
    inner: CommandDecision,
}

#[pymethods]
impl PyCommandDecision {
    /// The source text of the simple command (or construct), as written.
    #[getter]
    fn text(&self) -> &str {
        self.inner.text()
    }

    /// Its place in the line: a `(start, end)` range of the line's UTF-8 bytes.
    #[getter]
    fn span(&self) -> (usize, usize) {
        let span = self.inner.span();
        (span.start, span.end)
    }

    /// The argv after quote removal, program name first, when it is known before the
    /// line runs.
    #[getter]
    fn argv(&self) -> Option<Vec<String>> {
        self.inner.argv().map(<[String]>::to_vec)
    }

    /// `"allow"`, `"ask"` or `"deny"`.
    #[getter]
    fn outcome(&self) -> &'static str {
        self.inner.outcome().as_str()
    }

    /// Whether this part may run.
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.outcome() == airlock_shell::Outcome::Allow
    }

    /// The deciding rule's id: a module's rule, `airlock.unknown-command`,
    /// `shell.allowed-command`, or the construct's `shell.…` id.
    #[getter]
    fn rule_id(&self) -> Option<&str> {
        self.inner.rule_id()
    }

    /// The human reason.
    #[getter]
    fn reason(&self) -> String {
        self.inner.reason()
    }

    /// Where the deciding rule was written, when a module's rule decided.
    #[getter]
    fn location(&self) -> Option<PyLocation> {
        self.inner.location().map(PyLocation::from)
    }

    /// The module's reading of the argv, rendered with canonical option names, when a
    /// module decided. (For the structured reading, check the argv with the policy.)
    #[getter]
    fn reading(&self) -> Option<&str> {
        match self.inner.basis() {
            airlock_shell::Basis::Policy(explanation) => explanation.reading.as_deref(),
            _ => None,
        }
    }

    fn __bool__(&self) -> bool {
        self.allowed()
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "CommandDecision(outcome={:?}, text={:?}, rule_id={})",
            self.outcome(),
            self.inner.text(),
            py_str_or_none(self.inner.rule_id())
        )
    }
}

/// The decision on a whole line: the strictest outcome of its parts, and every
/// part's judgement in source order.
#[pyclass(frozen, module = "airlock_policy", name = "ShellDecision")]
#[derive(Debug, Clone)]
pub struct PyShellDecision {
    inner: ShellDecision,
}

#[pymethods]
impl PyShellDecision {
    /// `"allow"`, `"ask"` or `"deny"`: the strictest of the parts (deny when the line
    /// cannot be read).
    #[getter]
    fn outcome(&self) -> &'static str {
        self.inner.outcome().as_str()
    }

    /// Whether the whole line may run.
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.is_allowed()
    }

    /// The deciding rule's id (`shell.syntax`, `shell.too-long`, `shell.too-deep` for
    /// a line that cannot be read); `None` for an allowed line.
    #[getter]
    fn rule_id(&self) -> Option<&str> {
        self.inner.rule_id()
    }

    /// A human reason naming the command or construct that decided.
    #[getter]
    fn reason(&self) -> String {
        self.inner.reason()
    }

    /// Every part judged, in source order.
    #[getter]
    fn commands(&self) -> Vec<PyCommandDecision> {
        self.inner
            .commands()
            .iter()
            .map(|c| PyCommandDecision { inner: c.clone() })
            .collect()
    }

    /// The first part whose outcome is the line's; `None` for an allowed line or one
    /// that cannot be read.
    #[getter]
    fn deciding(&self) -> Option<PyCommandDecision> {
        self.inner
            .deciding()
            .map(|c| PyCommandDecision { inner: c.clone() })
    }

    /// Why the line could not be read, if it could not.
    #[getter]
    fn error(&self) -> Option<String> {
        self.inner.error().map(ToString::to_string)
    }

    /// Where the line could not be read: a `(start, end)` byte range.
    #[getter]
    fn error_span(&self) -> Option<(usize, usize)> {
        self.inner.error().map(|e| {
            let span = e.span();
            (span.start, span.end)
        })
    }

    fn __bool__(&self) -> bool {
        self.inner.is_allowed()
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "ShellDecision(outcome={:?}, rule_id={})",
            self.outcome(),
            py_str_or_none(self.inner.rule_id())
        )
    }
}

/// Checks every simple command of a POSIX/bash command line against `policy`. Never
/// raises on the line: one that cannot be read is denied, with `error` saying why.
#[pyfunction]
#[pyo3(signature = (policy, line, options = None))]
pub(crate) fn check_line(
    policy: &PyPolicy,
    line: &str,
    options: Option<&PyShellOptions>,
) -> PyShellDecision {
    check_line_with(policy.inner(), line, options)
}

/// [`check_line`] on a policy; without options, no plain command may run and no
/// redirection may write a file.
pub(crate) fn check_line_with(
    policy: &airlock_policy::Policy,
    line: &str,
    options: Option<&PyShellOptions>,
) -> PyShellDecision {
    let default;
    let options = match options {
        Some(options) => &options.inner,
        None => {
            default = airlock_shell::ShellOptions::new();
            &default
        }
    };
    PyShellDecision {
        inner: airlock_shell::check_line(policy, line, options),
    }
}
