//! Where the daemon looks for things by default.

use std::path::PathBuf;

/// The user's configuration home: `$XDG_CONFIG_HOME`, else `$HOME/.config`.
pub fn config_home() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
}

/// The default config directory, `~/.config/airlock`.
pub fn default_config_dir() -> PathBuf {
    config_home().map_or_else(|| PathBuf::from(".airlock"), |h| h.join("airlock"))
}
