//! The daemon finds a request's repository in-process (`git_discover`) instead of
//! asking `git rev-parse`: every answer it gives must be git's own, on every layout
//! git knows (plain, subdirectory, bare, linked worktree, `.git` files, separate git
//! directories, nested and broken repositories, `-C` chains), and the layouts an agent
//! works in every day must be answered without asking git.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_daemon::git_discover::{Discovery, discover};
use airlock_daemon::workdir::WorkDir;

/// git's answer: the common directory and the rebase todo path, or `None` when git
/// finds no repository (or refuses the one it finds).
fn git_says(home: &Path, start: &Path, location: &[&str]) -> Option<(PathBuf, PathBuf)> {
    let out = Command::new("git")
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .current_dir(start)
        .args(location)
        .args([
            "rev-parse",
            "--path-format=absolute",
            "--git-common-dir",
            "--git-path",
            "rebase-merge/git-rebase-todo",
        ])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let common = PathBuf::from(lines.next().unwrap()).canonicalize().unwrap();
    let todo = PathBuf::from(lines.next().unwrap());
    Some((common, todo))
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?} in {}", dir.display());
}

struct Layouts {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

/// Builds every layout under one temporary directory.
fn layouts() -> Layouts {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let mk = |p: &str| std::fs::create_dir_all(root.join(p)).unwrap();
    mk("plain/a/b/c");
    git(&root.join("plain"), &["init", "-q"]);
    git(
        &root.join("plain"),
        &["commit", "-q", "--allow-empty", "-m", "one"],
    );
    git(&root.join("plain"), &["worktree", "add", "-q", "../linked"]);
    mk("linked/sub");
    git(&root, &["init", "-q", "--bare", "bare.git"]);
    mk("store");
    git(
        &root,
        &[
            "init",
            "-q",
            "--separate-git-dir",
            "store/sep.git",
            "separate",
        ],
    );
    mk("separate/deep/er");
    mk("plain/nested");
    git(&root.join("plain/nested"), &["init", "-q"]);
    mk("plain/broken/.git");
    mk("plain/broken/x");
    mk("garbage");
    std::fs::write(root.join("garbage/.git"), "not a gitfile\n").unwrap();
    mk("dangling");
    std::fs::write(root.join("dangling/.git"), "gitdir: ../nowhere\n").unwrap();
    mk("relative/sub");
    git(&root, &["init", "-q", "--bare", "relstore.git"]);
    std::fs::write(root.join("relative/.git"), "gitdir: ../relstore.git\n").unwrap();
    mk("linkrepo");
    std::os::unix::fs::symlink(root.join("plain/.git"), root.join("linkrepo/.git")).unwrap();
    mk("detached/w");
    git(&root.join("detached"), &["init", "-q"]);
    git(
        &root.join("detached"),
        &["commit", "-q", "--allow-empty", "-m", "one"],
    );
    git(&root.join("detached"), &["checkout", "-q", "--detach"]);
    mk("headlink");
    git(&root.join("headlink"), &["init", "-q"]);
    std::fs::remove_file(root.join("headlink/.git/HEAD")).unwrap();
    std::os::unix::fs::symlink("refs/heads/main", root.join("headlink/.git/HEAD")).unwrap();
    mk("badhead/inner");
    git(&root.join("badhead"), &["init", "-q"]);
    std::fs::write(root.join("badhead/.git/HEAD"), "nonsense\n").unwrap();
    mk("nothing/here");
    Layouts { _dir: dir, root }
}

/// (start directory, location options, whether the daemon must answer it itself)
const CASES: &[(&str, &[&str], bool)] = &[
    ("plain", &[], true),
    ("plain/a/b/c", &[], true),
    ("plain/.git", &[], true),
    ("plain/.git/objects", &[], true),
    ("plain/nested", &[], true),
    ("plain/broken", &[], true),
    ("plain/broken/x", &[], true),
    ("plain/broken/.git", &[], true),
    ("linked", &[], true),
    ("linked/sub", &[], true),
    ("bare.git", &[], true),
    ("bare.git/refs", &[], true),
    ("separate", &[], true),
    ("separate/deep/er", &[], true),
    ("relative/sub", &[], true),
    ("linkrepo", &[], true),
    ("detached/w", &[], true),
    ("headlink", &[], true),
    ("nothing/here", &[], true),
    ("garbage", &[], false),
    ("dangling", &[], false),
    ("badhead/inner", &[], false),
    (".", &["-C", "plain", "-C", "a/b"], true),
    (".", &["-C", "linked", "-C", "", "-C", "sub"], true),
    ("plain/a", &["-C", "../../separate"], true),
    (".", &["-C", "no/such/dir"], false),
    (".", &["--git-dir=plain/.git"], false),
    (".", &["--bare"], false),
];

#[test]
fn every_answer_is_gits_own() {
    let layouts = layouts();
    let roots = vec![layouts.root.clone()];
    let env = BTreeMap::new();
    let mut answered = 0;
    for (start, location, must_answer) in CASES {
        let dir = layouts.root.join(start);
        let cwd = WorkDir::open(&dir).unwrap();
        let location: Vec<String> = location.iter().map(|s| (*s).to_owned()).collect();
        let ours = discover(&cwd, &location, &env, &roots);
        let location_refs: Vec<&str> = location.iter().map(String::as_str).collect();
        let theirs = git_says(&layouts.root, &dir, &location_refs);
        match (&ours, &theirs) {
            (Discovery::AskGit, _) => {
                assert!(!must_answer, "{start} {location:?}: asked git");
                continue;
            }
            (Discovery::NotARepository, None) => {}
            (
                Discovery::Found {
                    git_dir,
                    common_dir,
                },
                Some((common, todo)),
            ) => {
                assert_eq!(
                    &common_dir.path, common,
                    "{start} {location:?}: common directory"
                );
                assert_eq!(
                    &git_dir.join("rebase-merge/git-rebase-todo"),
                    todo,
                    "{start} {location:?}: todo list"
                );
            }
            _ => panic!("{start} {location:?}: daemon {ours:?}, git {theirs:?}"),
        }
        answered += 1;
    }
    assert!(answered >= 19, "answered {answered}");
}

#[test]
fn git_environment_and_paths_outside_the_mounts_are_left_to_git() {
    let layouts = layouts();
    let cwd = WorkDir::open(&layouts.root.join("plain/a")).unwrap();
    let roots = vec![layouts.root.clone()];
    let mut env = BTreeMap::new();
    assert!(matches!(
        discover(&cwd, &[], &env, &roots),
        Discovery::Found { .. }
    ));
    env.insert("GIT_DIR".to_owned(), "x".to_owned());
    assert!(matches!(
        discover(&cwd, &[], &env, &roots),
        Discovery::AskGit
    ));
    // The repository lies above the only mount: git (confined) decides whether it can
    // read it.
    let inner = vec![layouts.root.join("plain/a")];
    assert!(matches!(
        discover(&cwd, &[], &BTreeMap::new(), &inner),
        Discovery::AskGit
    ));
    // Nothing that looks like a repository above the mount: not a repository.
    let cwd = WorkDir::open(&layouts.root.join("nothing/here")).unwrap();
    let inner = vec![layouts.root.join("nothing/here")];
    assert!(matches!(
        discover(&cwd, &[], &BTreeMap::new(), &inner),
        Discovery::NotARepository
    ));
}

/// The agent renames a directory after the daemon opened the working directory and
/// puts a link to a repository outside the mounts in its place: whatever the walk
/// finds is named by the directory it opened (so the pin refuses what lies outside),
/// never by the old path, inside the mounts, that now leads out of them.
#[test]
fn a_directory_swapped_for_a_link_during_the_walk_is_named_by_what_was_opened() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let (ws, outside) = (root.join("ws"), root.join("outside/proj"));
    std::fs::create_dir_all(ws.join("proj/src")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    git(&ws.join("proj"), &["init", "-q"]);
    git(&outside, &["init", "-q"]);
    let roots = vec![ws.clone()];
    let swap = || {
        std::fs::rename(ws.join("proj"), ws.join("moved")).unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("proj")).unwrap();
    };
    // What was found: its name, and the directory it really is.
    let found_in = |discovery: Discovery| match discovery {
        Discovery::Found { common_dir, .. } => {
            let fd = std::os::fd::AsRawFd::as_raw_fd(&common_dir.fd);
            let opened = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
            Some((common_dir.path, opened))
        }
        _ => None,
    };

    // From the repository's top: the `.git` of the directory held (the agent's own,
    // named as the directory was when it was opened, inside the mounts).
    let cwd = WorkDir::open(&ws.join("proj")).unwrap();
    swap();
    let found = found_in(discover(&cwd, &[], &BTreeMap::new(), &roots));
    assert_eq!(
        found,
        Some((ws.join("proj/.git"), ws.join("moved/.git"))),
        "not the held directory's repository"
    );

    // From a subdirectory: the parent is looked at by its path, which now leads out;
    // what is found there is named where it is, outside the mounts.
    std::fs::remove_file(ws.join("proj")).unwrap();
    std::fs::rename(ws.join("moved"), ws.join("proj")).unwrap();
    let cwd = WorkDir::open(&ws.join("proj/src")).unwrap();
    swap();
    let found = found_in(discover(&cwd, &[], &BTreeMap::new(), &roots));
    let outside_git = outside.join(".git");
    assert_eq!(found, Some((outside_git.clone(), outside_git)));
}
