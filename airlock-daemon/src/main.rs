//! The `airlock-daemon` command.

use clap::Parser;

fn main() -> std::process::ExitCode {
    airlock_daemon::run(airlock_daemon::Cli::parse())
}
