"""Check a command line against Airlock command modules, the way the tool reads it.

Compile a module from TOML (``compile``) or take the built-ins (``builtins()``), then
``check`` an argv: the ``Decision`` says allow or deny, the rule that decided, its
reason, where the rule was written, and the reading of the argv it was made on.
"""

from airlock_policy._native import (
    ArgSpan,
    CompileError,
    Decision,
    Location,
    Module,
    Opt,
    PathValue,
    Policy,
    Reading,
    Word,
    __version__,
    builtin,
    builtin_names,
    builtin_notes,
    builtin_source,
    builtins,
    compile,
)

__all__ = [
    "ArgSpan",
    "CompileError",
    "Decision",
    "Location",
    "Module",
    "Opt",
    "PathValue",
    "Policy",
    "Reading",
    "Word",
    "__version__",
    "builtin",
    "builtin_names",
    "builtin_notes",
    "builtin_source",
    "builtins",
    "compile",
]
