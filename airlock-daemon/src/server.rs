//! Serving agents (the listeners land with the wire protocol).

use std::path::Path;

use crate::cli::{CliResult, ConfigArgs};

/// Starts the daemon.
pub fn start(_config: &ConfigArgs, _sockets: Option<&Path>) -> CliResult {
    Err("error: `start` is not available in this build yet".into())
}
