//! The deployment examples in `examples/deploy/` (Dockerfiles, Compose, Kubernetes),
//! checked without Docker or a cluster: every YAML document parses, the configuration
//! passes the real daemon's `check`, and every path, package, subcommand and flag the
//! files name exists. The security properties the README promises are asserted too:
//! the credentials reach the daemon only, the agent gets the socket read-only.
//! (`.ci/deploy-lint` lints the Dockerfiles with hadolint.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

/// The shim's links in the agent image.
const SHIM_LINKS: [&str; 6] = ["git", "terraform", "aws", "kubectl", "ssh", "docker"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn deploy() -> PathBuf {
    repo().join("examples/deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn daemon() -> Command {
    Command::new(env!("CARGO_BIN_EXE_airlock-daemon"))
}

fn stdout(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn toml_file(path: &Path) -> toml::Table {
    read(path)
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_docs(path: &Path) -> Vec<Yaml> {
    let docs = YamlLoader::load_from_str(&read(path))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!docs.is_empty(), "{}: no YAML document", path.display());
    for (i, doc) in docs.iter().enumerate() {
        assert!(
            doc.as_hash().is_some(),
            "{}: document {i} is not a mapping",
            path.display()
        );
    }
    docs
}

fn yaml_str<'a>(value: &'a Yaml, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {value:?}"))
}

fn yaml_list<'a>(value: &'a Yaml, what: &str) -> &'a [Yaml] {
    value
        .as_vec()
        .unwrap_or_else(|| panic!("{what}: expected a list, got {value:?}"))
}

/// What the daemon image's `ENTRYPOINT` passes to `airlock-daemon start`.
struct Entrypoint {
    config: String,
    agents: String,
    sockets: String,
}

impl Entrypoint {
    fn socket(&self, agent: &str) -> String {
        format!("{}/{agent}.sock", self.sockets)
    }
    /// The agents file, relative to the config directory.
    fn agents_in_config(&self) -> &str {
        self.agents
            .strip_prefix(&format!("{}/", self.config))
            .expect("--agents lies in --config")
    }
    /// The directory holding the socket directory: the shared volume's mount point.
    fn sockets_volume(&self) -> String {
        parent(&self.sockets)
    }
}

fn parent(path: &str) -> String {
    Path::new(path)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// One Dockerfile instruction: its keyword (upper case) and the rest of its text, with
/// continuation lines joined and comment lines dropped (as Docker reads them).
fn instructions(path: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in read(path).lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(start) = trimmed.strip_suffix('\\') {
            pending.push_str(start);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (keyword, rest) = pending.split_once(char::is_whitespace).unwrap();
        out.push((keyword.to_uppercase(), rest.trim().to_owned()));
        pending.clear();
    }
    assert!(pending.is_empty(), "{}: dangling `\\`", path.display());
    out
}

fn workspace_members() -> Vec<String> {
    let manifest = toml_file(&repo().join("Cargo.toml"));
    manifest["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

fn package_name(member: &str) -> String {
    let manifest = toml_file(&repo().join(member).join("Cargo.toml"));
    manifest["package"]["name"].as_str().unwrap().to_owned()
}

/// Checks what any of the Dockerfiles names: instructions, stages, COPY sources,
/// cargo packages, paths, profiles; the final stage runs as a numeric non-root user.
/// Returns the instructions.
fn check_dockerfile(name: &str) -> Vec<(String, String)> {
    const KNOWN: &str = "FROM RUN CMD LABEL EXPOSE ENV ADD COPY ENTRYPOINT VOLUME USER \
                         WORKDIR ARG ONBUILD STOPSIGNAL HEALTHCHECK SHELL MAINTAINER";
    let path = deploy().join(name);
    let steps = instructions(&path);
    assert_eq!(steps[0].0, "FROM", "{name}: starts with FROM");
    let members = workspace_members();
    let packages: Vec<String> = members.iter().map(|m| package_name(m)).collect();
    let manifest = toml_file(&repo().join("Cargo.toml"));
    let mut stages: Vec<String> = Vec::new();
    let mut first_stage_copies: Vec<String> = Vec::new();
    let mut user = None;
    for (keyword, rest) in &steps {
        assert!(
            KNOWN.split_whitespace().any(|k| k == keyword),
            "{name}: `{keyword}` is not a Dockerfile instruction"
        );
        let words: Vec<&str> = rest.split_whitespace().collect();
        match keyword.as_str() {
            "FROM" => {
                assert!(!rest.contains(":latest"), "{name}: tag the base image");
                if let [_, r#as, stage] = words[..] {
                    assert!(r#as.eq_ignore_ascii_case("as"), "{name}: FROM {rest}");
                    stages.push(stage.to_owned());
                } else {
                    assert_eq!(words.len(), 1, "{name}: FROM {rest}");
                    stages.push(String::new());
                }
                user = None;
            }
            "COPY" | "ADD" => {
                let (flags, paths): (Vec<&str>, Vec<&str>) =
                    words.iter().partition(|w| w.starts_with("--"));
                assert!(paths.len() >= 2, "{name}: COPY {rest}");
                if let Some(from) = flags.iter().find_map(|f| f.strip_prefix("--from=")) {
                    // The stage must come before this one.
                    assert!(
                        stages[..stages.len() - 1].iter().any(|s| s == from),
                        "{name}: COPY --from={from}: no such earlier stage"
                    );
                    continue;
                }
                for source in &paths[..paths.len() - 1] {
                    assert!(
                        repo().join(source).exists(),
                        "{name}: COPY source `{source}` does not exist in the repository"
                    );
                    if stages.len() == 1 {
                        first_stage_copies.push(source.trim_end_matches('/').to_owned());
                    }
                }
            }
            "RUN" => check_cargo_commands(name, rest, &packages, &manifest),
            "USER" => user = Some(rest.clone()),
            _ => {}
        }
    }
    // The builder copies the whole workspace: cargo reads every member.
    for needed in ["Cargo.toml", "Cargo.lock"]
        .into_iter()
        .map(str::to_owned)
        .chain(members)
    {
        assert!(
            first_stage_copies.contains(&needed),
            "{name}: the build stage does not COPY `{needed}`"
        );
    }
    let user = user.unwrap_or_else(|| panic!("{name}: the final stage sets no USER"));
    let (uid, gid) = user.split_once(':').unwrap();
    let (uid, gid): (u32, u32) = (uid.parse().unwrap(), gid.parse().unwrap());
    assert!(uid != 0 && gid != 0, "{name}: USER {user} is root");
    steps
}

/// Every `cargo` command in a RUN names existing packages, paths and profiles, and is
/// `--locked` (the dependency versions of Cargo.lock).
fn check_cargo_commands(name: &str, run: &str, packages: &[String], manifest: &toml::Table) {
    for command in run.split("&&") {
        let words: Vec<&str> = command.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "cargo") else {
            continue;
        };
        let args = &words[at + 1..];
        assert!(
            args.contains(&"--locked"),
            "{name}: `{command}` not --locked"
        );
        for pair in args.windows(2) {
            match pair[0] {
                "-p" | "--package" => assert!(
                    packages.iter().any(|p| p == pair[1]),
                    "{name}: no package `{}`",
                    pair[1]
                ),
                "--path" => assert!(
                    repo().join(pair[1]).join("Cargo.toml").exists(),
                    "{name}: no crate at `{}`",
                    pair[1]
                ),
                "--profile" => assert!(
                    ["dev", "release"].contains(&pair[1])
                        || manifest["profile"].get(pair[1]).is_some(),
                    "{name}: no profile `{}`",
                    pair[1]
                ),
                _ => {}
            }
        }
    }
}

/// The daemon image: the ENTRYPOINT runs the installed binary with a subcommand and
/// flags that exist, and the config it names is the one the image copies.
fn daemon_entrypoint() -> Entrypoint {
    let steps = check_dockerfile("Dockerfile.daemon");
    let entrypoint = steps.iter().rev().find(|(k, _)| k == "ENTRYPOINT").unwrap();
    let argv: Vec<String> = serde_json::from_str(&entrypoint.1)
        .unwrap_or_else(|e| panic!("ENTRYPOINT must be a JSON array (exec form): {e}"));
    let at = argv
        .iter()
        .position(|a| a == "airlock-daemon")
        .expect("the ENTRYPOINT runs airlock-daemon");
    // Whatever wraps it (tini) is installed by the image.
    for wrapper in &argv[..at] {
        if let Some(program) = wrapper.strip_prefix("/usr/bin/") {
            assert!(
                steps.iter().any(|(k, r)| k == "RUN"
                    && r.contains("apt-get install")
                    && r.split_whitespace().any(|w| w == program)),
                "ENTRYPOINT runs {wrapper}, which no RUN installs"
            );
        }
    }
    // The binary comes from `cargo install --root R`, copied from R/bin/airlock-daemon.
    let root = steps
        .iter()
        .find_map(|(k, r)| {
            let words: Vec<&str> = r.split_whitespace().collect();
            (k == "RUN" && words.contains(&"install"))
                .then(|| words.windows(2).find(|w| w[0] == "--root").map(|w| w[1]))
                .flatten()
        })
        .expect("the build stage runs `cargo install --root DIR`");
    assert!(
        steps.iter().any(|(k, r)| k == "COPY"
            && r.contains(&format!("{root}/bin/airlock-daemon "))
            && r.ends_with("/usr/local/bin/airlock-daemon")),
        "the image copies {root}/bin/airlock-daemon to /usr/local/bin"
    );

    let subcommand = &argv[at + 1];
    let top = stdout(daemon().arg("--help"));
    assert!(
        top.lines()
            .any(|l| l.split_whitespace().next() == Some(subcommand)),
        "`airlock-daemon {subcommand}` is not a subcommand:\n{top}"
    );
    let help = stdout(daemon().args([subcommand, "--help"]));
    let mut flags = BTreeMap::new();
    let mut rest = argv[at + 2..].iter();
    while let Some(flag) = rest.next() {
        assert!(
            flag.starts_with("--") && help.contains(&format!("{flag} <")),
            "`airlock-daemon {subcommand} {flag}` is not an option:\n{help}"
        );
        flags.insert(flag.clone(), rest.next().unwrap().clone());
    }
    let entry = Entrypoint {
        config: flags["--config"].clone(),
        agents: flags["--agents"].clone(),
        sockets: flags["--sockets"].clone(),
    };
    // The image's config is examples/deploy/config, copied to --config.
    assert!(
        steps
            .iter()
            .any(|(k, r)| k == "COPY" && *r == format!("examples/deploy/config {}", entry.config)),
        "the image copies examples/deploy/config to {}",
        entry.config
    );
    assert!(
        deploy()
            .join("config")
            .join(entry.agents_in_config())
            .is_file()
    );
    entry
}

/// The agents of the example configuration: name -> its directory under config/.
fn agents(entry: &Entrypoint) -> BTreeMap<String, PathBuf> {
    let file = deploy().join("config").join(entry.agents_in_config());
    toml_file(&file)
        .into_iter()
        .map(|(name, table)| {
            let dir = file.parent().unwrap().join(table["path"].as_str().unwrap());
            (name, dir)
        })
        .collect()
}

/// An agent's `[[mounts]]` as (container, host) paths.
fn agent_mounts(dir: &Path) -> Vec<(String, String)> {
    let profile = toml_file(&dir.join("airlock.toml"));
    profile
        .get("mounts")
        .and_then(|m| m.as_array())
        .map(|mounts| {
            mounts
                .iter()
                .map(|m| {
                    (
                        m["container"].as_str().unwrap().to_owned(),
                        m["host"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The audit log's directory, from config.toml.
fn log_dir() -> String {
    let config = toml_file(&deploy().join("config/config.toml"));
    parent(config["log"]["path"].as_str().unwrap())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_example_configuration_passes_the_daemons_check() {
    let entry = daemon_entrypoint();
    // `check` resolves every mount's host path, and /workspace exists only in the
    // container: check a copy whose absolute host paths are moved under a temp dir
    // (the only change; the daemon's check stays as strict as it is).
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    copy_dir(&deploy().join("config"), &config);
    for dir in agents(&entry).values() {
        let relative = dir.strip_prefix(deploy().join("config")).unwrap();
        let copy = config.join(relative).join("airlock.toml");
        let mut text = read(&copy);
        for (_, host) in agent_mounts(dir) {
            if let Some(inside) = host.strip_prefix('/') {
                let moved = tmp.path().join("root").join(inside);
                std::fs::create_dir_all(&moved).unwrap();
                let quoted = format!("\"{host}\"");
                assert!(text.contains(&quoted), "{}: {quoted}", copy.display());
                text = text.replace(&quoted, &format!("\"{}\"", moved.display()));
            }
        }
        std::fs::write(&copy, text).unwrap();
    }
    let agents_file = config.join(entry.agents_in_config());
    let args = [
        "--config".as_ref(),
        config.as_os_str(),
        "--agents".as_ref(),
        agents_file.as_os_str(),
    ];
    // The daemon's home in the image holds the key and known_hosts (mounted from a
    // secret); here a fake home stands in for it.
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "FAKE-KEY\n").unwrap();
    std::fs::write(home.join(".ssh/known_hosts"), "").unwrap();
    let daemon = || {
        let mut command = daemon();
        command.env("HOME", &home);
        command
    };
    let checked = stdout(daemon().arg("check").args(args));
    for name in agents(&entry).keys() {
        assert!(checked.contains(&format!("agent `{name}`")), "{checked}");
    }
    let explain = |argv: &[&str]| {
        daemon()
            .args(["explain", "--agent", "agent"])
            .args(args)
            .arg("--")
            .args(argv)
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(explain(&["git", "status"]), Some(0));
    assert_eq!(
        explain(&["git", "-c", "core.fsmonitor=x", "status"]),
        Some(1)
    );
    assert_eq!(explain(&["ssh", "-A", "host"]), Some(1));
    // Installed in the agent image as a link, but not enabled: the daemon image has no terraform.
    assert_eq!(explain(&["terraform", "plan"]), Some(1));
}

#[test]
fn the_agent_image_holds_the_shim_and_points_it_at_the_daemons_socket() {
    let entry = daemon_entrypoint();
    let steps = check_dockerfile("Dockerfile.agent");
    let final_stage = &steps[steps.iter().rposition(|(k, _)| k == "FROM").unwrap()..];
    assert!(
        final_stage.iter().any(|(k, r)| k == "COPY"
            && r.starts_with("--from=")
            && r.ends_with(" /usr/local/bin/airlock-shim")),
        "the agent image copies the shim to /usr/local/bin/airlock-shim"
    );
    let links = final_stage
        .iter()
        .find(|(k, r)| k == "RUN" && r.contains("ln -s airlock-shim"))
        .expect("a RUN links the shim");
    for command in SHIM_LINKS {
        assert!(
            links
                .1
                .split(|c: char| c.is_whitespace() || c == ';')
                .any(|w| w == command),
            "the shim is not linked as `{command}`"
        );
    }
    let env: String = final_stage
        .iter()
        .filter(|(k, _)| k == "ENV")
        .map(|(_, r)| r.clone() + " ")
        .collect();
    assert!(
        env.contains("PATH=/usr/local/bin:"),
        "/usr/local/bin must come first on PATH: {env}"
    );
    for name in agents(&entry).keys() {
        assert!(
            env.contains(&format!("AIRLOCK_SOCKET={}", entry.socket(name))),
            "AIRLOCK_SOCKET is not the daemon's socket {}: {env}",
            entry.socket(name)
        );
    }
}

#[test]
fn every_yaml_document_parses() {
    let files: Vec<PathBuf> = files_under(&deploy())
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        for doc in yaml_docs(&file) {
            if file.parent().unwrap().ends_with("kubernetes") {
                for key in ["apiVersion", "kind"] {
                    yaml_str(&doc[key], &format!("{}: {key}", file.display()));
                }
                yaml_str(&doc["metadata"]["name"], &file.display().to_string());
            }
        }
    }
}

/// A compose short-syntax volume: (source, target, read-only). The source may be
/// `${VAR:?message}`, which holds colons.
fn compose_volume(spec: &str) -> (String, String, bool) {
    let (source, rest) = if spec.starts_with("${") {
        let end = spec.find('}').unwrap();
        (&spec[..=end], spec[end + 1..].strip_prefix(':').unwrap())
    } else {
        spec.split_once(':').unwrap()
    };
    let (target, read_only) = match rest.split_once(':') {
        Some((target, "ro")) => (target, true),
        Some((_, mode)) => panic!("volume `{spec}`: mode {mode}"),
        None => (rest, false),
    };
    (source.to_owned(), target.to_owned(), read_only)
}

#[test]
fn compose_shares_only_the_socket_and_the_workspace_with_the_agent() {
    let entry = daemon_entrypoint();
    let compose_dir = deploy();
    let docs = yaml_docs(&compose_dir.join("compose.yaml"));
    let compose = &docs[0];
    let services = &compose["services"];
    let declared = compose["volumes"].as_hash().unwrap();
    let volumes = |service: &str| -> Vec<(String, String, bool)> {
        yaml_list(&services[service]["volumes"], service)
            .iter()
            .map(|v| compose_volume(yaml_str(v, service)))
            .collect()
    };
    for service in ["daemon", "agent"] {
        let s = &services[service];
        let build = &s["build"];
        let context = compose_dir.join(yaml_str(&build["context"], service));
        assert!(
            context
                .join(yaml_str(&build["dockerfile"], service))
                .is_file(),
            "{service}: the Dockerfile does not exist"
        );
        assert_eq!(s["read_only"].as_bool(), Some(true), "{service}");
        assert!(yaml_list(&s["cap_drop"], service).contains(&Yaml::from_str("ALL")));
        assert!(
            yaml_list(&s["security_opt"], service)
                .contains(&Yaml::from_str("no-new-privileges:true"))
        );
        assert!(
            s["privileged"].is_badvalue() && s["pid"].is_badvalue(),
            "{service}"
        );
        for (source, _, _) in volumes(service) {
            if source.starts_with('.') {
                assert!(compose_dir.join(&source).exists(), "{service}: `{source}`");
            } else if !source.starts_with("${") {
                assert!(
                    declared.contains_key(&Yaml::from_str(&source)),
                    "{service}: volume `{source}` is not declared"
                );
            }
        }
    }

    let daemon = volumes("daemon");
    let target = |path: &str| daemon.iter().find(|(_, t, _)| t == path);
    let (config_source, _, config_ro) = target(&entry.config).expect("the daemon mounts --config");
    assert!(*config_ro, "the config is mounted read-only");
    assert_eq!(
        compose_dir.join(config_source).canonicalize().unwrap(),
        deploy().join("config").canonicalize().unwrap()
    );
    for dir in [entry.sockets_volume(), log_dir()] {
        assert!(target(&dir).is_some(), "the daemon does not mount `{dir}`");
    }

    // The agent: no network, and only volumes the daemon mounts too, at the same path.
    let agent = &services["agent"];
    assert_eq!(agent["network_mode"].as_str(), Some("none"));
    let agent_volumes = volumes("agent");
    for (source, target, read_only) in &agent_volumes {
        assert!(
            daemon.iter().any(|(s, t, _)| s == source && t == target),
            "the agent mounts `{source}` at `{target}`, the daemon does not"
        );
        assert!(
            !source.starts_with('.') && !source.starts_with("${"),
            "the agent mounts the host path `{source}`: give it named volumes only"
        );
        if *target == entry.sockets_volume() {
            assert!(read_only, "the agent's socket volume must be read-only");
        }
    }
    let agent_targets: Vec<&str> = agent_volumes.iter().map(|(_, t, _)| t.as_str()).collect();
    assert!(agent_targets.contains(&entry.sockets_volume().as_str()));
    for dir in agents(&entry).values() {
        for (container, host) in agent_mounts(dir) {
            assert!(agent_targets.contains(&container.as_str()), "{container}");
            // The same volume at `host` in the daemon.
            let shared = agent_volumes
                .iter()
                .find(|(_, t, _)| *t == container)
                .unwrap();
            assert!(
                daemon.iter().any(|(s, t, _)| *s == shared.0 && *t == host),
                "the daemon must see the agent's {container} at {host}"
            );
        }
    }
    let health = format!("{:?}", services["daemon"]["healthcheck"]["test"]);
    assert!(health.contains(&entry.socket("agent")), "{health}");
    // The daemon answering, not just the socket file existing.
    assert!(
        health.contains("String(\"airlock-daemon\"), String(\"ping\")"),
        "{health}"
    );
    assert_eq!(
        agent["depends_on"]["daemon"]["condition"].as_str(),
        Some("service_healthy")
    );
}

fn find_doc<'a>(docs: &'a [Yaml], kind: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn k8s_docs() -> Vec<Yaml> {
    files_under(&deploy().join("kubernetes"))
        .iter()
        .flat_map(|f| yaml_docs(f))
        .collect()
}

#[test]
fn kubernetes_keeps_the_credentials_in_the_daemon_container() {
    let entry = daemon_entrypoint();
    let docs = k8s_docs();
    let pod = find_doc(&docs, "Pod");
    let spec = &pod["spec"];
    assert_eq!(spec["automountServiceAccountToken"].as_bool(), Some(false));
    assert_ne!(spec["shareProcessNamespace"].as_bool(), Some(true));
    for host in ["hostPID", "hostIPC", "hostNetwork"] {
        assert_ne!(spec[host].as_bool(), Some(true), "{host}");
    }
    let pod_security = &spec["securityContext"];
    assert_eq!(pod_security["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(
        pod_security["runAsUser"].as_i64(),
        Some(10001),
        "the images' uid"
    );

    let volumes: BTreeMap<&str, &Yaml> = yaml_list(&spec["volumes"], "volumes")
        .iter()
        .map(|v| (yaml_str(&v["name"], "volume"), v))
        .collect();
    let containers: Vec<&Yaml> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec[*k].as_vec().into_iter().flatten())
        .collect();
    let mounts = |c: &Yaml| -> Vec<(String, String, bool)> {
        yaml_list(&c["volumeMounts"], "volumeMounts")
            .iter()
            .map(|m| {
                let name = yaml_str(&m["name"], "mount").to_owned();
                assert!(volumes.contains_key(name.as_str()), "no volume `{name}`");
                let path = yaml_str(&m["mountPath"], "mountPath").to_owned();
                (name, path, m["readOnly"].as_bool() == Some(true))
            })
            .collect()
    };
    for c in &containers {
        let name = yaml_str(&c["name"], "container");
        let security = &c["securityContext"];
        assert_eq!(
            security["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{name}"
        );
        assert_eq!(
            security["readOnlyRootFilesystem"].as_bool(),
            Some(true),
            "{name}"
        );
        assert_ne!(security["privileged"].as_bool(), Some(true), "{name}");
        assert_eq!(
            yaml_list(&security["capabilities"]["drop"], name),
            [Yaml::from_str("ALL")],
            "{name}"
        );
    }
    let by_image = |image: &str| {
        *containers
            .iter()
            .find(|c| yaml_str(&c["image"], "image").starts_with(image))
            .unwrap_or_else(|| panic!("no container runs {image}"))
    };
    let daemon = by_image("airlock-daemon");
    let agent = by_image("airlock-agent");
    let daemon_mounts = mounts(daemon);
    let agent_mounts_ = mounts(agent);

    // Secrets go to the daemon only; what the agent shares, it sees at the daemon's path.
    for (name, path, read_only) in &agent_mounts_ {
        assert!(
            volumes[name.as_str()]["secret"].is_badvalue(),
            "the agent mounts the Secret `{name}`"
        );
        if let Some((_, daemon_path, _)) = daemon_mounts.iter().find(|(n, _, _)| n == name) {
            assert_eq!(daemon_path, path, "volume `{name}`");
        }
        if *path == entry.sockets_volume() {
            assert!(read_only, "the agent's socket volume must be read-only");
        }
    }
    assert!(
        daemon_mounts
            .iter()
            .any(|(n, _, ro)| *ro && !volumes[n.as_str()]["secret"].is_badvalue()),
        "the daemon mounts a Secret (read-only)"
    );
    let at = |list: &[(String, String, bool)], path: &str| {
        list.iter()
            .find(|(_, p, _)| p == path)
            .map(|(n, _, _)| n.clone())
    };
    for dir in [entry.sockets_volume(), log_dir(), entry.config.clone()] {
        assert!(
            at(&daemon_mounts, &dir).is_some(),
            "the daemon mounts nothing at {dir}"
        );
    }
    assert_eq!(
        at(&agent_mounts_, &entry.sockets_volume()),
        at(&daemon_mounts, &entry.sockets_volume()),
        "the agent and the daemon share the socket volume"
    );
    for dir in agents(&entry).values() {
        for (container, host) in agent_mounts(dir) {
            let shared = at(&agent_mounts_, &container).expect("the agent mounts its workspace");
            assert_eq!(
                at(&daemon_mounts, &host),
                Some(shared),
                "{container} -> {host}"
            );
        }
    }
    let probe = format!("{:?}", daemon["startupProbe"]);
    assert!(probe.contains(&entry.socket("agent")), "{probe}");
    assert!(
        probe.contains("String(\"airlock-daemon\"), String(\"ping\")"),
        "{probe}"
    );

    // The ConfigMap holds config/ verbatim, at the paths the daemon expects.
    let config_volume = &volumes[at(&daemon_mounts, &entry.config).unwrap().as_str()]["configMap"];
    let config_map = find_doc(&docs, "ConfigMap");
    assert_eq!(
        config_volume["name"].as_str(),
        config_map["metadata"]["name"].as_str()
    );
    let files = files_under(&deploy().join("config"));
    let items = yaml_list(&config_volume["items"], "items");
    assert_eq!(
        items.len(),
        files.len(),
        "every file of config/ is in the ConfigMap"
    );
    for item in items {
        let key = yaml_str(&item["key"], "key");
        let path = yaml_str(&item["path"], "path");
        let data = yaml_str(&config_map["data"][key], key);
        assert_eq!(
            data,
            read(&deploy().join("config").join(path)),
            "ConfigMap key `{key}` differs from config/{path}"
        );
    }

    let policy = find_doc(&docs, "NetworkPolicy");
    for (key, value) in policy["spec"]["podSelector"]["matchLabels"]
        .as_hash()
        .unwrap()
    {
        assert_eq!(&pod["metadata"]["labels"][yaml_str(key, "label")], value);
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_readme_names_existing_files() {
    let readme = read(&deploy().join("README.md"));
    let here = files_under(&deploy());
    let mut named = 0;
    // Inline code that names a project file: `compose.yaml`, `kubernetes/pod.yaml`, ...
    // (container paths start with `/`).
    for token in readme.split('`').skip(1).step_by(2) {
        let looks_like_file = !token.contains(char::is_whitespace)
            && !token.starts_with(['/', '~', '$'])
            && (token.starts_with("Dockerfile.")
                || token.starts_with(".ci/")
                || [".yaml", ".toml", ".md"].iter().any(|e| token.ends_with(e)));
        if !looks_like_file {
            continue;
        }
        let exists = if token.contains('/') {
            deploy().join(token).exists() || repo().join(token).exists()
        } else {
            here.iter()
                .any(|f| f.file_name().is_some_and(|n| n == token))
        };
        assert!(exists, "README.md names `{token}`, which does not exist");
        named += 1;
    }
    assert!(named >= 10, "{named}");
    for command in [
        "cargo install --locked --path airlock-daemon",
        "cargo install --locked --path airlock-shim",
    ] {
        assert!(readme.contains(command), "README.md: {command}");
    }
}
