//! Python bindings for `airlock-policy`: compile command modules from TOML, use the
//! built-in modules, check an argv or a shell command line (`airlock-shell`) and read
//! the decision. The Python package `airlock_policy` re-exports this native module
//! (`airlock_policy._native`).
//!
//! Nothing here panics on input: every failure is a Python exception, and a check
//! cannot fail.

mod decision;
mod error;
mod policy;
mod shell;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CompileError", m.py().get_type::<error::CompileError>())?;
    m.add_class::<policy::PyModuleValue>()?;
    m.add_class::<policy::PyPolicy>()?;
    m.add_class::<decision::PyDecision>()?;
    m.add_class::<decision::PyReading>()?;
    m.add_class::<decision::PyOpt>()?;
    m.add_class::<decision::PyWord>()?;
    m.add_class::<decision::PyArgSpan>()?;
    m.add_class::<decision::PyPathValue>()?;
    m.add_class::<decision::PyLocation>()?;
    m.add_class::<shell::PyShellOptions>()?;
    m.add_class::<shell::PyShellDecision>()?;
    m.add_class::<shell::PyCommandDecision>()?;
    m.add_function(wrap_pyfunction!(policy::compile, m)?)?;
    m.add_function(wrap_pyfunction!(shell::check_line, m)?)?;
    m.add_function(wrap_pyfunction!(policy::builtins, m)?)?;
    m.add_function(wrap_pyfunction!(policy::builtin, m)?)?;
    m.add_function(wrap_pyfunction!(policy::builtin_names, m)?)?;
    m.add_function(wrap_pyfunction!(policy::builtin_source, m)?)?;
    m.add_function(wrap_pyfunction!(policy::builtin_notes, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
