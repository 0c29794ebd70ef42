//! Compile errors as a Python exception that carries where the fault was written.

use airlock_policy::ErrorKind;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pyo3::create_exception!(
    airlock_policy,
    CompileError,
    PyValueError,
    "A module could not be compiled. `str(error)` is the message with the source line and \
a caret under the fault; the attributes `kind`, `message`, `source`, `line`, `column`, \
`line_text`, `caret_start` and `caret_width` say what and where."
);

/// The name of an error kind, as Python sees it (`"toml"`, `"example"`, ...).
pub(crate) fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Toml => "toml",
        ErrorKind::Syntax => "syntax",
        ErrorKind::Entry => "entry",
        ErrorKind::Glob => "glob",
        ErrorKind::Rule => "rule",
        ErrorKind::Example => "example",
        ErrorKind::TooLarge => "too-large",
        ErrorKind::Extends => "extends",
        ErrorKind::Duplicate => "duplicate",
        // `ErrorKind` is non-exhaustive: a kind this binding does not know yet.
        _ => "other",
    }
}

/// Turns a [`airlock_policy::CompileError`] into a raised `CompileError` with its
/// attributes set.
pub(crate) fn compile_error(py: Python<'_>, err: &airlock_policy::CompileError) -> PyErr {
    let raised = CompileError::new_err(err.to_string());
    let location = err.location();
    let snippet = err.snippet();
    let value = raised.value(py);
    let set = || -> PyResult<()> {
        value.setattr("kind", kind_name(err.kind()))?;
        value.setattr("message", err.message())?;
        value.setattr("source", &location.source)?;
        value.setattr("line", location.line)?;
        value.setattr("column", location.column)?;
        value.setattr("line_text", &snippet.line_text)?;
        value.setattr("caret_start", snippet.start)?;
        value.setattr("caret_width", snippet.width)?;
        Ok(())
    };
    match set() {
        Ok(()) => raised,
        Err(other) => other,
    }
}
