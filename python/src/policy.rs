//! Compiled modules and policies: immutable values shared by `Arc`, checked without
//! copying the argv.

use std::sync::Arc;

use airlock_policy::{Module, Policy};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::sync::PyOnceLock;

use crate::decision::{PyDecision, PyReading, Subject};
use crate::error::compile_error;
use crate::shell::{PyShellDecision, PyShellOptions, check_line_with};

/// One compiled command module: immutable, safe to share between threads.
#[pyclass(frozen, module = "airlock_policy", name = "Module")]
#[derive(Debug, Clone)]
pub struct PyModuleValue {
    pub(crate) inner: Arc<Module>,
}

#[pymethods]
impl PyModuleValue {
    /// The program this module guards (`bin`).
    #[getter]
    fn bin(&self) -> &str {
        self.inner.bin()
    }

    /// The name the module was compiled under.
    #[getter]
    fn source_name(&self) -> &str {
        self.inner.source_name()
    }

    /// Whether the module is an allow list (an argv must be admitted by an allow rule).
    #[getter]
    fn is_allow_list(&self) -> bool {
        self.inner.is_allow_list()
    }

    /// The ids of the module's rules, in the order they were written.
    #[getter]
    fn rule_ids(&self) -> Vec<String> {
        self.inner
            .rules()
            .iter()
            .map(|r| r.id().to_owned())
            .collect()
    }

    /// Decides whether the program may run with `argv` (the arguments after the
    /// program name).
    fn check(&self, argv: Vec<PyBackedStr>) -> PyDecision {
        PyDecision::check(Subject::Module(Arc::clone(&self.inner)), argv)
    }

    /// Every plausible reading of `argv`, the ones `check` decides on. Raises
    /// `ValueError` when the argv cannot be read at all (`check` denies it).
    fn readings(&self, argv: Vec<PyBackedStr>) -> PyResult<Vec<PyReading>> {
        match self.inner.readings(&argv) {
            Ok(readings) => Ok(readings.iter().map(PyReading::from).collect()),
            Err(why) => Err(PyValueError::new_err(format!(
                "cannot read the argv reliably: {why}"
            ))),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Module(bin={:?}, source_name={:?})",
            self.inner.bin(),
            self.inner.source_name()
        )
    }
}

/// Several compiled modules, one per command; a command without a module is denied.
#[pyclass(frozen, module = "airlock_policy", name = "Policy")]
#[derive(Debug, Clone)]
pub struct PyPolicy {
    inner: Arc<Policy>,
}

#[pymethods]
impl PyPolicy {
    /// A policy of these modules. A second module for the same program raises
    /// `CompileError` (kind `"duplicate"`).
    #[new]
    #[pyo3(signature = (modules = Vec::new()))]
    fn new(py: Python<'_>, modules: Vec<PyRef<'_, PyModuleValue>>) -> PyResult<Self> {
        let mut builder = Policy::builder();
        for module in modules {
            builder
                .add_module(Module::clone(&module.inner))
                .map_err(|e| compile_error(py, &e))?;
        }
        Ok(Self {
            inner: Arc::new(builder.build()),
        })
    }

    /// The built-in modules (git, terraform, aws, docker, ssh, kubectl) as one policy.
    /// Compiled once; every call returns the same immutable policy.
    #[staticmethod]
    fn builtins(py: Python<'_>) -> PyResult<Py<PyPolicy>> {
        builtin_policy(py)
    }

    /// Decides whether `command` may run with `argv` (the arguments after the program
    /// name).
    fn check(&self, command: &str, argv: Vec<PyBackedStr>) -> PyDecision {
        PyDecision::check(
            Subject::Policy(Arc::clone(&self.inner), command.to_owned()),
            argv,
        )
    }

    /// Checks every simple command of a POSIX/bash command line; see `check_line`.
    #[pyo3(signature = (line, options = None))]
    fn check_line(&self, line: &str, options: Option<&PyShellOptions>) -> PyShellDecision {
        check_line_with(&self.inner, line, options)
    }

    /// The module for `command`, if the policy has one.
    fn module(&self, command: &str) -> Option<PyModuleValue> {
        self.inner.module(command).map(|m| PyModuleValue {
            inner: Arc::new(m.clone()),
        })
    }

    /// The commands with a module, in name order.
    #[getter]
    fn commands(&self) -> Vec<String> {
        self.inner.commands().map(str::to_owned).collect()
    }

    fn __contains__(&self, command: &str) -> bool {
        self.inner.module(command).is_some()
    }

    fn __len__(&self) -> usize {
        self.inner.commands().count()
    }

    fn __repr__(&self) -> String {
        let commands: Vec<&str> = self.inner.commands().collect();
        format!("Policy(commands={commands:?})")
    }
}

impl PyPolicy {
    /// The compiled policy.
    pub(crate) fn inner(&self) -> &Policy {
        &self.inner
    }
}

static BUILTINS: PyOnceLock<Py<PyPolicy>> = PyOnceLock::new();

/// The built-in policy, compiled on first use.
pub(crate) fn builtin_policy(py: Python<'_>) -> PyResult<Py<PyPolicy>> {
    BUILTINS
        .get_or_try_init(py, || {
            let policy = airlock_builtins::policy().map_err(|e| compile_error(py, &e))?;
            Py::new(
                py,
                PyPolicy {
                    inner: Arc::new(policy),
                },
            )
        })
        .map(|p| p.clone_ref(py))
}

/// Compiles one module from its TOML text. `source_name` is how errors and
/// locations name it (usually a file path). With `extends`, the text is a module that
/// says `extends = "..."` and adds its rules to that one.
#[pyfunction]
#[pyo3(signature = (source_name, text, *, extends = None))]
pub(crate) fn compile(
    py: Python<'_>,
    source_name: &str,
    text: &str,
    extends: Option<PyRef<'_, PyModuleValue>>,
) -> PyResult<PyModuleValue> {
    let compiled = match extends {
        None => Module::compile(source_name, text),
        Some(base) => Module::compile_extending(&base.inner, source_name, text),
    };
    compiled
        .map(|m| PyModuleValue { inner: Arc::new(m) })
        .map_err(|e| compile_error(py, &e))
}

/// The built-in policy: the same as `Policy.builtins()`.
#[pyfunction]
pub(crate) fn builtins(py: Python<'_>) -> PyResult<Py<PyPolicy>> {
    builtin_policy(py)
}

/// The built-in module for `name` (compiled anew). Raises `KeyError` for a name that is
/// not a built-in.
#[pyfunction]
pub(crate) fn builtin(py: Python<'_>, name: &str) -> PyResult<PyModuleValue> {
    match airlock_builtins::compile(name) {
        None => Err(unknown_builtin(name)),
        Some(Err(e)) => Err(compile_error(py, &e)),
        Some(Ok(module)) => Ok(PyModuleValue {
            inner: Arc::new(module),
        }),
    }
}

/// The names of the built-in modules, in name order.
#[pyfunction]
pub(crate) fn builtin_names() -> Vec<&'static str> {
    airlock_builtins::names().collect()
}

/// The TOML text of the built-in module `name`.
#[pyfunction]
pub(crate) fn builtin_source(name: &str) -> PyResult<&'static str> {
    airlock_builtins::get(name)
        .map(|b| b.source)
        .ok_or_else(|| unknown_builtin(name))
}

/// The threat-model notes (markdown) of the built-in module `name`.
#[pyfunction]
pub(crate) fn builtin_notes(name: &str) -> PyResult<&'static str> {
    airlock_builtins::get(name)
        .map(|b| b.notes)
        .ok_or_else(|| unknown_builtin(name))
}

fn unknown_builtin(name: &str) -> PyErr {
    PyKeyError::new_err(format!("`{name}` is not a built-in module"))
}
