//! The messages, typed, with their exact JSON shapes. Every message is one JSON object
//! on one line (see the crate documentation for the protocol).

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::{Map, Value, json};

use crate::base64;

/// The protocol version this crate speaks.
pub const VERSION: u32 = 1;

/// Capability: output arrives as `data_b64` (bytes exactly), stdin may be sent so.
pub const CAP_BINARY: &str = "binary";
/// Capability: the client streams stdin (`stdin`, `stdin_eof` notifications).
pub const CAP_STDIN: &str = "stdin";
/// Capability: the client forwards signals (`signal` notifications).
pub const CAP_SIGNALS: &str = "signals";
/// Capability: the server answers `check`.
pub const CAP_CHECK: &str = "check";
/// Capability: output and stdin bytes travel raw, right after their line, whose
/// `params.raw` says how many there are (instead of `data`/`data_b64`).
pub const CAP_RAW: &str = "raw";

/// How the bytes of `output` and `stdin` messages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As a UTF-8 `data` string (the original protocol; invalid UTF-8 is replaced).
    Text,
    /// As `data_b64` (capability `binary`).
    Base64,
    /// Raw, after the line (capability `raw`).
    Raw,
}

/// Method names.
pub mod method {
    /// Version handshake (request).
    pub const HELLO: &str = "hello";
    /// Run a command (request).
    pub const EXEC: &str = "exec";
    /// Decide without running (request).
    pub const CHECK: &str = "check";
    /// Output from the program (server notification).
    pub const OUTPUT: &str = "output";
    /// Bytes for the program's stdin (client notification).
    pub const STDIN: &str = "stdin";
    /// End of the program's stdin (client notification).
    pub const STDIN_EOF: &str = "stdin_eof";
    /// A signal for the program (client notification).
    pub const SIGNAL: &str = "signal";
}

/// JSON-RPC error codes used by Airlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// -32700: the line is not JSON (or too long, or cut off).
    Parse,
    /// -32600: an invalid request, or a request policy denied.
    Invalid,
    /// -32601: an unknown command (or method).
    UnknownCommand,
    /// -32603: the daemon failed.
    Internal,
    /// Any other code a peer sent.
    Other(i64),
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> i64 {
        match self {
            ErrorCode::Parse => -32700,
            ErrorCode::Invalid => -32600,
            ErrorCode::UnknownCommand => -32601,
            ErrorCode::Internal => -32603,
            ErrorCode::Other(code) => code,
        }
    }

    /// The code for a number.
    pub fn from_code(code: i64) -> Self {
        match code {
            -32700 => ErrorCode::Parse,
            -32600 => ErrorCode::Invalid,
            -32601 => ErrorCode::UnknownCommand,
            -32603 => ErrorCode::Internal,
            other => ErrorCode::Other(other),
        }
    }
}

/// The signals a client may forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (2).
    Int,
    /// SIGTERM (15).
    Term,
    /// SIGHUP (1).
    Hup,
    /// SIGQUIT (3).
    Quit,
}

impl Signal {
    /// Every forwardable signal.
    pub const ALL: [Signal; 4] = [Signal::Int, Signal::Term, Signal::Hup, Signal::Quit];

    /// The name on the wire, e.g. `SIGINT`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
            Signal::Hup => "SIGHUP",
            Signal::Quit => "SIGQUIT",
        }
    }

    /// The Linux signal number.
    pub fn number(self) -> i32 {
        match self {
            Signal::Int => 2,
            Signal::Term => 15,
            Signal::Hup => 1,
            Signal::Quit => 3,
        }
    }

    /// The signal named `name` (`SIGINT` or `INT`).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.strip_prefix("SIG").unwrap_or(name);
        Signal::ALL
            .into_iter()
            .find(|s| s.name().get(3..) == Some(name))
    }
}

/// Which output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The stream's name on the wire: `stdout` or `stderr`.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// How a program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it (`exit_code` on the wire is then 128 + N, as shells report).
    Signal(i32),
}

impl ExitStatus {
    /// The exit code a shell would report: the code, or 128 + the signal.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Code(code) => code,
            ExitStatus::Signal(signal) => 128 + signal,
        }
    }
}

/// What `exec` and `check` carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandParams {
    /// The command name (`git`).
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The working directory, as the container sees it.
    pub cwd: Option<String>,
    /// The container's id, when the client can tell.
    pub container_id: Option<String>,
}

/// A message from client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// `hello`: version and capabilities.
    Hello {
        /// The request id.
        id: Value,
        /// The client's protocol version.
        version: u32,
        /// The capabilities the client wants.
        capabilities: Vec<String>,
    },
    /// `exec`: run a command.
    Exec {
        /// The request id.
        id: Value,
        /// What to run.
        params: CommandParams,
    },
    /// `check`: decide without running.
    Check {
        /// The request id.
        id: Value,
        /// What to decide.
        params: CommandParams,
    },
    /// `stdin`: bytes for the program.
    Stdin(Vec<u8>),
    /// `stdin_eof`: end of the program's input.
    StdinEof,
    /// `signal`: a signal for the program.
    Signal(Signal),
    /// A notification the receiver does not know; ignored.
    Unknown(String),
}

/// A message from server to client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// `output` notification.
    Output {
        /// Which stream.
        stream: Stream,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The answer to `hello`.
    Hello {
        /// The request id.
        id: Value,
        /// The server's protocol version.
        version: u32,
        /// The capabilities the server grants.
        capabilities: Vec<String>,
    },
    /// The answer to `exec`: how the program ended.
    Exit {
        /// The request id.
        id: Value,
        /// How it ended.
        status: ExitStatus,
    },
    /// The answer to `check`.
    Decision {
        /// The request id.
        id: Value,
        /// Allowed?
        allowed: bool,
        /// The deciding rule (or engine id).
        rule: Option<String>,
        /// The reason.
        reason: Option<String>,
        /// How the argv was read.
        reading: Option<String>,
    },
    /// An error reply.
    Error {
        /// The request id (`null` when it could not be read).
        id: Option<Value>,
        /// What went wrong.
        error: RpcError,
    },
}

/// A JSON-RPC error, with Airlock's structured denial data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RpcError {
    /// The code.
    pub code: ErrorCode,
    /// The message.
    pub message: String,
    /// The rule that denied, if any.
    pub rule: Option<String>,
    /// The reason it gave, if any.
    pub reason: Option<String>,
}

/// A line that is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    /// The request's id, when it had one (the error reply carries it).
    pub id: Option<Value>,
    /// The error code to answer with.
    pub code: ErrorCode,
    /// Why.
    pub message: String,
}

fn bad(id: Option<Value>, code: ErrorCode, message: impl Into<String>) -> DecodeError {
    DecodeError {
        id,
        code,
        message: message.into(),
    }
}

/// The most JSON values (array elements and object members, outside strings) a message
/// may hold: a line of a million empty strings would otherwise cost the reader some
/// thirty times its size in memory. An argv of thousands of arguments fits.
pub const MAX_JSON_VALUES: usize = 16 * 1024;

/// How many values a JSON text holds, counted from its commas and openings outside
/// strings (an upper bound good enough to refuse a flood before parsing it).
fn json_values(line: &[u8]) -> usize {
    let mut count = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in line {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b',' | b'[' | b'{' => count = count.saturating_add(1),
            _ => {}
        }
    }
    count
}

fn envelope(line: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    if json_values(line) > MAX_JSON_VALUES {
        return Err(bad(
            None,
            ErrorCode::Invalid,
            format!("the message holds more than {MAX_JSON_VALUES} values"),
        ));
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad(
            None,
            ErrorCode::Invalid,
            "a message must be a JSON object",
        )),
        Err(e) => Err(bad(None, ErrorCode::Parse, format!("parse error: {e}"))),
    }
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The bytes a message carries: in the line, or that many raw bytes after it.
enum Data {
    Bytes(Vec<u8>),
    Raw(usize),
}

fn data_field(params: &Map<String, Value>) -> Result<Data, String> {
    match (
        params.get("data_b64"),
        params.get("data"),
        params.get("raw"),
    ) {
        (Some(Value::String(b64)), None, None) => base64::decode(b64)
            .map(Data::Bytes)
            .ok_or_else(|| "`data_b64` is not base64".to_owned()),
        (None, Some(Value::String(data)), None) => Ok(Data::Bytes(data.as_bytes().to_vec())),
        (None, None, Some(raw)) => raw
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Data::Raw)
            .ok_or_else(|| "`raw` must be a byte count".to_owned()),
        (None, None, None) => Ok(Data::Bytes(Vec::new())),
        _ => Err(
            "give one of `data` (a string), `data_b64` (a string) or `raw` (a count)".to_owned(),
        ),
    }
}

/// The error for a line announcing raw bytes, read where they cannot be.
fn raw_outside_a_reader(id: Option<Value>) -> DecodeError {
    bad(
        id,
        ErrorCode::Invalid,
        "`raw` bytes follow this line: read it with a framed reader",
    )
}

impl ClientMessage {
    /// Reads one line (without its newline). A `stdin` line with `raw` comes back as
    /// empty [`ClientMessage::Stdin`] and the count of raw bytes that follow the line,
    /// which the caller reads and puts in.
    pub fn decode_header(line: &[u8]) -> Result<(Self, Option<usize>), DecodeError> {
        let map = envelope(line)?;
        if text(&map, "method").as_deref() == Some(method::STDIN) {
            let id = map.get("id").filter(|v| !v.is_null()).cloned();
            let params = map.get("params").and_then(Value::as_object);
            if let Some(params) = params {
                return match data_field(params).map_err(|m| bad(id, ErrorCode::Invalid, m))? {
                    Data::Bytes(bytes) => Ok((ClientMessage::Stdin(bytes), None)),
                    Data::Raw(len) => Ok((ClientMessage::Stdin(Vec::new()), Some(len))),
                };
            }
        }
        Self::decode_envelope(map).map(|m| (m, None))
    }

    /// Appends the message as a line, then its raw bytes when `raw` (stdin only).
    pub fn write_to(&self, raw: bool, out: &mut Vec<u8>) {
        match self {
            ClientMessage::Stdin(data) if raw => {
                out.extend_from_slice(
                    format!(
                        "{{\"jsonrpc\":\"2.0\",\"method\":\"stdin\",\"params\":{{\"raw\":{}}}}}\n",
                        data.len()
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(data);
            }
            ClientMessage::Stdin(data) => {
                out.extend_from_slice(
                    b"{\"jsonrpc\":\"2.0\",\"method\":\"stdin\",\"params\":{\"data_b64\":\"",
                );
                base64::encode_into(data, out);
                out.extend_from_slice(b"\"}}\n");
            }
            other => {
                out.extend_from_slice(other.encode().as_bytes());
                out.push(b'\n');
            }
        }
    }

    /// Reads one line (without its newline).
    pub fn decode(line: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_envelope(envelope(line)?)
    }

    /// Reads a message from its parsed line.
    fn decode_envelope(map: Map<String, Value>) -> Result<Self, DecodeError> {
        let id = map.get("id").filter(|v| !v.is_null()).cloned();
        // An id is echoed back exactly: a string, or an integer JSON numbers keep
        // (10^40 would come back as `1e+40`; a fraction is not an id).
        if let Some(number) = id.as_ref().and_then(Value::as_number) {
            if !number.is_i64() && !number.is_u64() {
                return Err(bad(
                    None,
                    ErrorCode::Invalid,
                    "`id` must be a string or an integer of at most 64 bits",
                ));
            }
        }
        if id
            .as_ref()
            .is_some_and(|v| v.is_array() || v.is_object() || v.is_boolean())
        {
            return Err(bad(
                None,
                ErrorCode::Invalid,
                "`id` must be a string or an integer of at most 64 bits",
            ));
        }
        let method = text(&map, "method").ok_or_else(|| {
            bad(
                id.clone(),
                ErrorCode::Invalid,
                "a message needs a string `method`",
            )
        })?;
        let empty = Map::new();
        let params = match map.get("params") {
            Some(Value::Object(p)) => p,
            None | Some(Value::Null) => &empty,
            Some(_) => return Err(bad(id, ErrorCode::Invalid, "`params` must be an object")),
        };
        let require_id = |id: Option<Value>| {
            id.ok_or_else(|| {
                bad(
                    None,
                    ErrorCode::Invalid,
                    format!("`{method}` is a request: it needs an `id`"),
                )
            })
        };
        match method.as_str() {
            method::HELLO => Ok(ClientMessage::Hello {
                id: require_id(id)?,
                version: params
                    .get("version")
                    .and_then(Value::as_u64)
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(0),
                capabilities: params
                    .get("capabilities")
                    .and_then(Value::as_array)
                    .map(|caps| {
                        caps.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            method::EXEC | method::CHECK => {
                let id = require_id(id)?;
                let params = command_params(params)
                    .map_err(|m| bad(Some(id.clone()), ErrorCode::Invalid, m))?;
                Ok(if method == method::EXEC {
                    ClientMessage::Exec { id, params }
                } else {
                    ClientMessage::Check { id, params }
                })
            }
            method::STDIN => match data_field(params) {
                Ok(Data::Bytes(bytes)) => Ok(ClientMessage::Stdin(bytes)),
                Ok(Data::Raw(_)) => Err(raw_outside_a_reader(id)),
                Err(m) => Err(bad(id, ErrorCode::Invalid, m)),
            },
            method::STDIN_EOF => Ok(ClientMessage::StdinEof),
            method::SIGNAL => params
                .get("signal")
                .and_then(Value::as_str)
                .and_then(Signal::from_name)
                .map(ClientMessage::Signal)
                .ok_or_else(|| {
                    bad(
                        id,
                        ErrorCode::Invalid,
                        "`signal` must be SIGINT, SIGTERM, SIGHUP or SIGQUIT",
                    )
                }),
            other => match id {
                Some(id) => Err(bad(
                    Some(id),
                    ErrorCode::UnknownCommand,
                    format!("unknown method `{other}`"),
                )),
                None => Ok(ClientMessage::Unknown(other.to_owned())),
            },
        }
    }

    /// The message as one JSON line, without the newline. Stdin goes as `data_b64`.
    pub fn encode(&self) -> String {
        let (id, method, params) = match self {
            ClientMessage::Hello {
                id,
                version,
                capabilities,
            } => (
                Some(id),
                method::HELLO,
                json!({ "version": version, "capabilities": capabilities }),
            ),
            ClientMessage::Exec { id, params } => (Some(id), method::EXEC, command_json(params)),
            ClientMessage::Check { id, params } => (Some(id), method::CHECK, command_json(params)),
            ClientMessage::Stdin(data) => (
                None,
                method::STDIN,
                json!({ "data_b64": base64::encode(data) }),
            ),
            ClientMessage::StdinEof => (None, method::STDIN_EOF, json!({})),
            ClientMessage::Signal(signal) => {
                (None, method::SIGNAL, json!({ "signal": signal.name() }))
            }
            ClientMessage::Unknown(name) => (None, name.as_str(), json!({})),
        };
        let mut message = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        if let (Some(id), Some(map)) = (id, message.as_object_mut()) {
            map.insert("id".into(), id.clone());
        }
        message.to_string()
    }
}

fn command_params(params: &Map<String, Value>) -> Result<CommandParams, String> {
    let command = text(params, "command").ok_or("`params.command` must be a string")?;
    let args = match params.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| a.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or("`params.args` must be an array of strings")?,
        Some(_) => return Err("`params.args` must be an array of strings".to_owned()),
    };
    Ok(CommandParams {
        command,
        args,
        cwd: text(params, "cwd"),
        container_id: text(params, "container_id"),
    })
}

fn command_json(params: &CommandParams) -> Value {
    let mut value = json!({ "command": params.command, "args": params.args });
    if let Some(map) = value.as_object_mut() {
        if let Some(cwd) = &params.cwd {
            map.insert("cwd".into(), json!(cwd));
        }
        if let Some(container) = &params.container_id {
            map.insert("container_id".into(), json!(container));
        }
    }
    value
}

impl ServerMessage {
    /// The message as one JSON line, without the newline. With `binary`, output goes
    /// as `data_b64`; without (an original client), as a UTF-8 `data` string.
    pub fn encode(&self, binary: bool) -> String {
        let message = match self {
            ServerMessage::Output { stream, data } => {
                let params = if binary {
                    json!({ "stream": stream.name(), "data_b64": base64::encode(data) })
                } else {
                    json!({ "stream": stream.name(), "data": String::from_utf8_lossy(data) })
                };
                json!({ "jsonrpc": "2.0", "method": method::OUTPUT, "params": params })
            }
            ServerMessage::Hello {
                id,
                version,
                capabilities,
            } => {
                json!({ "jsonrpc": "2.0", "id": id, "result": { "version": version, "capabilities": capabilities } })
            }
            ServerMessage::Exit { id, status } => {
                let result = match status {
                    ExitStatus::Code(code) => json!({ "exit_code": code }),
                    ExitStatus::Signal(signal) => {
                        json!({ "exit_code": status.shell_code(), "signal": signal })
                    }
                };
                json!({ "jsonrpc": "2.0", "id": id, "result": result })
            }
            ServerMessage::Decision {
                id,
                allowed,
                rule,
                reason,
                reading,
            } => json!({
                "jsonrpc": "2.0", "id": id,
                "result": { "decision": if *allowed { "allow" } else { "deny" }, "rule": rule, "reason": reason, "reading": reading },
            }),
            ServerMessage::Error { id, error } => {
                let mut body = json!({ "code": error.code.code(), "message": error.message });
                if error.rule.is_some() || error.reason.is_some() {
                    if let Some(map) = body.as_object_mut() {
                        map.insert(
                            "data".into(),
                            json!({ "rule": error.rule, "reason": error.reason }),
                        );
                    }
                }
                json!({ "jsonrpc": "2.0", "id": id, "error": body })
            }
        };
        message.to_string()
    }

    /// Reads one line (without its newline), as a client does.
    pub fn decode(line: &[u8]) -> Result<Self, DecodeError> {
        match Self::decode_header(line)? {
            (message, None) => Ok(message),
            (_, Some(_)) => Err(raw_outside_a_reader(None)),
        }
    }

    /// Appends the message as a line (output bytes written as `encoding` says, raw
    /// ones after the line).
    pub fn write_to(&self, encoding: Encoding, out: &mut Vec<u8>) {
        match (self, encoding) {
            (ServerMessage::Output { stream, data }, Encoding::Raw) => {
                out.extend_from_slice(
                    format!(
                        "{{\"jsonrpc\":\"2.0\",\"method\":\"output\",\"params\":{{\"stream\":\"{}\",\"raw\":{}}}}}\n",
                        stream.name(),
                        data.len()
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(data);
            }
            (ServerMessage::Output { stream, data }, Encoding::Base64) => {
                out.extend_from_slice(
                    format!(
                        "{{\"jsonrpc\":\"2.0\",\"method\":\"output\",\"params\":{{\"stream\":\"{}\",\"data_b64\":\"",
                        stream.name()
                    )
                    .as_bytes(),
                );
                base64::encode_into(data, out);
                out.extend_from_slice(b"\"}}\n");
            }
            (message, encoding) => {
                out.extend_from_slice(message.encode(encoding != Encoding::Text).as_bytes());
                out.push(b'\n');
            }
        }
    }

    /// Reads one line (without its newline). An `output` line with `raw` comes back
    /// with empty data and the count of raw bytes that follow the line, which the
    /// caller reads and puts in.
    pub fn decode_header(line: &[u8]) -> Result<(Self, Option<usize>), DecodeError> {
        let map = envelope(line)?;
        let id = map.get("id").cloned();
        if let Some(method) = text(&map, "method") {
            if method != method::OUTPUT {
                return Err(bad(
                    None,
                    ErrorCode::Invalid,
                    format!("unexpected notification `{method}`"),
                ));
            }
            let params = map
                .get("params")
                .and_then(Value::as_object)
                .ok_or_else(|| bad(None, ErrorCode::Invalid, "output without params"))?;
            let stream = match params.get("stream").and_then(Value::as_str) {
                Some("stdout") => Stream::Stdout,
                Some("stderr") => Stream::Stderr,
                _ => {
                    return Err(bad(
                        None,
                        ErrorCode::Invalid,
                        "`stream` must be stdout or stderr",
                    ));
                }
            };
            return match data_field(params).map_err(|m| bad(None, ErrorCode::Invalid, m))? {
                Data::Bytes(data) => Ok((ServerMessage::Output { stream, data }, None)),
                Data::Raw(len) => Ok((
                    ServerMessage::Output {
                        stream,
                        data: Vec::new(),
                    },
                    Some(len),
                )),
            };
        }
        Self::decode_reply(&map, id).map(|reply| (reply, None))
    }

    /// A reply: an error or a result.
    fn decode_reply(map: &Map<String, Value>, id: Option<Value>) -> Result<Self, DecodeError> {
        if let Some(error) = map.get("error").and_then(Value::as_object) {
            let data = error.get("data").and_then(Value::as_object);
            return Ok(ServerMessage::Error {
                id: id.filter(|v| !v.is_null()),
                error: RpcError {
                    code: ErrorCode::from_code(
                        error.get("code").and_then(Value::as_i64).unwrap_or(-32603),
                    ),
                    message: text(error, "message").unwrap_or_default(),
                    rule: data.and_then(|d| text(d, "rule")),
                    reason: data.and_then(|d| text(d, "reason")),
                },
            });
        }
        let id = id.ok_or_else(|| bad(None, ErrorCode::Invalid, "a reply needs an `id`"))?;
        let result = map
            .get("result")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                bad(
                    Some(id.clone()),
                    ErrorCode::Invalid,
                    "a reply needs `result` or `error`",
                )
            })?;
        if let Some(version) = result.get("version").and_then(Value::as_u64) {
            return Ok(ServerMessage::Hello {
                id,
                version: u32::try_from(version).unwrap_or(u32::MAX),
                capabilities: result
                    .get("capabilities")
                    .and_then(Value::as_array)
                    .map(|c| {
                        c.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        if let Some(decision) = result.get("decision").and_then(Value::as_str) {
            return Ok(ServerMessage::Decision {
                id,
                allowed: decision == "allow",
                rule: text(result, "rule"),
                reason: text(result, "reason"),
                reading: text(result, "reading"),
            });
        }
        let signal = result
            .get("signal")
            .and_then(Value::as_i64)
            .and_then(|s| i32::try_from(s).ok());
        let code = result
            .get("exit_code")
            .and_then(Value::as_i64)
            .and_then(|c| i32::try_from(c).ok());
        let status = match (signal, code) {
            (Some(signal), _) => ExitStatus::Signal(signal),
            (None, Some(code)) => ExitStatus::Code(code),
            (None, None) => {
                return Err(bad(
                    Some(id),
                    ErrorCode::Invalid,
                    "an exec result needs `exit_code`",
                ));
            }
        };
        Ok(ServerMessage::Exit { id, status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_strings_or_integers_that_come_back_exactly() {
        for id in [
            "1e40",
            "10000000000000000000000000000000000000000",
            "1.5",
            "[1]",
            "true",
        ] {
            let line = format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"check\",\"params\":{{\"command\":\"x\"}}}}"
            );
            let e = ClientMessage::decode(line.as_bytes()).unwrap_err();
            assert_eq!(e.code, ErrorCode::Invalid, "{id}");
        }
        for id in ["18446744073709551615", "-9223372036854775808", "\"abc\""] {
            let line = format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"check\",\"params\":{{\"command\":\"x\"}}}}"
            );
            assert!(ClientMessage::decode(line.as_bytes()).is_ok(), "{id}");
        }
    }

    #[test]
    fn a_flood_of_values_is_refused_before_it_is_parsed() {
        let args = vec![""; MAX_JSON_VALUES + 1];
        let line =
            json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"x","args":args}})
                .to_string();
        let e = ClientMessage::decode(line.as_bytes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::Invalid);
        assert!(e.message.contains("more than"), "{}", e.message);
        // Commas inside strings are text, not values.
        let text = ",".repeat(100_000);
        let line = json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"git","args":["commit","-m",text],"cwd":"/w"}}).to_string();
        assert!(ClientMessage::decode(line.as_bytes()).is_ok());
        // `{`, the `,` after the string, `[` and `,`: the string's `,[,` is text.
        assert_eq!(json_values(br#"{"a":"\",[,","b":[1,2]}"#), 4);
    }
    use proptest::prelude::*;

    #[test]
    fn the_original_shapes() {
        let line = br#"{"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"git","args":["status"],"cwd":"/workspace"}}"#;
        let ClientMessage::Exec { id, params } = ClientMessage::decode(line).unwrap() else {
            panic!()
        };
        assert_eq!(id, json!(1));
        assert_eq!(
            (
                params.command.as_str(),
                params.args.as_slice(),
                params.cwd.as_deref()
            ),
            ("git", &["status".to_owned()][..], Some("/workspace"))
        );
        let out = ServerMessage::Output {
            stream: Stream::Stdout,
            data: b"hi\n".to_vec(),
        };
        assert_eq!(
            out.encode(false),
            r#"{"jsonrpc":"2.0","method":"output","params":{"data":"hi\n","stream":"stdout"}}"#
        );
        let exit = ServerMessage::Exit {
            id: json!(1),
            status: ExitStatus::Code(0),
        };
        assert_eq!(
            exit.encode(false),
            r#"{"id":1,"jsonrpc":"2.0","result":{"exit_code":0}}"#
        );
        let err = ServerMessage::Error {
            id: Some(json!(1)),
            error: RpcError {
                code: ErrorCode::UnknownCommand,
                message: "unknown command `rm`".into(),
                rule: None,
                reason: None,
            },
        };
        assert_eq!(
            err.encode(false),
            r#"{"error":{"code":-32601,"message":"unknown command `rm`"},"id":1,"jsonrpc":"2.0"}"#
        );
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        assert_eq!(
            ClientMessage::decode(b"{oops").unwrap_err().code,
            ErrorCode::Parse
        );
        assert_eq!(
            ClientMessage::decode(b"[1]").unwrap_err().code,
            ErrorCode::Invalid
        );
        let e = ClientMessage::decode(br#"{"id":4,"method":"exec","params":{"command":1}}"#)
            .unwrap_err();
        assert_eq!((e.code, e.id), (ErrorCode::Invalid, Some(json!(4))));
        let e = ClientMessage::decode(br#"{"id":5,"method":"frob"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownCommand);
        assert_eq!(
            ClientMessage::decode(br#"{"method":"frob"}"#).unwrap(),
            ClientMessage::Unknown("frob".into())
        );
        assert!(ClientMessage::decode(br#"{"method":"exec","params":{"command":"git"}}"#).is_err());
        assert!(
            ClientMessage::decode(br#"{"method":"signal","params":{"signal":"SIGKILL"}}"#).is_err()
        );
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z0-9]{0,8}".prop_map(|s| json!(s))
        ]
    }

    fn arb_params() -> impl Strategy<Value = CommandParams> {
        (
            ".{0,10}",
            prop::collection::vec(".{0,10}", 0..5),
            prop::option::of(".{0,10}"),
            prop::option::of("[a-f0-9]{0,12}"),
        )
            .prop_map(|(command, args, cwd, container_id)| CommandParams {
                command,
                args,
                cwd,
                container_id,
            })
    }

    fn arb_client() -> impl Strategy<Value = ClientMessage> {
        prop_oneof![
            (
                arb_value(),
                any::<u32>(),
                prop::collection::vec("[a-z]{1,6}", 0..4)
            )
                .prop_map(|(id, version, capabilities)| ClientMessage::Hello {
                    id,
                    version,
                    capabilities
                }),
            (arb_value(), arb_params()).prop_map(|(id, params)| ClientMessage::Exec { id, params }),
            (arb_value(), arb_params())
                .prop_map(|(id, params)| ClientMessage::Check { id, params }),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(ClientMessage::Stdin),
            Just(ClientMessage::StdinEof),
            prop::sample::select(Signal::ALL.to_vec()).prop_map(ClientMessage::Signal),
        ]
    }

    fn arb_server() -> impl Strategy<Value = ServerMessage> {
        let opt = || prop::option::of(".{0,12}");
        prop_oneof![
            (any::<bool>(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(err, data)| {
                ServerMessage::Output {
                    stream: if err { Stream::Stderr } else { Stream::Stdout },
                    data,
                }
            }),
            (
                arb_value(),
                any::<u32>(),
                prop::collection::vec("[a-z]{1,6}", 0..4)
            )
                .prop_map(|(id, version, capabilities)| ServerMessage::Hello {
                    id,
                    version,
                    capabilities
                }),
            (arb_value(), any::<i32>(), any::<bool>()).prop_map(|(id, n, sig)| {
                ServerMessage::Exit {
                    id,
                    status: if sig {
                        ExitStatus::Signal(n & 63)
                    } else {
                        ExitStatus::Code(n)
                    },
                }
            }),
            (arb_value(), any::<bool>(), opt(), opt(), opt()).prop_map(
                |(id, allowed, rule, reason, reading)| ServerMessage::Decision {
                    id,
                    allowed,
                    rule,
                    reason,
                    reading
                }
            ),
            (
                prop::option::of(arb_value()),
                prop::sample::select(vec![-32700i64, -32600, -32601, -32603, 7]),
                ".{0,12}",
                opt(),
                opt()
            )
                .prop_map(|(id, code, message, rule, reason)| ServerMessage::Error {
                    id,
                    error: RpcError {
                        code: ErrorCode::from_code(code),
                        message,
                        rule,
                        reason
                    }
                }),
        ]
    }

    proptest! {
        #[test]
        fn client_messages_round_trip(message in arb_client()) {
            let line = message.encode();
            prop_assert!(!line.contains('\n'));
            prop_assert_eq!(ClientMessage::decode(line.as_bytes()).unwrap(), message);
        }

        #[test]
        fn server_messages_round_trip_in_binary_mode(message in arb_server()) {
            let line = message.encode(true);
            prop_assert!(!line.contains('\n'));
            prop_assert_eq!(ServerMessage::decode(line.as_bytes()).unwrap(), message);
        }

        #[test]
        fn decoding_anything_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = ClientMessage::decode(&bytes);
            let _ = ServerMessage::decode(&bytes);
        }
    }
}
