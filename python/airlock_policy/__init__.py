"""Check a command line against Airlock command modules, the way the tool reads it.

Compile a module from TOML (``compile``) or take the built-ins (``builtins()``), then
``check`` an argv: the ``Decision`` says allow or deny, the rule that decided, its
reason, where the rule was written, and the reading of the argv it was made on.
``check_line`` judges every simple command of a POSIX/bash command line.
"""

from airlock_policy._native import (
    ArgSpan,
    CommandDecision,
    CompileError,
    Decision,
    Location,
    Module,
    Opt,
    PathValue,
    Policy,
    Reading,
    ShellDecision,
    ShellOptions,
    Word,
    __version__,
    builtin,
    builtin_names,
    builtin_notes,
    builtin_source,
    builtins,
    check_line,
    compile,
)

__all__ = [
    "ArgSpan",
    "CommandDecision",
    "CompileError",
    "Decision",
    "Location",
    "Module",
    "Opt",
    "PathValue",
    "Policy",
    "Reading",
    "ShellDecision",
    "ShellOptions",
    "Word",
    "__version__",
    "builtin",
    "builtin_names",
    "builtin_notes",
    "builtin_source",
    "builtins",
    "check_line",
    "compile",
]
