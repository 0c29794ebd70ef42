//! `airlock-daemon init`: install or remove a systemd user unit that starts the
//! daemon. The unit goes to `$XDG_CONFIG_HOME/systemd/user/airlock.service`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{CliResult, ConfigArgs};
use crate::paths;

/// The unit's file name.
pub const UNIT_NAME: &str = "airlock.service";

/// Where the unit is written.
pub fn unit_path() -> Option<PathBuf> {
    paths::config_home().map(|h| h.join("systemd").join("user").join(UNIT_NAME))
}

/// The unit's text for starting this executable with `config`.
pub fn unit_text(executable: &str, config: &ConfigArgs) -> String {
    let mut exec = format!(
        "{} start --config {}",
        shell_words::quote(executable),
        shell_words::quote(&config.config_dir().display().to_string())
    );
    if let Some(agents) = &config.agents {
        exec.push_str(" --agents ");
        exec.push_str(&shell_words::quote(&agents.display().to_string()));
    }
    format!(
        "[Unit]\nDescription=Airlock: run CLI tools for AI agents without their credentials\n\n\
         [Service]\nExecStart={exec}\nExecReload=/bin/kill -HUP $MAINPID\nRestart=on-failure\n\n\
         [Install]\nWantedBy=default.target\n"
    )
}

/// Installs or removes the unit.
pub fn run(config: &ConfigArgs, uninstall: bool) -> CliResult {
    let path = unit_path().ok_or("error: neither XDG_CONFIG_HOME nor HOME is set")?;
    if uninstall {
        match std::fs::remove_file(&path) {
            Ok(()) => println!("removed {}", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                println!("nothing to remove: {} does not exist", path.display());
            }
            Err(e) => return Err(format!("error: cannot remove `{}`: {e}", path.display())),
        }
        println!("then: systemctl --user daemon-reload");
        return Ok(ExitCode::SUCCESS);
    }
    let executable = std::env::current_exe()
        .map_err(|e| format!("error: cannot find this executable: {e}"))?
        .display()
        .to_string();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("error: cannot create `{}`: {e}", dir.display()))?;
    }
    std::fs::write(&path, unit_text(&executable, config))
        .map_err(|e| format!("error: cannot write `{}`: {e}", path.display()))?;
    println!("installed {}", path.display());
    println!("then: systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}");
    Ok(ExitCode::SUCCESS)
}
