//! The benchmark inputs compile and decide as intended (so a benchmark never measures
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]
//! an error path).

use airlock_benches::{GENERATED_ARGV, GIT_LIKE, TYPICAL_ARGV, generated_module};
use airlock_policy::{Verdict, compile};

#[test]
fn git_like_module_allows_the_typical_argv() {
    let module = compile("git.toml", GIT_LIKE).unwrap();
    assert_eq!(module.rules().len(), 14);
    assert_eq!(module.check(&TYPICAL_ARGV).verdict(), Verdict::Allow);
    assert_eq!(
        module.check(&["clone", "--upload-pac=x", "r"]).verdict(),
        Verdict::Deny
    );
}

#[test]
fn generated_modules_compile_and_match() {
    for n in [10, 100, 1_000, 3_000] {
        let module = compile("gen.toml", &generated_module(n)).unwrap();
        assert_eq!(module.rules().len(), n);
        assert_eq!(
            module.check(&GENERATED_ARGV).verdict(),
            Verdict::Allow,
            "{n}"
        );
        assert_eq!(
            module.check(&["sub0", "--opt0-0"]).verdict(),
            Verdict::Deny,
            "{n}"
        );
        assert_eq!(
            module.check(&["--mount", "/data1/x"]).verdict(),
            Verdict::Deny,
            "{n}"
        );
    }
}
