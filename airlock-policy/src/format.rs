//! The module file format as it is written: serde types for the TOML, with spans so
//! that every later error can point at the text. Unknown keys are errors.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole module file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModule {
    pub command: Spanned<RawCommand>,
    #[serde(default)]
    pub syntax: Option<Spanned<RawSyntax>>,
    #[serde(default)]
    pub deny: Option<RawList>,
    #[serde(default)]
    pub allow: Option<RawList>,
    #[serde(default)]
    pub rule: Vec<Spanned<RawRule>>,
    #[serde(default)]
    pub env: RawEnv,
    #[serde(default)]
    pub args: RawArgs,
    #[serde(default)]
    pub exec: RawExec,
    #[serde(default)]
    pub examples: RawExamples,
}

/// `[command]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommand {
    pub bin: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `extends = "builtin:git"`: this module adds to another (see `compose`).
    #[serde(default)]
    pub extends: Option<Spanned<String>>,
    /// `replace = true`: this module knowingly stands in for another wholly.
    #[serde(default)]
    pub replace: Option<Spanned<bool>>,
}

/// The original `[deny]` / `[allow]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawList {
    pub args: Vec<Spanned<String>>,
}

/// `[syntax]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSyntax {
    #[serde(default)]
    pub style: Option<Spanned<RawStyle>>,
    #[serde(default)]
    pub abbreviate: Option<bool>,
    #[serde(default)]
    pub global_anywhere: Option<bool>,
    #[serde(default)]
    pub double_dash: Option<RawDoubleDash>,
    #[serde(default)]
    pub undeclared: Option<RawUndeclared>,
    #[serde(default)]
    pub subcommands: Option<bool>,
    #[serde(default)]
    pub global: Option<Spanned<RawScope>>,
    #[serde(default)]
    pub commands: BTreeMap<Spanned<String>, Spanned<RawScope>>,
}

/// `style = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawStyle {
    Generic,
    Gnu,
    Pflag,
    Go,
}

/// `double_dash = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawDoubleDash {
    EndsOptions,
    Ignored,
}

/// `undeclared = "..."`: what an undeclared option does with the word after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawUndeclared {
    Either,
    TakesValue,
}

/// `[syntax.global]` or `[syntax.commands."NAME"]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScope {
    #[serde(default)]
    pub flags: Vec<Spanned<String>>,
    #[serde(default)]
    pub values: Vec<Spanned<String>>,
    #[serde(default)]
    pub optional: Vec<Spanned<String>>,
    #[serde(default)]
    pub bools: Vec<Spanned<String>>,
    #[serde(default)]
    pub abbreviate: Option<bool>,
    #[serde(default)]
    pub options_until: Option<u32>,
}

/// `[[rule]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    pub action: RawAction,
    #[serde(default)]
    pub command: Option<Spanned<String>>,
    #[serde(default)]
    pub args: Option<Spanned<String>>,
    #[serde(default)]
    pub global: bool,
    #[serde(default)]
    pub fields: Vec<String>,
    #[serde(default)]
    pub ignore_case: bool,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default, rename = "match")]
    pub must_match: Vec<Spanned<String>>,
    #[serde(default)]
    pub not_match: Vec<Spanned<String>>,
}

/// `action = "deny" | "allow"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawAction {
    Deny,
    Allow,
}

/// `[env]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnv {
    #[serde(default)]
    pub strip: Vec<String>,
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}

/// `[args]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawArgs {
    #[serde(default)]
    pub append: Vec<String>,
}

/// `[exec]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExec {
    #[serde(default)]
    pub concurrent: Option<bool>,
    #[serde(default)]
    pub stdin: Option<bool>,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// `[examples]`: whole-module decisions that must hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExamples {
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
}
