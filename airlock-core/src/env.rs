//! The environment of a proxied program: module `strip` removes, the agent profile's
//! `set` injects, the module's `set` hardens last (a profile cannot undo hardening).
//! The container's environment is never part of it.

use std::collections::BTreeMap;

use airlock_policy::EnvSpec;

/// How to turn the daemon's environment into the program's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvPlan {
    strip: Vec<String>,
    set: BTreeMap<String, String>,
}

impl EnvPlan {
    /// The plan for a module's `[env]` and a profile's `[env] set`.
    pub fn new(module: &EnvSpec, profile_set: &BTreeMap<String, String>) -> Self {
        let mut set = profile_set.clone();
        for (key, value) in &module.set {
            set.insert(key.clone(), value.clone());
        }
        Self {
            strip: module.strip.clone(),
            set,
        }
    }

    /// Applies the plan to `base` (the daemon's own environment).
    pub fn apply<I, K, V>(&self, base: I) -> BTreeMap<String, String>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut env: BTreeMap<String, String> = base
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, _)| !self.strip.contains(k))
            .collect();
        env.extend(self.set.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// The variable names the plan sets (values are not for logs).
    pub fn set_keys(&self) -> impl Iterator<Item = &str> {
        self.set.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_then_profile_then_module() {
        let module = EnvSpec {
            strip: vec!["AWS_ACCESS_KEY_ID".into(), "GIT_DIR".into()],
            set: [("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned())].into(),
        };
        let profile: BTreeMap<String, String> = [
            ("GIT_TERMINAL_PROMPT".to_owned(), "1".to_owned()),
            ("GIT_SSH_COMMAND".to_owned(), "ssh -i k".to_owned()),
            ("GIT_DIR".to_owned(), "/x".to_owned()),
        ]
        .into();
        let plan = EnvPlan::new(&module, &profile);
        let env = plan.apply([
            ("PATH", "/bin"),
            ("AWS_ACCESS_KEY_ID", "secret"),
            ("GIT_DIR", "/old"),
        ]);
        assert_eq!(env.get("PATH").map(String::as_str), Some("/bin"));
        assert!(!env.contains_key("AWS_ACCESS_KEY_ID"), "stripped");
        assert_eq!(env["GIT_SSH_COMMAND"], "ssh -i k", "profile injects");
        assert_eq!(
            env["GIT_DIR"], "/x",
            "profile may set what the module strips"
        );
        assert_eq!(env["GIT_TERMINAL_PROMPT"], "0", "module hardening wins");
    }
}
