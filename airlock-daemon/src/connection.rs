//! One client connection: read requests line by line (bounded), answer `hello` and
//! `check`, and run `exec` requests through the pipeline and the executor, streaming
//! output back and forwarding stdin and signals. Every request leaves one audit
//! record, written before its final reply.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use airlock_core::{AuditDecision, AuditRecord, GateOutcome, Peer};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::audit_log::rfc3339;
use crate::executor::{self, Exit, Input, Stream};
use crate::pipeline::{self, Refusal, RefusalKind, Request};
use crate::server::{Shared, peer};
use crate::wire::{self, ClientMessage, ErrorCode, LineReader, ReadError, ServerMessage};

/// What a connection knows about where it was accepted.
#[derive(Debug, Clone)]
pub struct Context {
    /// The agent whose socket it came in on.
    pub agent: String,
    /// Everything the daemon shares.
    pub shared: Arc<Shared>,
}

/// Serves one connection until the client leaves or the daemon shuts down.
pub async fn serve(stream: UnixStream, context: Context) {
    let peer = peer(&stream);
    let loaded = context.shared.current();
    let allowed = loaded
        .agents
        .get(&context.agent)
        .is_some_and(|agent| peer_allowed(peer, agent.scope.profile().allowed_uids.as_ref()));
    let max_line = loaded.config.limits.max_line_bytes;
    drop(loaded);
    let (read, write) = stream.into_split();
    let mut writer = Writer {
        half: write,
        binary: false,
    };
    if !allowed {
        let _ = writer
            .send(&ServerMessage::error(
                None,
                ErrorCode::Invalid,
                "this user may not use this agent's socket",
                None,
            ))
            .await;
        return;
    }
    let mut reader = LineReader::new(BufReader::new(read), max_line);
    let mut session = Session {
        context,
        peer,
        writer,
    };
    loop {
        let message = tokio::select! {
            message = reader.next() => message,
            () = session.context.shared.shutdown.cancelled() => return,
        };
        match message {
            Ok(None) => return,
            Ok(Some(ClientMessage::Hello {
                id, capabilities, ..
            })) => {
                session.writer.binary = capabilities.iter().any(|c| c == wire::CAP_BINARY);
                let reply = ServerMessage::hello(id);
                if session.writer.send(&reply).await.is_err() {
                    return;
                }
            }
            Ok(Some(ClientMessage::Check { id, request })) => {
                if session.check(id, request).await.is_err() {
                    return;
                }
            }
            Ok(Some(ClientMessage::Exec { id, request })) => {
                // One exec per connection: the stdin and signal notifications that
                // follow belong to it.
                session.exec(id, request, &mut reader).await;
                return;
            }
            // Input for a program that is not running: nothing to forward it to.
            Ok(Some(
                ClientMessage::Stray
                | ClientMessage::Stdin { .. }
                | ClientMessage::StdinEof
                | ClientMessage::Signal { .. },
            )) => {}
            Err(ReadError::Invalid { id, code, message }) => {
                if session
                    .writer
                    .send(&ServerMessage::error(id, code, &message, None))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(ReadError::Io(e)) => {
                eprintln!(
                    "airlock-daemon: agent {}: read failed: {e}",
                    session.context.agent
                );
                return;
            }
            Err(ReadError::TooLong | ReadError::Truncated) => {
                let _ = session
                    .writer
                    .send(&ServerMessage::error(
                        None,
                        ErrorCode::Parse,
                        "line too long or cut off",
                        None,
                    ))
                    .await;
                return;
            }
        }
    }
}

/// Answers a connection over the cap and closes it.
pub async fn refuse_busy(stream: UnixStream, _context: Context) {
    let (_, write) = stream.into_split();
    let mut writer = Writer {
        half: write,
        binary: false,
    };
    let _ = writer
        .send(&ServerMessage::error(
            None,
            ErrorCode::Internal,
            "too many connections: try again later",
            None,
        ))
        .await;
}

fn peer_allowed(peer: Option<Peer>, allowed: Option<&std::collections::BTreeSet<u32>>) -> bool {
    let Some(peer) = peer else {
        return false;
    };
    match allowed {
        Some(uids) => uids.contains(&peer.uid),
        None => peer.uid == 0 || peer.uid == rustix::process::getuid().as_raw(),
    }
}

struct Writer {
    half: OwnedWriteHalf,
    binary: bool,
}

impl Writer {
    async fn send(&mut self, message: &ServerMessage) -> std::io::Result<()> {
        let mut line = message.encode(self.binary);
        line.push('\n');
        self.half.write_all(line.as_bytes()).await
    }
}

struct Session {
    context: Context,
    peer: Option<Peer>,
    writer: Writer,
}

impl Session {
    fn record(&self, request: &Request, started: (SystemTime, Instant)) -> AuditRecord {
        AuditRecord {
            time: rfc3339(started.0),
            agent: self.context.agent.clone(),
            peer: self.peer,
            command: request.command.clone(),
            argv: request.args.clone(),
            cwd: request.cwd.clone(),
            decision: AuditDecision::Error,
            rule: None,
            reason: None,
            exit_code: None,
            signal: None,
            duration_ms: 0,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    fn audit(&self, mut record: AuditRecord, started: Instant) {
        record.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Err(e) = self.context.shared.audit.write(&record) {
            eprintln!("airlock-daemon: cannot write the audit log: {e}");
        }
    }

    async fn check(&mut self, id: serde_json::Value, request: Request) -> std::io::Result<()> {
        let started = (SystemTime::now(), Instant::now());
        let mut record = self.record(&request, started);
        let loaded = self.context.shared.current();
        let reply = match loaded.agents.get(&self.context.agent) {
            None => ServerMessage::error(
                Some(id),
                ErrorCode::Internal,
                "agent no longer configured",
                None,
            ),
            Some(agent) => match agent.scope.gate(&request.command, &request.args) {
                GateOutcome::Unknown => {
                    record.decision = AuditDecision::Unknown;
                    ServerMessage::error(
                        Some(id),
                        ErrorCode::UnknownCommand,
                        &format!("unknown command `{}`", request.command),
                        None,
                    )
                }
                GateOutcome::Decided { decision, .. } => {
                    let e = decision.explanation();
                    record.decision = if decision.is_allowed() {
                        AuditDecision::CheckAllow
                    } else {
                        AuditDecision::CheckDeny
                    };
                    record.rule = e.rule_id.clone();
                    record.reason = Some(e.reason.clone());
                    ServerMessage::check_result(id, &e)
                }
            },
        };
        self.audit(record, started.1);
        self.writer.send(&reply).await
    }

    async fn exec(
        &mut self,
        id: serde_json::Value,
        request: Request,
        reader: &mut LineReader<BufReader<tokio::net::unix::OwnedReadHalf>>,
    ) {
        let started = (SystemTime::now(), Instant::now());
        let mut record = self.record(&request, started);
        let loaded = self.context.shared.current();
        let prepared = match pipeline::prepare(&loaded, &self.context.agent, request).await {
            Ok(prepared) => prepared,
            Err(refusal) => {
                record.decision = match refusal.kind {
                    RefusalKind::UnknownCommand => AuditDecision::Unknown,
                    RefusalKind::Denied => AuditDecision::Deny,
                    RefusalKind::Internal => AuditDecision::Error,
                };
                record.rule = refusal.rule.clone();
                record.reason = Some(refusal.reason.clone());
                self.audit(record, started.1);
                let _ = self.writer.send(&refusal_message(id, &refusal)).await;
                return;
            }
        };
        drop(loaded);
        record.rule = prepared.rule.clone();
        record.argv = prepared.request.args.clone();
        record.command = prepared.request.command.clone();
        let serial = if prepared.concurrent {
            None
        } else {
            Some(
                self.context
                    .shared
                    .serial_lock(&prepared.request.command)
                    .await,
            )
        };
        let _turn = match &serial {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };

        let (input_tx, input_rx) = mpsc::channel::<Input>(16);
        let (output_tx, mut output_rx) = mpsc::channel::<(Stream, Vec<u8>)>(16);
        let cancel = CancellationToken::new();
        let run = tokio::spawn(executor::run(
            prepared.spec,
            input_rx,
            output_tx,
            cancel.clone(),
        ));
        let kill = self.context.shared.kill.clone();
        let mut client_open = true;
        let mut output_open = true;
        while output_open {
            tokio::select! {
                chunk = output_rx.recv() => match chunk {
                    Some((stream, bytes)) => {
                        if self.writer.send(&ServerMessage::output(stream, &bytes)).await.is_err() {
                            // The client is gone: kill the program.
                            cancel.cancel();
                        }
                    }
                    None => output_open = false,
                },
                message = reader.next(), if client_open => match message {
                    Ok(Some(ClientMessage::Stdin { data })) => { let _ = input_tx.send(Input::Data(data)).await; }
                    Ok(Some(ClientMessage::StdinEof)) => { let _ = input_tx.send(Input::Eof).await; }
                    Ok(Some(ClientMessage::Signal { signal })) => { let _ = input_tx.send(Input::Signal(signal)).await; }
                    Ok(Some(_)) | Err(ReadError::Invalid { .. }) => {}
                    Ok(None) | Err(_) => {
                        // End of the connection: the client went away.
                        client_open = false;
                        cancel.cancel();
                    }
                },
                () = kill.cancelled(), if !cancel.is_cancelled() => cancel.cancel(),
            }
        }
        drop(input_tx);
        let finished = match run.await {
            Ok(Ok(finished)) => finished,
            Ok(Err(e)) => {
                record.decision = AuditDecision::Error;
                record.reason = Some(format!("cannot start the program: {e}"));
                self.audit(record, started.1);
                let _ = self
                    .writer
                    .send(&ServerMessage::error(
                        Some(id),
                        ErrorCode::Internal,
                        &format!("cannot start the program: {e}"),
                        None,
                    ))
                    .await;
                return;
            }
            Err(e) => {
                record.reason = Some(format!("internal error: {e}"));
                self.audit(record, started.1);
                let _ = self
                    .writer
                    .send(&ServerMessage::error(
                        Some(id),
                        ErrorCode::Internal,
                        "internal error",
                        None,
                    ))
                    .await;
                return;
            }
        };
        record.decision = AuditDecision::Allow;
        record.bytes_in = finished.bytes_in;
        record.bytes_out = finished.bytes_out;
        match finished.exit {
            Exit::Code(code) => record.exit_code = Some(code),
            Exit::Signal(signal) => record.signal = Some(signal),
        }
        if finished.timed_out {
            record.reason = Some("killed: timeout".into());
        }
        self.audit(record, started.1);
        let _ = self
            .writer
            .send(&ServerMessage::exit(id, finished.exit))
            .await;
        let _ = self.writer.half.shutdown().await;
    }
}

fn refusal_message(id: serde_json::Value, refusal: &Refusal) -> ServerMessage {
    let code = match refusal.kind {
        RefusalKind::UnknownCommand => ErrorCode::UnknownCommand,
        RefusalKind::Denied => ErrorCode::Invalid,
        RefusalKind::Internal => ErrorCode::Internal,
    };
    let message = match &refusal.rule {
        Some(rule) if refusal.kind == RefusalKind::Denied => {
            format!("denied by {rule}: {}", refusal.reason)
        }
        _ => refusal.reason.clone(),
    };
    ServerMessage::error(
        Some(id),
        code,
        &message,
        Some(serde_json::json!({ "rule": refusal.rule, "reason": refusal.reason })),
    )
}
