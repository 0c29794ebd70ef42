//! The Airlock daemon: serves each agent on its own socket, checks every request
//! against policy, runs the real program with the real credentials and streams it
//! back. `main.rs` only parses the command line and calls [`run`].
#![deny(missing_docs)]

pub mod audit_log;
pub mod background;
pub mod children;
mod cli;
pub mod confine;
mod connection;
pub mod destinations;
mod devices;
mod doctor;
pub mod executor;
mod explain;
mod fd_path;
pub mod git_checks;
pub mod git_discover;
pub mod git_pin;
pub mod guard;
pub mod hooks;
pub mod host_paths;
mod init;
mod load;
mod paths;
pub mod pipeline;
pub mod post_exec;
pub mod reading_json;
pub mod scheduling;
pub mod scratch;
mod server;
pub mod small_file;
pub mod spawn;
mod ssh_agent;
mod syscall_filter;
pub mod timing;
mod trusted;
mod verbose;
pub mod workdir;

pub use cli::{Cli, run};
pub use server::serve_agents;
