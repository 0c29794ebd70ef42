//! The three-layer gate. The daemon's enable list is the ceiling, the agent's command
//! list narrows it, and the command's module decides on the argv. Each layer is
//! checked on its own, so a mistake in one does not open the others.

use std::collections::{BTreeMap, BTreeSet};

use airlock_policy::{CompileError, Decision, Module, Policy};

use crate::agents::AgentProfile;
use crate::config::DaemonConfig;
use crate::env::EnvPlan;
use crate::overrides::{self, GivenUp};
use crate::source_error::SourceError;

/// An agent's scope: its profile and the modules in force for it.
#[derive(Debug, Clone)]
pub struct AgentScope {
    profile: AgentProfile,
    /// Commands this agent may use: enable list ∩ the agent's list.
    commands: BTreeSet<String>,
    /// The modules of those commands (the built-ins, or the agent's modules, which
    /// extend or replace them).
    policy: Policy,
    /// The commands whose built-in an agent's module replaces (`replace = true`), and
    /// what it gives up.
    replaced: BTreeMap<String, GivenUp>,
}

/// Why an agent's scope could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// An override module does not compile.
    #[error(transparent)]
    Module(#[from] CompileError),
    /// An override module does not fit the built-ins: it would replace one without
    /// saying so, extends one that does not exist, or replaces one that does not.
    #[error("{0}")]
    Override(Box<SourceError>),
    /// An override is named for one command but guards another.
    #[error("`{file}` is for `{bin}`: name it `commands/{bin}.toml`")]
    MisnamedOverride {
        /// The override's source name.
        file: String,
        /// The module's `[command] bin`.
        bin: String,
    },
    /// A command is enabled for the agent but has neither a built-in nor an override.
    #[error("command `{0}` is enabled but no module guards it: add `commands/{0}.toml`")]
    NoModule(String),
    /// The agent lists a command the daemon does not enable.
    #[error("agent `{agent}` lists `{command}`, which the daemon's enable list does not have")]
    NotEnabled {
        /// The agent.
        agent: String,
        /// The command.
        command: String,
    },
}

/// What the gate decided.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "built once per request and matched at once; boxing would only add an allocation"
)]
pub enum GateOutcome<'s, 'a> {
    /// The command does not exist for this agent (not enabled by the daemon, or not in
    /// the agent's list): it is answered as an unknown command.
    Unknown,
    /// The module decided; the decision may allow or deny.
    Decided {
        /// The module of the command.
        module: &'s Module,
        /// Its decision on the argv.
        decision: Decision<'s, 'a>,
    },
}

impl AgentScope {
    /// Builds an agent's scope from the daemon config, the agent's profile, the
    /// built-in modules and the agent's override modules (`(source name, stem, text)`
    /// for each `commands/<stem>.toml`). An override for a command with a built-in
    /// must extend it (`extends = "builtin:NAME"`) or say `replace = true`.
    pub fn new(
        config: &DaemonConfig,
        profile: AgentProfile,
        builtins: &Policy,
        overrides: &[(String, String, String)],
    ) -> Result<Self, ScopeError> {
        let commands: BTreeSet<String> = match &profile.commands {
            None => config.enable.clone(),
            Some(listed) => {
                if let Some(missing) = listed.iter().find(|c| !config.enable.contains(*c)) {
                    return Err(ScopeError::NotEnabled {
                        agent: profile.name.clone(),
                        command: missing.clone(),
                    });
                }
                listed.clone()
            }
        };
        let mut builder = Policy::builder();
        let mut overridden = BTreeSet::new();
        let mut replaced = BTreeMap::new();
        for (source, stem, text) in overrides {
            let compiled = overrides::compile_override(builtins, source, stem, text)?;
            overridden.insert(stem.clone());
            if commands.contains(stem) {
                builder.add_module(compiled.module)?;
                if let Some(given_up) = compiled.replaced {
                    replaced.insert(stem.clone(), given_up);
                }
            }
        }
        for command in &commands {
            if overridden.contains(command) {
                continue;
            }
            match builtins.module(command) {
                Some(module) => {
                    builder.add_module(module.clone())?;
                }
                None => return Err(ScopeError::NoModule(command.clone())),
            }
        }
        Ok(Self {
            profile,
            commands,
            policy: builder.build(),
            replaced,
        })
    }

    /// The commands in force whose built-in module an agent's module replaces
    /// (`replace = true`), with the built-in's hardening the replacement lacks.
    pub fn replaced(&self) -> &BTreeMap<String, GivenUp> {
        &self.replaced
    }

    /// The agent's profile.
    pub fn profile(&self) -> &AgentProfile {
        &self.profile
    }

    /// The commands this agent may use.
    pub fn commands(&self) -> &BTreeSet<String> {
        &self.commands
    }

    /// The modules in force for this agent.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Passes `command` and `argv` through the three layers.
    pub fn gate<'s, 'a, S: AsRef<str>>(
        &'s self,
        command: &str,
        argv: &'a [S],
    ) -> GateOutcome<'s, 'a> {
        if !self.commands.contains(command) {
            return GateOutcome::Unknown;
        }
        match self.policy.module(command) {
            Some(module) => GateOutcome::Decided {
                module,
                decision: module.check(argv),
            },
            None => GateOutcome::Unknown,
        }
    }

    /// The environment plan for running `module` for this agent.
    pub fn env_plan(&self, module: &Module) -> EnvPlan {
        EnvPlan::new(module.env(), &self.profile.env_pass, &self.profile.env_set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtins() -> Policy {
        Policy::builder()
            .add(
                "git.toml",
                "[command]\nbin = \"git\"\n[deny]\nargs = [\"daemon\"]\n",
            )
            .unwrap()
            .add(
                "ssh.toml",
                "[command]\nbin = \"ssh\"\n[deny]\nargs = [\"-A\"]\n",
            )
            .unwrap()
            .build()
    }

    fn config(enable: &str) -> DaemonConfig {
        DaemonConfig::parse("c", &format!("[commands]\nenable = [{enable}]\n")).unwrap()
    }

    fn profile(commands: &str) -> AgentProfile {
        AgentProfile::parse("a1", "p", &format!("commands = [{commands}]\n")).unwrap()
    }

    #[test]
    fn three_layers_each_narrow() {
        let scope = AgentScope::new(
            &config("\"git\", \"ssh\""),
            profile("\"git\""),
            &builtins(),
            &[],
        )
        .unwrap();
        assert!(
            matches!(scope.gate("ssh", &["host"]), GateOutcome::Unknown),
            "agent layer"
        );
        assert!(
            matches!(scope.gate("rm", &["-rf"]), GateOutcome::Unknown),
            "enable layer"
        );
        let GateOutcome::Decided { decision, .. } = scope.gate("git", &["daemon"]) else {
            panic!("git is enabled");
        };
        assert!(!decision.is_allowed(), "module layer");
        let GateOutcome::Decided { decision, .. } = scope.gate("git", &["status"]) else {
            panic!("git is enabled");
        };
        assert!(decision.is_allowed());
    }

    #[test]
    fn agent_cannot_widen_the_ceiling() {
        let err = AgentScope::new(
            &config("\"git\""),
            profile("\"git\", \"ssh\""),
            &builtins(),
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, ScopeError::NotEnabled { .. }), "{err}");
        // An override for a command the daemon does not enable stays unreachable.
        let overrides = [(
            "commands/ssh.toml".to_owned(),
            "ssh".to_owned(),
            "[command]\nbin = \"ssh\"\nreplace = true\n".to_owned(),
        )];
        let scope =
            AgentScope::new(&config("\"git\""), profile(""), &builtins(), &overrides).unwrap();
        assert!(scope.replaced().is_empty(), "not in force");
        assert!(matches!(
            scope.gate("ssh", &["-A", "h"]),
            GateOutcome::Unknown
        ));
    }

    #[test]
    fn overrides_that_say_replace_replace_builtins_wholly() {
        let overrides = [(
            "commands/git.toml".to_owned(),
            "git".to_owned(),
            "[command]\nbin = \"git\"\nreplace = true\n[allow]\nargs = [\"status\"]\n".to_owned(),
        )];
        let scope =
            AgentScope::new(&config("\"git\""), profile(""), &builtins(), &overrides).unwrap();
        let GateOutcome::Decided { decision, .. } = scope.gate("git", &["log"]) else {
            panic!()
        };
        assert!(!decision.is_allowed());
        let GateOutcome::Decided { decision, .. } = scope.gate("git", &["daemon"]) else {
            panic!()
        };
        assert!(!decision.is_allowed());
        let GateOutcome::Decided { decision, .. } = scope.gate("git", &["status"]) else {
            panic!()
        };
        assert!(decision.is_allowed());
        let given_up = &scope.replaced()["git"];
        assert_eq!(given_up.deny_rules, ["deny.args[0]"]);
        assert_eq!(given_up.builtin, "git.toml");
    }

    fn decide(scope: &AgentScope, argv: &[&str]) -> (bool, Option<String>) {
        let GateOutcome::Decided { decision, .. } = scope.gate("git", argv) else {
            panic!("git is enabled")
        };
        (decision.is_allowed(), decision.explanation().rule_id)
    }

    fn git_override(text: &str) -> Result<AgentScope, ScopeError> {
        let overrides = [(
            "commands/git.toml".to_owned(),
            "git".to_owned(),
            text.to_owned(),
        )];
        AgentScope::new(&config("\"git\""), profile(""), &builtins(), &overrides)
    }

    #[test]
    fn overrides_that_extend_keep_the_builtin() {
        let scope = git_override(
            "[command]\nbin = \"git\"\nextends = \"builtin:git\"\n[deny]\nargs = [\"push\"]\n",
        )
        .unwrap();
        assert_eq!(
            decide(&scope, &["daemon"]),
            (false, Some("deny.args[0]".into()))
        );
        assert_eq!(
            scope
                .policy()
                .check("git", &["daemon"])
                .module()
                .map(Module::source_name),
            Some("git.toml"),
            "the built-in's rule denied"
        );
        assert_eq!(
            decide(&scope, &["push"]),
            (false, Some("deny.args[0]".into()))
        );
        assert_eq!(
            scope
                .policy()
                .check("git", &["push"])
                .module()
                .map(Module::source_name),
            Some("commands/git.toml")
        );
        assert!(decide(&scope, &["status"]).0);
        assert!(scope.replaced().is_empty());
    }

    #[test]
    fn an_override_of_a_builtin_must_extend_or_replace() {
        let err =
            git_override("[command]\nbin = \"git\"\n[deny]\nargs = [\"push\"]\n").unwrap_err();
        let ScopeError::Override(e) = &err else {
            panic!("{err}")
        };
        assert_eq!(e.location.to_string(), "commands/git.toml:2:7");
        assert!(e.message.contains("extends = \"builtin:git\""), "{e}");
        assert!(e.message.contains("replace = true"), "{e}");
        assert!(
            err.to_string().contains("  --> commands/git.toml:2:7"),
            "{err}"
        );

        for (text, at, needle) in [
            (
                "[command]\nbin = \"git\"\nextends = \"builtin:nope\"\n",
                "3:11",
                "built-ins: git, ssh",
            ),
            (
                "[command]\nbin = \"git\"\nextends = \"git\"\n",
                "3:11",
                "write `builtin:NAME`",
            ),
        ] {
            let err = git_override(text).unwrap_err();
            let ScopeError::Override(e) = &err else {
                panic!("{err}")
            };
            assert_eq!(e.location.to_string(), format!("commands/git.toml:{at}"));
            assert!(e.message.contains(needle), "{e}");
        }
        let err =
            git_override("[command]\nbin = \"git\"\nextends = \"builtin:ssh\"\n").unwrap_err();
        assert!(
            matches!(&err, ScopeError::Module(e) if e.message().contains("a module for `ssh`")),
            "{err}"
        );
        let err = git_override(
            "[command]\nbin = \"git\"\nextends = \"builtin:git\"\n[env]\nset = { X = \"1\" }\n[exec]\nconcurrent = false\n[syntax]\nstyle = \"gnu\"\n",
        )
        .unwrap_err();
        assert!(
            matches!(&err, ScopeError::Module(e) if e.location().line == 9),
            "{err}"
        );

        // A new command has nothing to extend or replace.
        let make = |text: &str| {
            let overrides = [(
                "commands/make.toml".to_owned(),
                "make".to_owned(),
                text.to_owned(),
            )];
            AgentScope::new(&config("\"make\""), profile(""), &builtins(), &overrides)
        };
        assert!(make("[command]\nbin = \"make\"\n").is_ok());
        let err = make("[command]\nbin = \"make\"\nreplace = true\n").unwrap_err();
        let ScopeError::Override(e) = &err else {
            panic!("{err}")
        };
        assert_eq!(e.location.to_string(), "commands/make.toml:3:11");
        assert!(e.message.contains("no built-in `make`"), "{e}");
        let err = make("[command]\nbin = \"make\"\nextends = \"builtin:make\"\n").unwrap_err();
        assert!(err.to_string().contains("not a built-in module"), "{err}");
    }

    #[test]
    fn given_up_lists_the_hardening_a_replacement_lacks() {
        let builtin = Module::compile(
            "builtin:t.toml",
            "[command]\nbin = \"t\"\n[[rule]]\nid = \"t.a\"\naction = \"deny\"\nargs = \"a\"\n[[rule]]\nid = \"t.b\"\naction = \"deny\"\nargs = \"b\"\n[env]\nstrip = [\"S1\", \"S2\"]\nset = { K1 = \"1\", K2 = \"2\" }\n[exec]\nconcurrent = false\nstdin = false\ntimeout_secs = 60\n",
        )
        .unwrap();
        let replacement = Module::compile(
            "mine.toml",
            "[command]\nbin = \"t\"\nreplace = true\n[[rule]]\nid = \"t.a\"\naction = \"deny\"\nargs = \"a\"\n[env]\nstrip = [\"S2\"]\nset = { K1 = \"1\", K2 = \"other\" }\n[exec]\nstdin = false\ntimeout_secs = 600\n",
        )
        .unwrap();
        let given_up = GivenUp::new(&builtin, &replacement);
        assert_eq!(
            given_up.to_string(),
            "env set: K2; env strip: S1; deny rules: t.b; exec: concurrent = false, timeout_secs = 60"
        );
        let all = GivenUp::new(&builtin, &builtin);
        assert!(all.is_empty());
        assert_eq!(all.to_string(), "nothing");
    }

    #[test]
    fn scope_errors_are_explained() {
        let misnamed = [(
            "commands/git.toml".to_owned(),
            "git".to_owned(),
            "[command]\nbin = \"ssh\"\n".to_owned(),
        )];
        let err =
            AgentScope::new(&config("\"git\""), profile(""), &builtins(), &misnamed).unwrap_err();
        assert!(
            err.to_string().contains("name it `commands/ssh.toml`"),
            "{err}"
        );
        let err = AgentScope::new(&config("\"make\""), profile(""), &builtins(), &[]).unwrap_err();
        assert!(
            matches!(err, ScopeError::NoModule(ref c) if c == "make"),
            "{err}"
        );
        let bad = [(
            "commands/git.toml".to_owned(),
            "git".to_owned(),
            "[command]\n".to_owned(),
        )];
        let err = AgentScope::new(&config("\"git\""), profile(""), &builtins(), &bad).unwrap_err();
        assert!(matches!(err, ScopeError::Module(_)), "{err}");
    }
}
