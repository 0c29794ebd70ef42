//! The automaton agrees with the reference interpreter on random modules and argv.
//! Input: module text, a NUL NUL separator, then the argv separated by NUL.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (module_text, argv_text) = text.split_once("\0\0").unwrap_or((&text, ""));
    let Ok(module) = airlock_policy::compile("fuzz.toml", module_text) else {
        return;
    };
    let argv: Vec<&str> = if argv_text.is_empty() {
        Vec::new()
    } else {
        argv_text.split('\0').collect()
    };
    let decision = module.check(&argv);
    let (verdict, rule) = module.check_reference(&argv);
    assert_eq!(decision.verdict(), verdict, "{argv:?}\n{module_text}");
    assert_eq!(decision.explanation().rule_id, rule, "{argv:?}\n{module_text}");
});
