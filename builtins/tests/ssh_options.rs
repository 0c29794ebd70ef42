//! The ssh module against the installed ssh's own option table: every option letter
//! ssh's getopt accepts is declared with the kind ssh gives it (a letter a newer ssh
//! adds fails this test until someone classifies it), and the `-o` keyword allow list
//! (`tools/ssh-o-allowed.txt`, turned into the `ssh.option-keywords` rule by
//! `tools/ssh-options.py write`) admits exactly its keywords, in every spelling ssh
//! accepts, and refuses every other keyword ssh knows.
//!
//! Nothing connects: `ssh -G` prints the configuration an argv yields and exits, and
//! getopt's errors come first. Without ssh the test fails under `CI=true` and is
//! skipped, loudly, elsewhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test"
)]

use std::process::{Command, Output, Stdio};

use airlock_policy::Module;

/// Every `-o` keyword OpenSSH 9.2 knows, aliases and deprecated ones included
/// (`tools/ssh-options.py keywords` finds them by asking ssh about every word of its
/// binary). The canonical names `ssh -G` prints are added at run time.
const KNOWN_KEYWORDS: &[&str] = &[
    "addkeystoagent",
    "addressfamily",
    "afstokenpassing",
    "batchmode",
    "bindaddress",
    "bindinterface",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizehostname",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "casignaturealgorithms",
    "certificatefile",
    "challengeresponseauthentication",
    "checkhostip",
    "cipher",
    "ciphers",
    "clearallforwardings",
    "compression",
    "compressionlevel",
    "connectionattempts",
    "connecttimeout",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "dsaauthentication",
    "dynamicforward",
    "enableescapecommandline",
    "enablesshkeysign",
    "escapechar",
    "exitonforwardfailure",
    "fallbacktorsh",
    "fingerprinthash",
    "forkafterauthentication",
    "forwardagent",
    "forwardx11",
    "forwardx11timeout",
    "forwardx11trusted",
    "gatewayports",
    "globalknownhostsfile",
    "globalknownhostsfile2",
    "gssapiauthentication",
    "gssapiclientidentity",
    "gssapidelegatecredentials",
    "gssapikexalgorithms",
    "gssapikeyexchange",
    "gssapirenewalforcesrekey",
    "gssapiserveridentity",
    "gssapitrustdns",
    "hashknownhosts",
    "host",
    "hostbasedacceptedalgorithms",
    "hostbasedauthentication",
    "hostbasedkeytypes",
    "hostkeyalgorithms",
    "hostkeyalias",
    "hostname",
    "identitiesonly",
    "identityagent",
    "identityfile",
    "identityfile2",
    "ignoreunknown",
    "include",
    "ipqos",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "keepalive",
    "kerberosauthentication",
    "kerberostgtpassing",
    "kexalgorithms",
    "knownhostscommand",
    "localcommand",
    "localforward",
    "loglevel",
    "logverbose",
    "macs",
    "match",
    "nohostauthenticationforlocalhost",
    "numberofpasswordprompts",
    "passwordauthentication",
    "permitlocalcommand",
    "permitremoteopen",
    "pkcs11provider",
    "port",
    "preferredauthentications",
    "protocol",
    "protocolkeepalives",
    "proxycommand",
    "proxyjump",
    "proxyusefdpass",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "pubkeyauthentication",
    "rekeylimit",
    "remotecommand",
    "remoteforward",
    "requesttty",
    "requiredrsasize",
    "revokedhostkeys",
    "rhostsauthentication",
    "rhostsrsaauthentication",
    "rsaauthentication",
    "securitykeyprovider",
    "sendenv",
    "serveralivecountmax",
    "serveraliveinterval",
    "sessiontype",
    "setenv",
    "setuptimeout",
    "skeyauthentication",
    "smartcarddevice",
    "stdinnull",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "stricthostkeychecking",
    "syslogfacility",
    "tcpkeepalive",
    "tisauthentication",
    "tunnel",
    "tunneldevice",
    "updatehostkeys",
    "useblacklistedkeys",
    "useprivilegedport",
    "user",
    "userknownhostsfile",
    "userknownhostsfile2",
    "useroaming",
    "usersh",
    "verifyhostkeydns",
    "visualhostkey",
    "xauthlocation",
];

/// `(keyword, only these values (empty: any), a value ssh accepts)` from the list.
fn allowed_keywords() -> Vec<(String, Vec<String>, String)> {
    include_str!("../tools/ssh-o-allowed.txt")
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split('#').next()?.split_whitespace().collect();
            let (keyword, mode, values) = (words.first()?, words.get(1)?, &words[2..]);
            assert!(!values.is_empty(), "{line}");
            let only = match *mode {
                "any" => Vec::new(),
                "only" => values.iter().map(|v| v.to_string()).collect(),
                _ => panic!("ssh-o-allowed.txt: {line}"),
            };
            Some((keyword.to_string(), only, values[0].to_owned()))
        })
        .collect()
}

/// `ssh -G -F /dev/null ARGS` with no environment but PATH, or `None` without ssh.
fn ssh(args: &[&str]) -> Option<Output> {
    Command::new("ssh")
        .args(["-G", "-F", "/dev/null"])
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::null())
        .output()
        .ok()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The installed ssh's version, or `None` (a loud skip; a failure under CI).
fn installed() -> Option<String> {
    let Some(out) = Command::new("ssh").arg("-V").output().ok() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ssh is not installed: CI must install openssh-client"
        );
        eprintln!("SKIPPED: ssh is not installed; the ssh option table was not checked");
        return None;
    };
    let version = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let module = module();
    if !module.versions().iter().any(|v| version.starts_with(v)) {
        eprintln!(
            "WARNING: installed {version} is outside the versions the ssh module was checked against ({:?}): re-run builtins/tools/ssh-options.py",
            module.versions()
        );
    }
    Some(version)
}

fn module() -> Module {
    airlock_builtins::compile("ssh").unwrap().unwrap()
}

fn allowed(module: &Module, argv: &[&str]) -> bool {
    module.check(argv).is_allowed()
}

#[test]
fn every_option_letter_ssh_accepts_is_declared_with_its_kind() {
    let Some(version) = installed() else { return };
    let module = module();
    let mut problems = Vec::new();
    let mut accepted = 0;
    for c in ('a'..='z').chain('A'..='Z').chain('0'..='9') {
        let flag = format!("-{c}");
        let out = text(&ssh(&[&flag]).unwrap());
        let ssh_kind = if out.contains(&format!("unknown option -- {c}")) {
            None
        } else if out.contains(&format!("option requires an argument -- {c}")) {
            Some("value")
        } else {
            Some("flag")
        };
        // The module's reading of `-c word host`: undeclared letters are unreadable.
        let module_kind = match module.readings(&[flag.as_str(), "word", "host"]) {
            Err(_) => None,
            Ok(readings) => {
                let opt = readings[0]
                    .options()
                    .find(|o| o.is(&flag))
                    .unwrap_or_else(|| panic!("{flag} read as an option"));
                Some(if opt.value().is_some() {
                    "value"
                } else {
                    "flag"
                })
            }
        };
        if ssh_kind.is_some() {
            accepted += 1;
        }
        if ssh_kind != module_kind {
            problems.push(format!(
                "{flag}: {version} reads it as {ssh_kind:?}, the module as {module_kind:?}"
            ));
        }
    }
    assert!(accepted >= 40, "only {accepted} letters: is this ssh?");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn allowed_keywords_are_known_to_ssh_and_admitted_in_every_spelling() {
    if installed().is_none() {
        return;
    }
    let module = module();
    let mut problems = Vec::new();
    for (keyword, only, sample) in allowed_keywords() {
        let out = ssh(&["-o", &format!("{keyword}={sample}"), "host"]).unwrap();
        let said = String::from_utf8_lossy(&out.stderr).to_lowercase();
        if !out.status.success() || said.contains("option") {
            problems.push(format!("ssh refuses -o {keyword}={sample}: {said}"));
        }
        let lower = keyword.to_lowercase();
        let upper = keyword.to_uppercase();
        for spelling in [
            format!("{keyword}={sample}"),
            format!("{keyword} {sample}"),
            format!("{keyword}\t{sample}"),
            format!("{lower}={sample}"),
            format!("{upper}={}", sample.to_uppercase()),
        ] {
            let exact = spelling.contains('\t');
            if !only.is_empty() && exact {
                continue; // `only` keywords admit `K=V` and `K V`
            }
            for argv in [
                vec!["-o", spelling.as_str(), "host"],
                vec!["-q", "host", "-o", spelling.as_str(), "true"],
            ] {
                if !allowed(&module, &argv) {
                    problems.push(format!("{argv:?} is denied: {}", module.check(&argv)));
                }
            }
            let attached = format!("-o{spelling}");
            if !allowed(&module, &[attached.as_str(), "host"]) {
                problems.push(format!("{attached:?} is denied"));
            }
        }
        // Near misses are other keywords, or none: denied unless allowed themselves.
        let allowed_names: Vec<String> = allowed_keywords()
            .into_iter()
            .map(|(k, _, _)| k.to_lowercase())
            .collect();
        let mut misses = vec![
            lower[..lower.len() - 1].to_owned(),
            format!("{lower}x"),
            format!("x{lower}"),
            format!("{lower}\"\""),
        ];
        for i in 0..lower.len() {
            let mut changed = lower.clone().into_bytes();
            changed[i] = if changed[i] == b'z' {
                b'a'
            } else {
                changed[i] + 1
            };
            misses.push(String::from_utf8(changed).unwrap());
        }
        for miss in misses {
            if allowed_names.contains(&miss) {
                continue;
            }
            let value = format!("{miss}={sample}");
            if allowed(&module, &["-o", &value, "host"]) {
                problems.push(format!("-o {value} is allowed"));
            }
        }
        if !only.is_empty() {
            for value in ["no", "off", "ask", "accept-new", "false", "yes no", ""] {
                let spelling = format!("{keyword}={value}");
                if allowed(&module, &["-o", &spelling, "host"]) {
                    problems.push(format!("-o {spelling} is allowed"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_other_keyword_ssh_knows_is_denied() {
    if installed().is_none() {
        return;
    }
    let module = module();
    let allowed_names: Vec<String> = allowed_keywords()
        .into_iter()
        .map(|(k, _, _)| k.to_lowercase())
        .collect();
    // The canonical names this ssh prints, beside the aliases found once.
    let printed = String::from_utf8_lossy(&ssh(&["host"]).unwrap().stdout).to_lowercase();
    let mut known: Vec<String> = KNOWN_KEYWORDS.iter().map(|k| k.to_string()).collect();
    known.extend(
        printed
            .lines()
            .filter_map(|l| l.split(' ').next())
            .map(str::to_owned),
    );
    known.sort();
    known.dedup();
    let mut problems = Vec::new();
    let mut denied = 0;
    for keyword in &known {
        if allowed_names.contains(keyword) {
            continue;
        }
        denied += 1;
        for value in [format!("{keyword}=x"), format!("{keyword} x")] {
            for argv in [
                vec!["-o", value.as_str(), "host"],
                vec!["host", "-o", value.as_str(), "true"],
            ] {
                if allowed(&module, &argv) {
                    problems.push(format!("{argv:?} is allowed"));
                }
            }
        }
    }
    assert!(denied >= 90, "only {denied} keywords denied");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
