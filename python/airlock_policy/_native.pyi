"""Type stubs for the native module (Rust, PyO3); `airlock_policy` re-exports it."""

from collections.abc import Sequence
from typing import Literal, final

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

__version__: str

class CompileError(ValueError):
    """A module could not be compiled; says what and where."""

    kind: Literal[
        "toml",
        "syntax",
        "entry",
        "glob",
        "rule",
        "example",
        "too-large",
        "extends",
        "duplicate",
        "other",
    ]
    """What kind of fault: bad TOML, an inconsistent `[syntax]`, an unreadable entry, a
    bad glob, a malformed rule, an inline example that does not hold, a matcher too
    large, a bad `extends`, a second module for one program."""
    message: str
    """The message without the location (lowercase, user input in backticks)."""
    source: str
    """The source name the text was compiled under."""
    line: int
    """1-based line of the fault."""
    column: int
    """1-based column of the fault, in characters."""
    line_text: str
    """The whole source line of the fault."""
    caret_start: int
    """0-based character column where the caret starts under `line_text`."""
    caret_width: int
    """Number of carets (at least one)."""

@final
class Location:
    """Where a rule was written."""

    @property
    def source(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def column(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ArgSpan:
    """Bytes `start:end` of argument `index` of the argv (0 is the first argument
    after the program name); offsets count the argument's UTF-8 bytes."""

    @property
    def index(self) -> int: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Word:
    """A positional word: an operand or a subcommand path word."""

    @property
    def text(self) -> str: ...
    @property
    def index(self) -> int:
        """Its index in the argv."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Opt:
    """An option as the tool reads it."""

    @property
    def name(self) -> str:
        """The canonical name the module declares (`--upload-pack` for `-u`), or the
        spelling of an undeclared option."""
    @property
    def value(self) -> str | None:
        """The value it took (attached or the next argument), if any."""
    @property
    def is_global(self) -> bool:
        """Read in the global scope (before the subcommand)."""
    @property
    def is_declared(self) -> bool:
        """The module's `[syntax]` declares it."""
    @property
    def index(self) -> int:
        """The index of the argument it was written in."""
    @property
    def value_span(self) -> ArgSpan | None:
        """Where its value was written."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class PathValue:
    """A host path the module declares, as the tool will use it."""

    @property
    def text(self) -> str: ...
    @property
    def access(self) -> Literal["read", "write", "chdir"]: ...
    @property
    def option(self) -> str | None:
        """The canonical name of the option whose value it is."""
    @property
    def operand(self) -> int | None:
        """Its position among the operands (1 is the first)."""
    @property
    def span(self) -> ArgSpan: ...
    @property
    def base(self) -> list[int]:
        """Indexes, in `Reading.paths`, of the directory changes it is relative to,
        outermost first."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Reading:
    """An argv as the tool reads it."""

    @property
    def path(self) -> list[str]:
        """The subcommand path, e.g. `["state", "rm"]`."""
    @property
    def path_words(self) -> list[Word]: ...
    @property
    def options(self) -> list[Opt]:
        """The options in the order the tool reads them."""
    @property
    def operands(self) -> list[Word]:
        """Positional words that are not part of the subcommand path."""
    @property
    def paths(self) -> list[PathValue]:
        """The host paths the module declares, in argv order."""
    def option(self, name: str) -> Opt | None:
        """The first option whose canonical name is `name`."""

@final
class Decision:
    """Allow or deny, what decided it, and the reading it was made on. Truthy only
    when allowed."""

    @property
    def verdict(self) -> Literal["allow", "deny"]: ...
    @property
    def allowed(self) -> bool: ...
    @property
    def rule_id(self) -> str | None:
        """The deciding rule's id, or an engine id (`airlock.not-allowed`,
        `airlock.unreadable`, `airlock.unknown-command`); `None` when a deny-list
        module allowed."""
    @property
    def reason(self) -> str: ...
    @property
    def location(self) -> Location | None:
        """Where the deciding rule was written, if a rule decided."""
    @property
    def reading(self) -> Reading | None:
        """The reading the decision was made on; `None` when there is none (an
        unknown command, an argv that cannot be read)."""
    def __bool__(self) -> bool: ...

@final
class Module:
    """One compiled command module; immutable."""

    @property
    def bin(self) -> str: ...
    @property
    def source_name(self) -> str: ...
    @property
    def is_allow_list(self) -> bool: ...
    @property
    def rule_ids(self) -> list[str]: ...
    def check(self, argv: Sequence[str]) -> Decision:
        """Decides whether the program may run with `argv` (the arguments after the
        program name)."""
    def readings(self, argv: Sequence[str]) -> list[Reading]:
        """Every plausible reading of `argv`; raises `ValueError` when it cannot be
        read (`check` denies it)."""

@final
class Policy:
    """Several modules, one per program; a program without a module is denied."""

    def __new__(cls, modules: Sequence[Module] = ...) -> Policy: ...
    @staticmethod
    def builtins() -> Policy:
        """The built-in modules, compiled once."""
    def check(self, command: str, argv: Sequence[str]) -> Decision: ...
    def check_line(self, line: str, options: ShellOptions | None = None) -> ShellDecision:
        """Checks every simple command of a POSIX/bash command line; see `check_line`."""
    def module(self, command: str) -> Module | None: ...
    @property
    def commands(self) -> list[str]: ...
    def __contains__(self, command: str, /) -> bool: ...
    def __len__(self) -> int: ...

def compile(source_name: str, text: str, *, extends: Module | None = None) -> Module:
    """Compiles one module from its TOML text; raises `CompileError`."""

def builtins() -> Policy:
    """The built-in modules as one policy (the same object on every call)."""

def builtin(name: str) -> Module:
    """One built-in module; `KeyError` for an unknown name."""

def builtin_names() -> list[str]: ...
def builtin_source(name: str) -> str: ...
def builtin_notes(name: str) -> str: ...

_Outcome = Literal["allow", "ask", "deny"]

@final
class ShellOptions:
    """What the caller decides for a shell line. The default allows no plain command,
    no assignment and no redirection to a file, and refuses (rather than asks about)
    what cannot be known before the line runs."""

    def __new__(
        cls,
        *,
        allow_commands: Sequence[str] = ...,
        allow_env: Sequence[str] = ...,
        root: str | None = None,
        cwd: str | None = None,
        ask: bool = False,
        max_len: int = ...,
        max_depth: int = ...,
    ) -> ShellOptions:
        """`max_len`: the longest line read, in bytes (default 64 KiB); `max_depth`:
        how deeply constructs may nest (default 64). Past either the line is denied."""
    def is_allowed_command(self, name: str) -> bool: ...
    def is_allowed_env(self, name: str) -> bool: ...
    @property
    def root(self) -> str | None: ...
    @property
    def cwd(self) -> str | None: ...
    @property
    def ask(self) -> bool: ...
    @property
    def max_len(self) -> int: ...
    @property
    def max_depth(self) -> int: ...

@final
class CommandDecision:
    """The judgement of one simple command of a line, or of a construct in it."""

    @property
    def text(self) -> str:
        """The source text, as written."""
    @property
    def span(self) -> tuple[int, int]:
        """Its `(start, end)` range in the line's UTF-8 bytes."""
    @property
    def argv(self) -> list[str] | None:
        """The argv after quote removal, program name first, when known."""
    @property
    def outcome(self) -> _Outcome: ...
    @property
    def allowed(self) -> bool: ...
    @property
    def rule_id(self) -> str | None:
        """A module's rule id, `airlock.unknown-command`, `shell.allowed-command`, or
        the construct's `shell.…` id."""
    @property
    def reason(self) -> str: ...
    @property
    def location(self) -> Location | None: ...
    @property
    def reading(self) -> str | None:
        """The module's reading, rendered, when a module decided."""
    def __bool__(self) -> bool: ...

@final
class ShellDecision:
    """The decision on a whole line. Truthy only when allowed."""

    @property
    def outcome(self) -> _Outcome: ...
    @property
    def allowed(self) -> bool: ...
    @property
    def rule_id(self) -> str | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def commands(self) -> list[CommandDecision]:
        """Every part judged, in source order."""
    @property
    def deciding(self) -> CommandDecision | None:
        """The first part whose outcome is the line's."""
    @property
    def error(self) -> str | None:
        """Why the line could not be read (then it is denied)."""
    @property
    def error_span(self) -> tuple[int, int] | None: ...
    def __bool__(self) -> bool: ...

def check_line(
    policy: Policy, line: str, options: ShellOptions | None = None
) -> ShellDecision:
    """Checks every simple command of a POSIX/bash command line against `policy`;
    a line that cannot be read is denied."""
