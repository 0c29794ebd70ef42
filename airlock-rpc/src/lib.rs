//! Work in progress: filled by a later issue.
