#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod check;
mod decision;
mod error;
pub mod hook;
mod options;
mod parse;

pub use check::{check_line, check_line_noting};
pub use decision::{Basis, CommandDecision, Construct, Outcome, ShellDecision};
pub use error::{ParseError, ParseErrorKind};
pub use options::{DEFAULT_MAX_DEPTH, DEFAULT_MAX_LEN, ShellOptions};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
