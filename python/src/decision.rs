//! The result of a check as Python sees it: owned copies of the engine's `Decision`
//! and `Reading`, so that a Python object never borrows the policy or the argv.

use std::sync::{Arc, OnceLock};

use airlock_policy::{Decision, Element, Module, PathSource, Policy, Reading, Verdict};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;

/// Where a rule was written: the module's source name, a 1-based line and column.
#[pyclass(frozen, eq, hash, module = "airlock_policy", name = "Location")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PyLocation {
    /// The name the module was compiled under (usually a file path).
    #[pyo3(get)]
    source: String,
    /// 1-based line.
    #[pyo3(get)]
    line: usize,
    /// 1-based column, in characters.
    #[pyo3(get)]
    column: usize,
}

impl From<&airlock_policy::Location> for PyLocation {
    fn from(location: &airlock_policy::Location) -> Self {
        Self {
            source: location.source.clone(),
            line: location.line,
            column: location.column,
        }
    }
}

#[pymethods]
impl PyLocation {
    fn __str__(&self) -> String {
        format!("{}:{}:{}", self.source, self.line, self.column)
    }

    fn __repr__(&self) -> String {
        format!(
            "Location(source={:?}, line={}, column={})",
            self.source, self.line, self.column
        )
    }
}

/// Where a piece of a reading was written: bytes `start..end` of argument `index`
/// (0 is the first argument after the program name).
#[pyclass(frozen, eq, hash, module = "airlock_policy", name = "ArgSpan")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyArgSpan {
    /// The argument's index in the argv.
    #[pyo3(get)]
    index: usize,
    /// The first byte (of the argument's UTF-8 encoding).
    #[pyo3(get)]
    start: usize,
    /// One past the last byte.
    #[pyo3(get)]
    end: usize,
}

impl From<airlock_policy::ArgSpan> for PyArgSpan {
    fn from(span: airlock_policy::ArgSpan) -> Self {
        let range = span.range();
        Self {
            index: span.index(),
            start: range.start,
            end: range.end,
        }
    }
}

#[pymethods]
impl PyArgSpan {
    fn __repr__(&self) -> String {
        format!(
            "ArgSpan(index={}, start={}, end={})",
            self.index, self.start, self.end
        )
    }
}

/// A positional word: an operand or a word of the subcommand path, a whole argument.
#[pyclass(frozen, eq, hash, module = "airlock_policy", name = "Word")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PyWord {
    /// The word.
    #[pyo3(get)]
    text: String,
    /// Its index in the argv.
    #[pyo3(get)]
    index: usize,
}

#[pymethods]
impl PyWord {
    fn __str__(&self) -> &str {
        &self.text
    }

    fn __repr__(&self) -> String {
        format!("Word(text={:?}, index={})", self.text, self.index)
    }
}

/// An option as the tool reads it: its canonical name, its value, its scope.
#[pyclass(frozen, eq, hash, module = "airlock_policy", name = "Opt")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PyOpt {
    /// The canonical name the module declares (`--upload-pack` for `-u`), or the
    /// spelling of an undeclared option.
    #[pyo3(get)]
    name: String,
    /// The value it took, if any.
    #[pyo3(get)]
    value: Option<String>,
    /// Read in the global scope (before the subcommand).
    #[pyo3(get)]
    is_global: bool,
    /// The module's `[syntax]` declares it.
    #[pyo3(get)]
    is_declared: bool,
    /// The index of the argument it was written in.
    #[pyo3(get)]
    index: usize,
    /// Where its value was written.
    #[pyo3(get)]
    value_span: Option<PyArgSpan>,
}

#[pymethods]
impl PyOpt {
    fn __repr__(&self) -> String {
        format!(
            "Opt(name={:?}, value={}, is_global={}, index={})",
            self.name,
            py_str_or_none(self.value.as_deref()),
            py_bool(self.is_global),
            self.index
        )
    }
}

/// `'text'`-style quoting is Python's; `"text"` (Rust's Debug) is close enough for a repr.
pub(crate) fn py_str_or_none(text: Option<&str>) -> String {
    text.map_or_else(|| "None".to_owned(), |t| format!("{t:?}"))
}

fn py_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// A path the tool will use on the host, as the module declares it.
#[pyclass(frozen, eq, hash, module = "airlock_policy", name = "PathValue")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PyPathValue {
    /// The path as the tool will use it.
    #[pyo3(get)]
    text: String,
    /// `"read"`, `"write"` or `"chdir"`.
    #[pyo3(get)]
    access: String,
    /// The name of the option whose value it is, if it came from an option.
    #[pyo3(get)]
    option: Option<String>,
    /// Its position among the operands (1 is the first), if it is an operand.
    #[pyo3(get)]
    operand: Option<usize>,
    /// Where it is written in the argv.
    #[pyo3(get)]
    span: PyArgSpan,
    /// Indexes, in the reading's `paths`, of the directory changes it is relative to.
    #[pyo3(get)]
    base: Vec<usize>,
}

#[pymethods]
impl PyPathValue {
    fn __repr__(&self) -> String {
        format!(
            "PathValue(text={:?}, access={:?}, index={})",
            self.text, self.access, self.span.index
        )
    }
}

/// The reading of an argv: the subcommand path, the options with their values, the
/// operands and the paths, as the tool itself reads them.
#[pyclass(frozen, module = "airlock_policy", name = "Reading")]
#[derive(Debug, Clone)]
pub struct PyReading {
    path: Vec<String>,
    path_words: Vec<PyWord>,
    options: Vec<PyOpt>,
    operands: Vec<PyWord>,
    paths: Vec<PyPathValue>,
    text: String,
}

impl From<&Reading<'_, '_>> for PyReading {
    fn from(reading: &Reading<'_, '_>) -> Self {
        Self::with_text(reading, reading.to_string())
    }
}

impl PyReading {
    /// The reading, with its rendering already made (`Explanation::reading`).
    fn with_text(reading: &Reading<'_, '_>, text: String) -> Self {
        let mut options = Vec::new();
        let mut operands = Vec::new();
        for element in reading.elements() {
            match element {
                Element::Option(opt) => options.push(PyOpt {
                    name: opt.name().to_owned(),
                    value: opt.value().map(str::to_owned),
                    is_global: opt.is_global(),
                    is_declared: opt.is_declared(),
                    index: opt.index(),
                    value_span: opt.value_span().map(PyArgSpan::from),
                }),
                Element::Operand(word) => operands.push(word_of(word)),
                // `Element` is non-exhaustive; a new kind of element is not an
                // option or an operand.
                _ => {}
            }
        }
        let paths = reading
            .paths()
            .iter()
            .map(|p| {
                let (option, operand) = match p.source() {
                    PathSource::Option(o) => (Some(o.name().to_owned()), None),
                    PathSource::Operand { position, .. } => (None, Some(*position)),
                    _ => (None, None),
                };
                PyPathValue {
                    text: p.text().to_owned(),
                    access: p.access().to_string(),
                    option,
                    operand,
                    span: p.span().into(),
                    base: p.base().to_vec(),
                }
            })
            .collect();
        Self {
            path: reading.path().iter().map(|w| (*w).to_owned()).collect(),
            path_words: reading.path_words().map(word_of).collect(),
            options,
            operands,
            paths,
            text,
        }
    }
}

fn word_of(word: airlock_policy::Word<'_>) -> PyWord {
    PyWord {
        text: word.text().to_owned(),
        index: word.index(),
    }
}

#[pymethods]
impl PyReading {
    /// The subcommand path, e.g. `["state", "rm"]`.
    #[getter]
    fn path(&self) -> Vec<String> {
        self.path.clone()
    }

    /// The words of the subcommand path with where each was written.
    #[getter]
    fn path_words(&self) -> Vec<PyWord> {
        self.path_words.clone()
    }

    /// The options in the order the tool reads them.
    #[getter]
    fn options(&self) -> Vec<PyOpt> {
        self.options.clone()
    }

    /// The operands: positional words that are not part of the subcommand path.
    #[getter]
    fn operands(&self) -> Vec<PyWord> {
        self.operands.clone()
    }

    /// The host paths the module declares, in argv order.
    #[getter]
    fn paths(&self) -> Vec<PyPathValue> {
        self.paths.clone()
    }

    /// The first option answering to the canonical `name`, if any.
    fn option(&self, name: &str) -> Option<PyOpt> {
        self.options.iter().find(|o| o.name == name).cloned()
    }

    fn __str__(&self) -> &str {
        &self.text
    }

    fn __repr__(&self) -> String {
        format!("Reading({:?})", self.text)
    }
}

/// What a decision was made by: a module, or a policy and the command looked up in it.
/// Both are immutable once compiled.
#[derive(Debug)]
pub(crate) enum Subject {
    /// One module.
    Module(Arc<Module>),
    /// A policy, and the command.
    Policy(Arc<Policy>, String),
}

impl Subject {
    fn check<'p, 'a>(&'p self, argv: &'a [PyBackedStr]) -> Decision<'p, 'a> {
        match self {
            Subject::Module(module) => module.check(argv),
            Subject::Policy(policy, command) => policy.check(command, argv),
        }
    }
}

/// A decision: allow or deny, what decided it, and the reading it was made on.
///
/// The verdict is taken when the check runs. Everything else (the reason, the rule, the
/// reading) is copied into Python objects only when first asked for: the engine's
/// `Decision` borrows the module and the argv, which a Python object cannot, so the
/// decision keeps the compiled module (immutable) and the argv's strings (Python
/// strings are immutable) and has the engine, a pure function, decide again. A second
/// look that came out differently would be an engine bug; it raises `RuntimeError`
/// rather than describe a decision that was not made.
#[pyclass(frozen, module = "airlock_policy", name = "Decision")]
#[derive(Debug)]
pub struct PyDecision {
    allowed: bool,
    subject: Subject,
    argv: Vec<PyBackedStr>,
    details: OnceLock<Details>,
}

/// The parts of a decision beyond its verdict, as owned values.
#[derive(Debug)]
struct Details {
    allowed: bool,
    rule_id: Option<String>,
    reason: String,
    location: Option<PyLocation>,
    reading: Option<PyReading>,
    text: String,
}

impl From<&Decision<'_, '_>> for Details {
    fn from(decision: &Decision<'_, '_>) -> Self {
        let explanation = decision.explanation();
        let reading = match (decision.reading(), explanation.reading) {
            (Some(reading), Some(text)) => Some(PyReading::with_text(reading, text)),
            (Some(reading), None) => Some(PyReading::from(reading)),
            (None, _) => None,
        };
        Self {
            allowed: explanation.verdict == Verdict::Allow,
            rule_id: explanation.rule_id,
            location: explanation.location.as_ref().map(PyLocation::from),
            reading,
            text: decision.to_string(),
            reason: explanation.reason,
        }
    }
}

impl PyDecision {
    /// Checks `argv` against `subject`.
    pub(crate) fn check(subject: Subject, argv: Vec<PyBackedStr>) -> Self {
        let allowed = subject.check(&argv).is_allowed();
        Self {
            allowed,
            subject,
            argv,
            details: OnceLock::new(),
        }
    }

    fn details(&self) -> PyResult<&Details> {
        let details = self
            .details
            .get_or_init(|| Details::from(&self.subject.check(&self.argv)));
        if details.allowed == self.allowed {
            Ok(details)
        } else {
            Err(PyRuntimeError::new_err(
                "the policy engine decided this argv differently on a second look (an engine bug): do not run it",
            ))
        }
    }
}

#[pymethods]
impl PyDecision {
    /// `"allow"` or `"deny"`.
    #[getter]
    fn verdict(&self) -> &'static str {
        if self.allowed { "allow" } else { "deny" }
    }

    /// Whether the argv may run.
    #[getter]
    fn allowed(&self) -> bool {
        self.allowed
    }

    /// The deciding rule's id, an engine id such as `airlock.not-allowed`, or `None`.
    #[getter]
    fn rule_id(&self) -> PyResult<Option<&str>> {
        Ok(self.details()?.rule_id.as_deref())
    }

    /// The human reason.
    #[getter]
    fn reason(&self) -> PyResult<&str> {
        Ok(&self.details()?.reason)
    }

    /// Where the deciding rule was written, if a rule decided.
    #[getter]
    fn location(&self) -> PyResult<Option<PyLocation>> {
        Ok(self.details()?.location.clone())
    }

    /// The reading the decision was made on (for a deny, the one that matched).
    #[getter]
    fn reading(&self) -> PyResult<Option<PyReading>> {
        Ok(self.details()?.reading.clone())
    }

    fn __bool__(&self) -> bool {
        self.allowed
    }

    fn __str__(&self) -> PyResult<&str> {
        Ok(&self.details()?.text)
    }

    fn __repr__(&self) -> PyResult<String> {
        let details = self.details()?;
        Ok(format!(
            "Decision(verdict={:?}, rule_id={}, reason={:?})",
            self.verdict(),
            py_str_or_none(details.rule_id.as_deref()),
            details.reason
        ))
    }
}
