//! The environment of a proxied program. It does not inherit the daemon's environment:
//! it starts empty, takes from the daemon's environment only the names on the pass
//! list ([`PASS`] and the profile's `[env] pass`), less the module's `[env] strip`,
//! then the profile's `[env] set` injects and the module's `[env] set` hardens last (a
//! profile cannot undo hardening). The container's environment is never part of it.
//!
//! The daemon then sets `HOME`, `TMPDIR` (the run's private directory) and `PWD` (the
//! directory the program runs in) itself, so these are never passed.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;

use airlock_policy::EnvSpec;

/// The names every program gets from the daemon's environment, when the daemon has
/// them. Each is needed for the tools to work as they do in a shell and none can carry
/// a credential or point a tool at other configuration:
///
/// - `PATH`: where programs find their helpers (git runs `ssh` and its
///   `git-remote-*` helpers, kubectl its credential plugins, docker its
///   `docker-credential-*` helpers, terraform its providers' tools).
/// - `USER`, `LOGNAME`: the daemon user's name, for tools that read it from the
///   environment rather than from `/etc/passwd` (Go's `os/user` without cgo, ssh's
///   default remote user through some wrappers).
/// - `LANG`, `LANGUAGE`, `LC_ALL` and the twelve `LC_*` categories: the locale, so
///   messages and encodings match the operator's. Listed by name, not as `LC_*`, so
///   that an arbitrary `LC_SOMETHING` (which ssh would forward with the common
///   `SendEnv LC_*`) is not passed.
/// - `TZ`: the time zone, for the dates in `git log` and tool output.
///
/// Left out on purpose (a profile can pass them by name): `SSH_AUTH_SOCK` (the daemon
/// user's agent, every key it holds; use `[ssh_agent]`), proxies (`HTTPS_PROXY`, ...:
/// they can hold a password and redirect traffic), trust roots (`SSL_CERT_FILE`,
/// `AWS_CA_BUNDLE`, ...), tool configuration (`KUBECONFIG`, `DOCKER_HOST`,
/// `AWS_PROFILE`, `GIT_*`, `TF_*`), `SHELL` (ssh runs commands with it),
/// `XDG_RUNTIME_DIR` (the daemon user's sockets), `LD_*`, and `TERM` (programs have no
/// terminal).
pub const PASS: &[&str] = &[
    "PATH",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_ADDRESS",
    "LC_COLLATE",
    "LC_CTYPE",
    "LC_IDENTIFICATION",
    "LC_MEASUREMENT",
    "LC_MESSAGES",
    "LC_MONETARY",
    "LC_NAME",
    "LC_NUMERIC",
    "LC_PAPER",
    "LC_TELEPHONE",
    "LC_TIME",
    "TZ",
];

/// The names the daemon sets for every run itself; a profile cannot pass them.
pub const SET_BY_DAEMON: &[&str] = &["HOME", "TMPDIR", "PWD"];

/// How to build the program's environment from the daemon's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvPlan {
    pass: BTreeSet<String>,
    set: BTreeMap<String, String>,
}

impl EnvPlan {
    /// The plan for a module's `[env]` and a profile's `[env] pass` and `set`.
    pub fn new(
        module: &EnvSpec,
        profile_pass: &BTreeSet<String>,
        profile_set: &BTreeMap<String, String>,
    ) -> Self {
        let pass = PASS
            .iter()
            .map(|name| (*name).to_owned())
            .chain(profile_pass.iter().cloned())
            .filter(|name| !module.strip.contains(name))
            .collect();
        let mut set = profile_set.clone();
        for (key, value) in &module.set {
            set.insert(key.clone(), value.clone());
        }
        Self { pass, set }
    }

    /// Builds the program's environment from `daemon_env` (the daemon's own,
    /// `std::env::vars_os()`): the passed names it has, then the profile's and the
    /// module's `set`. A passed variable whose name or value is not UTF-8 is left out.
    pub fn apply<I, K, V>(&self, daemon_env: I) -> BTreeMap<String, String>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut env: BTreeMap<String, String> = daemon_env
            .into_iter()
            .filter_map(|(k, v)| {
                let key = k.into().into_string().ok()?;
                if !self.pass.contains(&key) {
                    return None;
                }
                Some((key, v.into().into_string().ok()?))
            })
            .collect();
        env.extend(self.set.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// The names taken from the daemon's environment when it has them.
    pub fn pass_names(&self) -> impl Iterator<Item = &str> {
        self.pass.iter().map(String::as_str)
    }

    /// The variable names the plan sets (values are not for logs).
    pub fn set_keys(&self) -> impl Iterator<Item = &str> {
        self.set.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon_env() -> Vec<(&'static str, &'static str)> {
        vec![
            ("PATH", "/bin"),
            ("LANG", "C.UTF-8"),
            ("LC_TIME", "C"),
            ("LC_SECRET", "x"),
            ("HOME", "/home/daemon"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_PROFILE", "prod"),
            ("SSH_AUTH_SOCK", "/run/agent"),
            ("GIT_DIR", "/old"),
            ("LD_PRELOAD", "/x.so"),
        ]
    }

    #[test]
    fn only_the_pass_list_comes_from_the_daemon() {
        let plan = EnvPlan::new(&EnvSpec::default(), &BTreeSet::new(), &BTreeMap::new());
        let env = plan.apply(daemon_env());
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(names, ["LANG", "LC_TIME", "PATH"]);
        assert!(plan.pass_names().all(|n| PASS.contains(&n)));
        for name in PASS {
            assert!(!SET_BY_DAEMON.contains(name), "{name}");
        }
    }

    #[test]
    fn pass_then_strip_then_profile_then_module() {
        let module = EnvSpec {
            strip: vec!["AWS_ACCESS_KEY_ID".into(), "GIT_DIR".into(), "LANG".into()],
            set: [("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned())].into(),
        };
        let pass: BTreeSet<String> = ["AWS_PROFILE", "GIT_DIR", "NOT_IN_DAEMON_ENV"]
            .map(str::to_owned)
            .into();
        let profile: BTreeMap<String, String> = [
            ("GIT_TERMINAL_PROMPT".to_owned(), "1".to_owned()),
            ("GIT_SSH_COMMAND".to_owned(), "ssh -i k".to_owned()),
            ("AWS_PROFILE".to_owned(), "dev".to_owned()),
        ]
        .into();
        let plan = EnvPlan::new(&module, &pass, &profile);
        let env = plan.apply(daemon_env());
        assert_eq!(env.get("PATH").map(String::as_str), Some("/bin"));
        assert!(!env.contains_key("LANG"), "strip removes passed names");
        assert!(
            !env.contains_key("GIT_DIR"),
            "strip wins over the profile's pass"
        );
        assert!(!env.contains_key("NOT_IN_DAEMON_ENV"));
        assert!(!env.contains_key("AWS_SECRET_ACCESS_KEY"));
        assert!(!env.contains_key("SSH_AUTH_SOCK"));
        assert!(!env.contains_key("HOME"), "the daemon sets HOME per run");
        assert_eq!(
            env["AWS_PROFILE"], "dev",
            "the profile's set wins over pass"
        );
        assert_eq!(env["GIT_SSH_COMMAND"], "ssh -i k", "profile injects");
        assert_eq!(env["GIT_TERMINAL_PROMPT"], "0", "module hardening wins");
        let set: Vec<&str> = plan.set_keys().collect();
        assert_eq!(
            set,
            ["AWS_PROFILE", "GIT_SSH_COMMAND", "GIT_TERMINAL_PROMPT"]
        );
    }

    #[test]
    fn the_profile_may_set_what_the_module_strips() {
        let module = EnvSpec {
            strip: vec!["GIT_DIR".into()],
            set: BTreeMap::new(),
        };
        let profile: BTreeMap<String, String> = [("GIT_DIR".to_owned(), "/x".to_owned())].into();
        let env = EnvPlan::new(&module, &BTreeSet::new(), &profile).apply(daemon_env());
        assert_eq!(env["GIT_DIR"], "/x");
    }

    #[test]
    fn non_utf8_variables_are_left_out() {
        use std::os::unix::ffi::OsStringExt;
        let pass: BTreeSet<String> = ["ODD".to_owned()].into();
        let plan = EnvPlan::new(&EnvSpec::default(), &pass, &BTreeMap::new());
        let env = plan.apply([
            (OsString::from("ODD"), OsString::from_vec(vec![0xff])),
            (OsString::from("PATH"), OsString::from("/bin")),
            (OsString::from_vec(vec![0xff]), OsString::from("x")),
        ]);
        assert_eq!(env.len(), 1);
        assert_eq!(env["PATH"], "/bin");
    }
}
