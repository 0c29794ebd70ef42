//! The engine's reading of an argv as JSON, for the consumers outside the daemon: the
//! hooks (`HookRequest::readings`) and the audit record. One reading, the engine's:
//! a hook never needs its own parser of a tool's options.

use airlock_policy::{Module, PathSource, Reading};
use serde_json::{Value, json};

/// Every plausible reading of `args` by `module`, as JSON objects:
/// `{"path": [...], "options": [{"name", "value", "global"}], "operands": [...],
/// "paths": [{"text", "access", "option" | "operand"}]}`. Empty when the argv cannot be
/// read (the module denies such an argv anyway).
pub fn readings(module: &Module, args: &[String]) -> Vec<Value> {
    module
        .readings(args)
        .map(|readings| readings.iter().map(reading).collect())
        .unwrap_or_default()
}

fn reading(reading: &Reading<'_, '_>) -> Value {
    let options: Vec<Value> = reading
        .options()
        .map(|o| json!({"name": o.name(), "value": o.value(), "global": o.is_global()}))
        .collect();
    let operands: Vec<&str> = reading.operands().map(|w| w.text()).collect();
    let paths: Vec<Value> = reading
        .paths()
        .iter()
        .map(|p| {
            let mut entry = serde_json::Map::new();
            entry.insert("text".into(), json!(p.text()));
            entry.insert("access".into(), json!(p.access().to_string()));
            match p.source() {
                PathSource::Option(o) => {
                    entry.insert("option".into(), json!(o.name()));
                }
                PathSource::Operand { position, .. } => {
                    entry.insert("operand".into(), json!(position));
                }
                _ => {}
            }
            Value::Object(entry)
        })
        .collect();
    json!({
        "path": reading.path(),
        "options": options,
        "operands": operands,
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_git_argv_as_hooks_see_it() {
        let module = airlock_builtins::compile("git").unwrap().unwrap();
        let args: Vec<String> = [
            "--attr-source",
            "HEAD",
            "-C",
            "sub",
            "push",
            "-u",
            "origin",
            "main",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let all = readings(&module, &args);
        assert_eq!(all.len(), 1);
        let r = &all[0];
        assert_eq!(r["path"], json!(["push"]));
        assert_eq!(
            r["options"][1],
            json!({"name": "-C", "value": "sub", "global": true})
        );
        assert_eq!(r["options"][2]["name"], "--set-upstream");
        assert_eq!(r["operands"], json!(["origin", "main"]));
        assert_eq!(
            r["paths"][0],
            json!({"text": "sub", "access": "chdir", "option": "-C"})
        );
    }
}
