//! The module file format as it is written: serde types for the TOML, with spans so
//! that every later error can point at the text. Unknown keys are errors.

use std::collections::BTreeMap;

use serde::de::{self, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
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
    /// `not_allowed = "..."`: the reason an allow-list module gives when no allow rule
    /// admits an argv.
    #[serde(default)]
    pub not_allowed: Option<String>,
    /// `versions = ["2.47", ...]`: the releases of the tool whose argv reading this
    /// module was checked against (`major.minor` or a longer prefix).
    #[serde(default)]
    pub versions: Vec<String>,
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
    pub global_first: Option<bool>,
    #[serde(default)]
    pub values_skip_options: Option<bool>,
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
    /// Path declarations for the value of every option that has none of its own.
    #[serde(default)]
    pub value_paths: Option<Spanned<RawPaths>>,
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
    Deny,
    DenyDeclared,
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
    /// Options of this scope whose values are paths, by any of their names.
    #[serde(default)]
    pub paths: BTreeMap<Spanned<String>, Spanned<RawPaths>>,
    /// Which operands of this scope are paths.
    #[serde(default)]
    pub operands: Option<Spanned<RawOperands>>,
}

/// `"read"`, `"write"` or `"chdir"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawAccess {
    Read,
    Write,
    Chdir,
}

/// A path declaration: an access, or a table that also says which part of the value
/// is the path.
#[derive(Debug)]
pub(crate) enum RawPath {
    Access(RawAccess),
    Table(RawPathTable),
}

/// `{ access = "read", prefix = [...], unless = [...], before = ":", fields = [...],
/// keys = [...] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPathTable {
    pub access: RawAccess,
    #[serde(default)]
    pub prefix: Vec<String>,
    #[serde(default)]
    pub unless: Vec<Spanned<String>>,
    #[serde(default)]
    pub before: Option<Spanned<String>>,
    #[serde(default)]
    pub fields: Vec<String>,
    #[serde(default)]
    pub keys: Vec<String>,
}

impl<'de> Deserialize<'de> for RawPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PathVisitor;

        impl<'de> Visitor<'de> for PathVisitor {
            type Value = RawPath;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`\"read\"`, `\"write\"`, `\"chdir\"` or a table with `access`")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawPath, E> {
                RawAccess::deserialize(value.into_deserializer()).map(RawPath::Access)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPath, A::Error> {
                RawPathTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawPath::Table)
            }
        }

        deserializer.deserialize_any(PathVisitor)
    }
}

/// The path declarations of one option: one, or a list when different parts of its
/// value are paths of different kinds (ssh `-o IdentityFile=...` reads,
/// `-o ControlPath=...` writes).
#[derive(Debug)]
pub(crate) enum RawPaths {
    One(RawPath),
    Many(Vec<Spanned<RawPath>>),
}

impl<'de> Deserialize<'de> for RawPaths {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PathsVisitor;

        impl<'de> Visitor<'de> for PathsVisitor {
            type Value = RawPaths;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a path declaration or a list of them")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawPaths, E> {
                RawAccess::deserialize(value.into_deserializer())
                    .map(|access| RawPaths::One(RawPath::Access(access)))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPaths, A::Error> {
                RawPathTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|t| RawPaths::One(RawPath::Table(t)))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawPaths, A::Error> {
                let mut many = Vec::new();
                while let Some(path) = seq.next_element::<Spanned<RawPath>>()? {
                    many.push(path);
                }
                Ok(RawPaths::Many(many))
            }
        }

        deserializer.deserialize_any(PathsVisitor)
    }
}

/// `operands = "read"` (every operand) or `operands = ["read", "write"]` (by
/// position).
#[derive(Debug)]
pub(crate) enum RawOperands {
    Every(RawPath),
    Each(Vec<Spanned<RawPath>>),
}

impl<'de> Deserialize<'de> for RawOperands {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OperandsVisitor;

        impl<'de> Visitor<'de> for OperandsVisitor {
            type Value = RawOperands;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a path declaration for every operand, or a list of them by position")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawOperands, E> {
                RawAccess::deserialize(value.into_deserializer())
                    .map(|access| RawOperands::Every(RawPath::Access(access)))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawOperands, A::Error> {
                RawPathTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|t| RawOperands::Every(RawPath::Table(t)))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawOperands, A::Error> {
                let mut each = Vec::new();
                while let Some(path) = seq.next_element::<Spanned<RawPath>>()? {
                    each.push(path);
                }
                Ok(RawOperands::Each(each))
            }
        }

        deserializer.deserialize_any(OperandsVisitor)
    }
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
    #[serde(default)]
    pub exec_writable: Option<bool>,
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
