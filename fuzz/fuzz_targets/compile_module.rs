//! Compiling any text never panics; a module that compiles can render its rules and
//! check an empty argv.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match airlock_policy::compile("fuzz.toml", &text) {
        Ok(module) => {
            let _ = module.check::<&str>(&[]).explanation();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
