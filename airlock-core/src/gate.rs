//! The three-layer gate. The daemon's enable list is the ceiling, the agent's command
//! list narrows it, and the command's module decides on the argv. Each layer is
//! checked on its own, so a mistake in one does not open the others.

use std::collections::BTreeSet;

use airlock_policy::{CompileError, Decision, Module, Policy};

use crate::agents::AgentProfile;
use crate::config::DaemonConfig;
use crate::env::EnvPlan;

/// An agent's scope: its profile and the modules in force for it.
#[derive(Debug, Clone)]
pub struct AgentScope {
    profile: AgentProfile,
    /// Commands this agent may use: enable list ∩ the agent's list.
    commands: BTreeSet<String>,
    /// The modules of those commands (agent overrides replace built-ins).
    policy: Policy,
}

/// Why an agent's scope could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// An override module does not compile.
    #[error(transparent)]
    Module(#[from] CompileError),
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
    /// for each `commands/<stem>.toml`).
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
        for (source, stem, text) in overrides {
            let module = Module::compile(source, text)?;
            if module.bin() != stem {
                return Err(ScopeError::MisnamedOverride {
                    file: source.clone(),
                    bin: module.bin().to_owned(),
                });
            }
            overridden.insert(stem.clone());
            if commands.contains(stem) {
                builder.add_module(module)?;
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
        })
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
            "[command]\nbin = \"ssh\"\n".to_owned(),
        )];
        let scope =
            AgentScope::new(&config("\"git\""), profile(""), &builtins(), &overrides).unwrap();
        assert!(matches!(
            scope.gate("ssh", &["-A", "h"]),
            GateOutcome::Unknown
        ));
    }

    #[test]
    fn overrides_replace_builtins_wholly() {
        let overrides = [(
            "commands/git.toml".to_owned(),
            "git".to_owned(),
            "[command]\nbin = \"git\"\n[allow]\nargs = [\"status\"]\n".to_owned(),
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
