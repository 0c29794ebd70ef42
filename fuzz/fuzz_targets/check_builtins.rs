//! Every built-in module, on any argv: checking never panics and the automaton agrees
//! with the reference interpreter. The first byte picks the module; the rest is the
//! argv, split at NUL bytes.
#![no_main]

use std::sync::OnceLock;

use airlock_policy::Module;
use libfuzzer_sys::fuzz_target;

/// The built-ins, compiled once.
fn modules() -> &'static [Module] {
    static MODULES: OnceLock<Vec<Module>> = OnceLock::new();
    MODULES.get_or_init(|| {
        airlock_builtins::names()
            .map(|name| match airlock_builtins::compile(name) {
                Some(Ok(module)) => module,
                _ => panic!("the built-in {name} does not compile"),
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let modules = modules();
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some(module) = modules.get(usize::from(pick) % modules.len()) else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let argv: Vec<&str> = text.split('\0').collect();
    let decision = module.check(&argv);
    let (verdict, rule) = module.check_reference(&argv);
    assert_eq!(decision.verdict(), verdict, "{} {argv:?}", module.bin());
    assert_eq!(decision.explanation().rule_id, rule, "{} {argv:?}", module.bin());
});
