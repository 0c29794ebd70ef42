//! The daemon's side of the wire: bounded line reading, typed client messages and
//! server replies. (Interim: to be replaced by the `airlock-rpc` codec.)

use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::executor::{Exit, ForwardedSignal, Stream};
use crate::pipeline::Request;

/// The capability that asks for binary-safe (base64) output.
pub const CAP_BINARY: &str = "binary";
/// The protocol version this daemon speaks.
pub const VERSION: u32 = 1;

/// JSON-RPC error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// -32700.
    Parse,
    /// -32600: invalid request, or denied.
    Invalid,
    /// -32601: unknown command or method.
    UnknownCommand,
    /// -32603.
    Internal,
}

impl ErrorCode {
    fn code(self) -> i64 {
        match self {
            ErrorCode::Parse => -32700,
            ErrorCode::Invalid => -32600,
            ErrorCode::UnknownCommand => -32601,
            ErrorCode::Internal => -32603,
        }
    }
}

/// A message from the client.
#[derive(Debug)]
pub enum ClientMessage {
    /// Version handshake.
    Hello {
        /// The request id.
        id: Value,
        /// Capabilities the client supports.
        capabilities: Vec<String>,
    },
    /// Decide without running.
    Check {
        /// The request id.
        id: Value,
        /// What to decide.
        request: Request,
    },
    /// Run.
    Exec {
        /// The request id.
        id: Value,
        /// What to run.
        request: Request,
    },
    /// Bytes for stdin.
    Stdin {
        /// The bytes.
        data: Vec<u8>,
    },
    /// End of stdin.
    StdinEof,
    /// A signal to forward.
    Signal {
        /// Which.
        signal: ForwardedSignal,
    },
    /// A notification this daemon ignores.
    Stray,
}

/// Why a line could not be read as a message.
#[derive(Debug)]
pub enum ReadError {
    /// The line exceeds the limit.
    TooLong,
    /// The stream ended in the middle of a line.
    Truncated,
    /// Reading failed.
    Io(std::io::Error),
    /// The line is not a valid request.
    Invalid {
        /// The request's id, when it had one.
        id: Option<Value>,
        /// The error code to answer with.
        code: ErrorCode,
        /// Why.
        message: String,
    },
}

/// Reads lines without ever buffering more than `max` bytes of one.
pub struct LineReader<R> {
    input: R,
    max: usize,
    line: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// A reader with a maximum line length.
    pub fn new(input: R, max: usize) -> Self {
        Self {
            input,
            max,
            line: Vec::new(),
        }
    }

    /// The next message; `Ok(None)` at a clean end of stream.
    ///
    /// Cancel-safe: a partly read line is kept for the next call, so `next` can sit in
    /// a `select!` beside other work.
    pub async fn next(&mut self) -> Result<Option<ClientMessage>, ReadError> {
        loop {
            let buf = self.input.fill_buf().await.map_err(ReadError::Io)?;
            if buf.is_empty() {
                return if self.line.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Truncated)
                };
            }
            let newline = buf.iter().position(|b| *b == b'\n');
            let take = newline.map_or(buf.len(), |i| i + 1);
            let chunk = buf.get(..newline.unwrap_or(buf.len())).unwrap_or(&[]);
            if self.line.len() + chunk.len() > self.max {
                return Err(ReadError::TooLong);
            }
            self.line.extend_from_slice(chunk);
            self.input.consume(take);
            if newline.is_some() {
                break;
            }
        }
        let line = std::mem::take(&mut self.line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(ClientMessage::Stray));
        }
        parse(&line).map(Some)
    }
}

fn invalid(id: Option<Value>, code: ErrorCode, message: impl Into<String>) -> ReadError {
    ReadError::Invalid {
        id,
        code,
        message: message.into(),
    }
}

fn parse(line: &[u8]) -> Result<ClientMessage, ReadError> {
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| invalid(None, ErrorCode::Parse, format!("parse error: {e}")))?;
    let id = value.get("id").cloned();
    let method = value
        .get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(id.clone(), ErrorCode::Invalid, "a request needs a `method`"))?;
    let params = value.get("params").cloned().unwrap_or(Value::Null);
    match (method, id) {
        ("hello", Some(id)) => Ok(ClientMessage::Hello {
            id,
            capabilities: params
                .get("capabilities")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }),
        ("exec", Some(id)) => Ok(ClientMessage::Exec {
            request: request(&params, &id)?,
            id,
        }),
        ("check", Some(id)) => Ok(ClientMessage::Check {
            request: request(&params, &id)?,
            id,
        }),
        ("stdin", _) => {
            let data = match (
                params.get("data_b64").and_then(Value::as_str),
                params.get("data").and_then(Value::as_str),
            ) {
                (Some(b64), _) => base64_decode(b64)
                    .ok_or_else(|| invalid(None, ErrorCode::Invalid, "bad base64 in stdin"))?,
                (None, Some(text)) => text.as_bytes().to_vec(),
                (None, None) => Vec::new(),
            };
            Ok(ClientMessage::Stdin { data })
        }
        ("stdin_eof", _) => Ok(ClientMessage::StdinEof),
        ("signal", _) => {
            let signal = match params.get("signal").and_then(Value::as_str) {
                Some("SIGINT" | "INT") => ForwardedSignal::Int,
                Some("SIGTERM" | "TERM") => ForwardedSignal::Term,
                Some("SIGHUP" | "HUP") => ForwardedSignal::Hup,
                Some("SIGQUIT" | "QUIT") => ForwardedSignal::Quit,
                _ => return Ok(ClientMessage::Stray),
            };
            Ok(ClientMessage::Signal { signal })
        }
        (_, None) => Ok(ClientMessage::Stray),
        (other, Some(id)) => Err(invalid(
            Some(id),
            ErrorCode::UnknownCommand,
            format!("unknown method `{other}`"),
        )),
    }
}

fn request(params: &Value, id: &Value) -> Result<Request, ReadError> {
    let command = params
        .get("command")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid(
                Some(id.clone()),
                ErrorCode::Invalid,
                "`params.command` must be a string",
            )
        })?;
    let args = match params.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| a.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                invalid(
                    Some(id.clone()),
                    ErrorCode::Invalid,
                    "`params.args` must be strings",
                )
            })?,
        Some(_) => {
            return Err(invalid(
                Some(id.clone()),
                ErrorCode::Invalid,
                "`params.args` must be an array",
            ));
        }
    };
    Ok(Request {
        command: command.to_owned(),
        args,
        cwd: params.get("cwd").and_then(Value::as_str).map(str::to_owned),
    })
}

/// A message to the client.
#[derive(Debug)]
pub struct ServerMessage(Value, Option<(Stream, Vec<u8>)>);

impl ServerMessage {
    /// An error reply.
    pub fn error(id: Option<Value>, code: ErrorCode, message: &str, data: Option<Value>) -> Self {
        let mut error = json!({ "code": code.code(), "message": message });
        if let (Some(data), Some(map)) = (data, error.as_object_mut()) {
            map.insert("data".into(), data);
        }
        Self(
            json!({ "jsonrpc": "2.0", "id": id.unwrap_or(Value::Null), "error": error }),
            None,
        )
    }

    /// The hello reply.
    pub fn hello(id: Value) -> Self {
        Self(
            json!({ "jsonrpc": "2.0", "id": id, "result": { "version": VERSION, "capabilities": [CAP_BINARY, "stdin", "signals", "check"] } }),
            None,
        )
    }

    /// A check result.
    pub fn check_result(id: Value, e: &airlock_policy::Explanation) -> Self {
        Self(
            json!({ "jsonrpc": "2.0", "id": id, "result": {
                "decision": e.verdict.to_string(), "rule": e.rule_id, "reason": e.reason, "reading": e.reading,
            } }),
            None,
        )
    }

    /// An output notification.
    pub fn output(stream: Stream, bytes: &[u8]) -> Self {
        Self(Value::Null, Some((stream, bytes.to_vec())))
    }

    /// The final result of an exec.
    pub fn exit(id: Value, exit: Exit) -> Self {
        let result = match exit {
            Exit::Code(code) => json!({ "exit_code": code }),
            Exit::Signal(signal) => json!({ "exit_code": 128 + signal, "signal": signal }),
        };
        Self(
            json!({ "jsonrpc": "2.0", "id": id, "result": result }),
            None,
        )
    }

    /// The message as one JSON line (without newline).
    pub fn encode(&self, binary: bool) -> String {
        match &self.1 {
            Some((stream, bytes)) => {
                let stream = match stream {
                    Stream::Stdout => "stdout",
                    Stream::Stderr => "stderr",
                };
                let params = if binary {
                    json!({ "stream": stream, "data_b64": base64_encode(bytes) })
                } else {
                    json!({ "stream": stream, "data": String::from_utf8_lossy(bytes) })
                };
                json!({ "jsonrpc": "2.0", "method": "output", "params": params }).to_string()
            }
            None => self.0.to_string(),
        }
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let index = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = u32::try_from(ALPHABET.iter().position(|a| *a == c)?).ok()?;
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}
