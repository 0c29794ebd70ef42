//! One client connection: read requests line by line (bounded), answer `hello` and
//! `check`, and run an `exec` through the pipeline and the executor, streaming output
//! back and forwarding stdin and signals. Every request leaves one audit record,
//! written before its final reply: refused peers and connections over a cap are read
//! (bounded in time and size) so the refusal answers their request by id, and lines
//! that are not requests, second commands and idle connections are answered and
//! recorded too. A client that shuts down only its write side has ended the program's
//! input; one that closes entirely, or stops reading once its run is over, is gone.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use airlock_core::{AuditDecision, AuditRecord, GateOutcome, Peer};
use airlock_rpc::{
    CAP_BINARY, CAP_CHECK, CAP_RAW, CAP_SIGNALS, CAP_STDIN, ClientMessage, CommandParams, Encoding,
    ErrorCode, LineReader, ReadError, RpcError, ServerMessage, VERSION,
};
use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::audit_log::{RecordKind, rfc3339};
use crate::executor::{self, Exit, Input, Stream};
use crate::hooks::HookRequest;
use crate::pipeline::{self, Refusal, RefusalKind, Request};
use crate::post_exec::{Hook, RunError};
use crate::server::{Shared, peer};
use crate::timing::Marks;

/// What a connection knows about where it was accepted.
#[derive(Debug, Clone)]
pub struct Context {
    /// The agent whose socket it came in on.
    pub agent: String,
    /// Everything the daemon shares.
    pub shared: Arc<Shared>,
    /// When the connection was accepted.
    pub accepted: Instant,
}

type Reader = LineReader<BufReader<OwnedReadHalf>>;

/// Serves one connection until the client leaves or the daemon shuts down.
pub async fn serve(stream: UnixStream, context: Context) {
    let peer = peer(&stream);
    let loaded = context.shared.current();
    let allowed = loaded
        .agents
        .get(&context.agent)
        .is_some_and(|agent| peer_allowed(peer, agent.scope.profile().allowed_uids.as_ref()));
    let max_line = loaded.config.limits.max_line_bytes;
    let idle = loaded.config.limits.idle_timeout;
    drop(loaded);
    let (read, write) = stream.into_split();
    let mut writer = Writer {
        half: write,
        encoding: Encoding::Text,
        buffer: Vec::new(),
    };
    // tokio's BufReader zeroes its buffer for every connection: 64 KiB cost about 20 µs
    // a request; 16 KiB a quarter of that, for four reads where one read 64 KiB of stdin.
    let mut reader = LineReader::new(BufReader::with_capacity(16 * 1024, read), max_line);
    // Raw bytes only once `hello` agreed to them.
    reader.agree_raw(false);
    if !allowed {
        refuse(&mut reader, &mut writer, &context, peer, &NOT_ALLOWED).await;
        return;
    }
    // A program the daemon runs (or anything it left behind) never uses an agent's
    // socket: with it, one agent's program would act in another agent's scope (or
    // its own, unchecked by the client side). The daemon is their subreaper, so
    // detaching does not hide them.
    let from_a_run = match peer.and_then(|p| p.pid) {
        Some(pid) => crate::children::descends_from_daemon(pid).unwrap_or(true),
        None => true,
    };
    if from_a_run {
        refuse(&mut reader, &mut writer, &context, peer, &FROM_A_RUN).await;
        return;
    }
    let marks = Marks::new(context.accepted);
    let mut session = Session {
        context,
        marks,
        peer,
        writer,
        ended: CancellationToken::new(),
        stall: idle,
        gone: false,
        scratch: None,
    };
    loop {
        // A connection that does not finish its next request in time is closed: idle
        // connections cannot hold the agent's connection cap (slowloris).
        let message = tokio::select! {
            message = reader.next_message() => message,
            () = tokio::time::sleep(idle) => {
                const WHY: &str = "no request in time: closing";
                session.refusal_record(None, AuditDecision::Error, IDLE, WHY);
                let kill = session.context.shared.kill.clone();
                let _ = session
                    .send_or_give_way(&error(None, ErrorCode::Invalid, WHY), &kill)
                    .await;
                return;
            }
            () = session.context.shared.shutdown.cancelled() => return,
        };
        let sent = match message {
            Ok(None) => return,
            Ok(Some(ClientMessage::Hello {
                id, capabilities, ..
            })) => {
                let has = |cap: &str| capabilities.iter().any(|c| c == cap);
                reader.agree_raw(has(CAP_RAW));
                session.writer.encoding = if has(CAP_RAW) {
                    Encoding::Raw
                } else if has(CAP_BINARY) {
                    Encoding::Base64
                } else {
                    Encoding::Text
                };
                let capabilities = [CAP_BINARY, CAP_RAW, CAP_STDIN, CAP_SIGNALS, CAP_CHECK]
                    .map(str::to_owned)
                    .to_vec();
                session
                    .writer
                    .send(&ServerMessage::Hello {
                        id,
                        version: VERSION,
                        capabilities,
                    })
                    .await
            }
            Ok(Some(ClientMessage::Check { id, params })) => {
                session.check(id, request(params)).await
            }
            Ok(Some(ClientMessage::Exec { id, params })) => {
                // One exec per connection: the stdin and signal notifications that
                // follow belong to it.
                session.exec(id, request(params), &mut reader).await;
                return;
            }
            // Input for a program that is not running: nothing to forward it to.
            Ok(Some(
                ClientMessage::Unknown(_)
                | ClientMessage::Stdin(_)
                | ClientMessage::StdinEof
                | ClientMessage::Signal(_),
            )) => Ok(()),
            Err(ReadError::Decode(e)) => {
                session.refusal_record(None, AuditDecision::Error, PROTOCOL, &e.message);
                let closes = e.code == ErrorCode::Parse;
                let sent = session.writer.send(&error(e.id, e.code, &e.message)).await;
                // A line that is not JSON leaves the stream's framing in doubt: close,
                // as the protocol says.
                if closes {
                    return;
                }
                sent
            }
            Err(ReadError::Frame(e)) => {
                let why = e.to_string();
                session.refusal_record(None, AuditDecision::Error, PROTOCOL, &why);
                let _ = session
                    .writer
                    .send(&error(None, ErrorCode::Parse, &why))
                    .await;
                return;
            }
            Err(ReadError::Io(e)) => {
                eprintln!(
                    "airlock-daemon: agent {}: read failed: {e}",
                    session.context.agent
                );
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Stdin travels to the program in pieces of at most this many bytes.
const PIECE: usize = airlock_rpc::RAW_PIECE;

/// How long a write to the client may still take once the daemon kills on shutdown.
const LAST_WRITE: std::time::Duration = std::time::Duration::from_millis(500);

/// How often a half-closed client is checked for having closed the rest.
const HANGUP_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// The rule of records for requests that broke the protocol (a line that is not a
/// message or is too long, a second command on a connection).
const PROTOCOL: &str = "airlock.protocol";

/// The rule of records for connections closed because no request came in time.
const IDLE: &str = "airlock.idle";

/// Why a connection is turned away before it may send a request: the reply's code,
/// and the record's decision, rule and reason.
struct Turned {
    code: ErrorCode,
    decision: AuditDecision,
    rule: &'static str,
    why: &'static str,
}

/// A peer outside the agent's `allowed_uids`.
const NOT_ALLOWED: Turned = Turned {
    code: ErrorCode::Invalid,
    decision: AuditDecision::Deny,
    rule: "airlock.peer",
    why: "this user may not use this agent's socket",
};

/// A program the daemon runs, on an agent's socket.
const FROM_A_RUN: Turned = Turned {
    code: ErrorCode::Invalid,
    decision: AuditDecision::Deny,
    rule: "airlock.peer",
    why: "a program Airlock runs may not use an agent's socket (or the connecting process could not be identified)",
};

/// A connection over a cap.
const BUSY: Turned = Turned {
    code: ErrorCode::Internal,
    decision: AuditDecision::Error,
    rule: "airlock.busy",
    why: "too many connections: try again later",
};

/// A connection over a cap may send at most this much before its refusal goes out
/// without an id: enough for a request, little for the refusals held at once.
const REFUSED_LINE: usize = 64 * 1024;

/// At most this many connections over a cap are read at once (each for at most
/// [`REFUSED_READ`]); more are refused without waiting for their request.
const REFUSING: usize = 16;

/// Whether the client closed its end of `stream` entirely (not only its write side).
fn hung_up(stream: &OwnedWriteHalf) -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    let socket: &UnixStream = stream.as_ref();
    let mut fds = [PollFd::new(socket, PollFlags::empty())];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&zero)) {
        Ok(_) => fds
            .iter()
            .any(|fd| fd.revents().intersects(PollFlags::HUP | PollFlags::ERR)),
        // Cannot tell: treat it as gone (the program is stopped, not left running).
        Err(_) => true,
    }
}

/// Writes the audit record of a request refused before it reached the pipeline:
/// `request` when its line could be read (else an empty command), `decision`, `rule`
/// and `why`.
fn record_refusal(
    context: &Context,
    peer: Option<Peer>,
    request: Option<&Request>,
    decision: AuditDecision,
    rule: &str,
    why: &str,
) {
    let record = AuditRecord {
        time: rfc3339(SystemTime::now()),
        agent: context.agent.clone(),
        peer,
        command: request.map(|r| r.command.clone()).unwrap_or_default(),
        argv: request.map(|r| r.args.clone()).unwrap_or_default(),
        cwd: request.and_then(|r| r.cwd.clone()),
        host_cwd: None,
        confinement: None,
        reading: None,
        truncated: None,
        decision,
        rule: Some(rule.to_owned()),
        reason: Some(why.to_owned()),
        exit_code: None,
        signal: None,
        duration_ms: 0,
        bytes_in: 0,
        bytes_out: 0,
    };
    if let Err(e) = context.shared.audit.write(&record, RecordKind::Request) {
        eprintln!("airlock-daemon: cannot write the audit log: {e}");
    }
}

/// How long a refused peer has to send its request before the refusal goes out
/// without an id.
const REFUSED_READ: std::time::Duration = std::time::Duration::from_secs(2);

/// Refuses a connection (`why`, `decision` and `rule` for the record): reads its first
/// request (bounded in size by the reader and in time by [`REFUSED_READ`]) so the
/// refusal answers it by id instead of closing under a client that is still writing,
/// records it, and closes.
async fn refuse(
    reader: &mut Reader,
    writer: &mut Writer,
    context: &Context,
    peer: Option<Peer>,
    why: &Turned,
) {
    let first = tokio::time::timeout(REFUSED_READ, reader.next_message()).await;
    let (id, request) = match first {
        Ok(Ok(Some(ClientMessage::Exec { id, params } | ClientMessage::Check { id, params }))) => {
            (Some(id), Some(request(params)))
        }
        Ok(Ok(Some(ClientMessage::Hello { id, .. }))) => (Some(id), None),
        Ok(Err(ReadError::Decode(e))) => (e.id, None),
        _ => (None, None),
    };
    record_refusal(
        context,
        peer,
        request.as_ref(),
        why.decision,
        why.rule,
        why.why,
    );
    let _ = writer.send(&error(id, why.code, why.why)).await;
    let _ = writer.half.shutdown().await;
}

/// Answers a connection over the cap, by id when its request comes in time (at most
/// [`REFUSING`] are read at once), records it and closes it.
pub async fn refuse_busy(stream: UnixStream, context: Context) {
    let peer = peer(&stream);
    let (read, write) = stream.into_split();
    let mut writer = Writer {
        half: write,
        encoding: Encoding::Text,
        buffer: Vec::new(),
    };
    let refusing = &context.shared.refusing;
    let slot = refusing
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < REFUSING).then_some(n + 1)
        })
        .is_ok();
    if slot {
        let mut reader = LineReader::new(BufReader::with_capacity(4096, read), REFUSED_LINE);
        reader.agree_raw(false);
        refuse(&mut reader, &mut writer, &context, peer, &BUSY).await;
        refusing.fetch_sub(1, Ordering::AcqRel);
    } else {
        record_refusal(&context, peer, None, BUSY.decision, BUSY.rule, BUSY.why);
        let _ = writer.send(&error(None, BUSY.code, BUSY.why)).await;
    }
}

fn request(params: CommandParams) -> Request {
    Request {
        command: params.command,
        args: params.args,
        cwd: params.cwd,
    }
}

fn error(id: Option<Value>, code: ErrorCode, message: &str) -> ServerMessage {
    ServerMessage::Error {
        id,
        error: RpcError {
            code,
            message: message.to_owned(),
            rule: None,
            reason: None,
        },
    }
}

fn peer_allowed(peer: Option<Peer>, allowed: Option<&BTreeSet<u32>>) -> bool {
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
    /// How output bytes go to this client (from its `hello`).
    encoding: Encoding,
    /// Reused for every message.
    buffer: Vec<u8>,
}

impl Writer {
    async fn send(&mut self, message: &ServerMessage) -> std::io::Result<()> {
        self.buffer.clear();
        message.write_to(self.encoding, &mut self.buffer);
        self.half.write_all(&self.buffer).await
    }
}

struct Session {
    context: Context,
    /// Where the daemon's own time in the run went (see [`crate::timing`]).
    marks: Marks,
    peer: Option<Peer>,
    writer: Writer,
    /// Cancelled once the connection's run is over (its program ended and its output
    /// was read): from then on a write to the client gets `stall`, not for ever.
    ended: CancellationToken,
    /// How long a write may wait on a client that does not read, once the run is over.
    stall: std::time::Duration,
    /// A write to the client failed or gave way: nothing more is written.
    gone: bool,
    /// The run's private directory, removed once the run is answered.
    scratch: Option<crate::scratch::Scratch>,
}

impl Session {
    /// Sends `message`; whether it went out. A client that stopped reading cannot hold
    /// the daemon past its shutdown (once the daemon kills, the write gets a moment), nor
    /// a connection and its run's record once the run is over (the write gets `stall`).
    /// Once a write failed or gave way, the client counts as gone: nothing more is sent.
    async fn send_or_give_way(
        &mut self,
        message: &ServerMessage,
        kill: &CancellationToken,
    ) -> bool {
        if self.gone {
            return false;
        }
        let ended = self.ended.clone();
        let stall = self.stall;
        let send = self.writer.send(message);
        tokio::pin!(send);
        let sent = tokio::select! {
            sent = &mut send => sent.is_ok(),
            () = kill.cancelled() => {
                matches!(tokio::time::timeout(LAST_WRITE, send).await, Ok(Ok(())))
            }
            () = ended.cancelled() => {
                matches!(tokio::time::timeout(stall, send).await, Ok(Ok(())))
            }
        };
        if !sent {
            self.gone = true;
        }
        sent
    }

    /// Records a request refused before it reached the pipeline (see [`record_refusal`]).
    fn refusal_record(
        &self,
        request: Option<&Request>,
        decision: AuditDecision,
        rule: &str,
        why: &str,
    ) {
        record_refusal(&self.context, self.peer, request, decision, rule, why);
    }

    fn record(&self, request: &Request, started: SystemTime) -> AuditRecord {
        AuditRecord {
            time: rfc3339(started),
            agent: self.context.agent.clone(),
            peer: self.peer,
            command: request.command.clone(),
            argv: request.args.clone(),
            cwd: request.cwd.clone(),
            host_cwd: None,
            confinement: None,
            reading: None,
            truncated: None,
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

    fn audit(&self, mut record: AuditRecord, started: Instant, kind: RecordKind) {
        record.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Err(e) = self.context.shared.audit.write(&record, kind) {
            eprintln!("airlock-daemon: cannot write the audit log: {e}");
        }
    }

    async fn check(&mut self, id: Value, request: Request) -> std::io::Result<()> {
        let started = Instant::now();
        let mut record = self.record(&request, SystemTime::now());
        let loaded = self.context.shared.current();
        let reply = match loaded.agents.get(&self.context.agent) {
            None => error(Some(id), ErrorCode::Internal, "agent no longer configured"),
            Some(agent) => match agent.scope.gate(&request.command, &request.args) {
                GateOutcome::Unknown => {
                    record.decision = AuditDecision::Unknown;
                    let message = format!("unknown command `{}`", request.command);
                    error(Some(id), ErrorCode::UnknownCommand, &message)
                }
                GateOutcome::Decided { decision, .. } => {
                    let e = decision.explanation();
                    let allowed = decision.is_allowed();
                    record.decision = if allowed {
                        AuditDecision::CheckAllow
                    } else {
                        AuditDecision::CheckDeny
                    };
                    record.rule = e.rule_id.clone();
                    record.reason = Some(e.reason.clone());
                    ServerMessage::Decision {
                        id,
                        allowed,
                        rule: e.rule_id,
                        reason: Some(e.reason),
                        reading: e.reading,
                    }
                }
            },
        };
        self.audit(record, started, RecordKind::Request);
        self.writer.send(&reply).await
    }

    /// Serves one `exec`: prepares and runs it, then turns how it ended into the final
    /// reply and the audit record, in one place ([`Session::conclude`]).
    async fn exec(&mut self, id: Value, request: Request, reader: &mut Reader) {
        let started = Instant::now();
        let mut record = self.record(&request, SystemTime::now());
        let outcome = self.prepare_and_run(request, reader, &mut record).await;
        self.conclude(id, record, started, outcome).await;
        // Off the reply's path: the run is over (its process group killed) and answered.
        if let Some(scratch) = self.scratch.take() {
            scratch.remove_later();
        }
    }

    /// Prepares `request` and runs it, filling `record` with what is known of the run
    /// (what ran, where, confined how); says how it ended.
    async fn prepare_and_run(
        &mut self,
        request: Request,
        reader: &mut Reader,
        record: &mut AuditRecord,
    ) -> Outcome {
        let loaded = self.context.shared.current();
        let prepared = match pipeline::prepare(&loaded, &self.context.agent, request).await {
            Ok(prepared) => prepared,
            Err(refusal) => return Outcome::Refused(refusal),
        };
        let hook_timeout = loaded.config.limits.hook_timeout;
        drop(loaded);
        record.rule = prepared.rule.clone();
        record.confinement = Some(prepared.confinement.clone());
        record.reading = prepared.readings.first().cloned();
        record.host_cwd = Some(prepared.spec.cwd.path.display().to_string());
        record.command = prepared.request.command.clone();
        record.argv = prepared.request.args.clone();
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

        let post_exec = match &prepared.post_exec {
            None => None,
            Some(path) => match self.start_post_exec(path, &prepared, hook_timeout).await {
                Ok(hook) => Some(hook),
                Err(reason) => {
                    return Outcome::Refused(Refusal {
                        kind: RefusalKind::Denied,
                        rule: Some("airlock.post-exec".to_owned()),
                        reason,
                    });
                }
            },
        };

        // The start of the run is on record before the program starts, or it does not.
        let mut start = record.clone();
        start.decision = AuditDecision::Start;
        if let Err(e) = self.context.shared.audit.write(&start, RecordKind::Run) {
            return Outcome::Unrecorded(e);
        }

        // Short queues: what one connection holds is bounded by them (see PIECE).
        let (input_tx, input_rx) = mpsc::channel::<Input>(2);
        let (output_tx, output_rx) = mpsc::channel::<(Stream, Vec<u8>)>(4);
        let cancel = CancellationToken::new();
        let forward_stdin = prepared.stdin;
        let git_pin = prepared.git_pin;
        self.scratch = Some(prepared.scratch);
        let ahead = prepared.ahead;
        let token = cancel.clone();
        self.marks.spawning = Marks::now();
        // The next run's kit is built from now on, beside this run's start, at the
        // lowest priority (it never takes a processor from a request). Asked for now,
        // the building runs on the processor this thread leaves while the kernel starts
        // the program (elsewhere). Asked for once the program had started, it waited
        // behind the program in a third of the runs: the kernel woke this thread, and
        // then the building, on the program's processor, and the next run, finding no
        // kit, built its own (measured: 58 of 480 back-to-back `git status`, none now).
        if let Some(ahead) = ahead {
            ahead.start();
        }
        // Started here, by this task: handed to the runtime as a task of its own, the
        // start waited whenever the runtime's other thread took that task (the kernel
        // had to wake that thread first).
        let started = executor::start(prepared.spec);
        let run = tokio::spawn(async move {
            started
                .map_err(RunError::Start)?
                .finish(input_rx, output_tx, token)
                .await
                .map_err(RunError::Start)
        });
        let (mut output_rx, run) = match post_exec {
            Some(hook) => hook.filter(output_rx, run, cancel.clone()),
            None => (output_rx, run),
        };
        // The run is over when the program (and the post-exec hook) are done.
        self.ended = CancellationToken::new();
        let ended = self.ended.clone();
        let run = tokio::spawn(async move {
            let result = run.await;
            ended.cancel();
            result
        });
        if !forward_stdin {
            // The module says nobody may answer the program's prompts: empty stdin.
            let _ = input_tx.send(Input::Eof).await;
        }
        let kill = self.context.shared.kill.clone();
        let mut client_open = true;
        let mut output_open = true;
        // The client shut down its write side: watched until it closes the rest.
        let mut half_closed = false;
        let mut hangup_check = tokio::time::interval(HANGUP_CHECK);
        hangup_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The client broke the protocol during the run (which was stopped for it).
        let mut protocol_error = false;
        // Input waiting for room towards the executor: held, never awaited inside an arm,
        // so output keeps flowing (and shutdown is seen) while the program is not reading.
        let mut pending: std::collections::VecDeque<Input> = std::collections::VecDeque::new();
        while output_open {
            let room_tx = if !pending.is_empty() {
                Some(input_tx.clone())
            } else {
                None
            };
            let room = async move {
                match room_tx {
                    Some(tx) => tx.reserve_owned().await.ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                chunk = output_rx.recv() => match chunk {
                    Some((stream, data)) => {
                        let message = ServerMessage::Output { stream, data };
                        if !self.send_or_give_way(&message, &kill).await {
                            // The client is gone (or the daemon is going): kill the program.
                            cancel.cancel();
                        }
                    }
                    None => output_open = false,
                },
                permit = room => {
                    if let (Some(permit), Some(input)) = (permit, pending.pop_front()) {
                        permit.send(input);
                    }
                }
                message = reader.next_message(), if client_open && pending.is_empty() => {
                    match message {
                        Ok(Some(ClientMessage::Stdin(data))) if forward_stdin => {
                            // In pieces: the queues hold pieces, not whole lines.
                            pending.extend(
                                data.chunks(PIECE).map(|piece| Input::Data(piece.to_vec())),
                            );
                        }
                        Ok(Some(ClientMessage::StdinEof)) if forward_stdin => {
                            pending.push_back(Input::Eof);
                        }
                        Ok(Some(ClientMessage::Signal(signal))) => {
                            pending.push_back(Input::Signal(signal));
                        }
                        Ok(Some(ClientMessage::Exec { id, params } | ClientMessage::Check { id, params })) => {
                            // One command per connection: this one is running.
                            let second = self::request(params);
                            let why = "one command per connection: this connection is running one";
                            self.refusal_record(Some(&second), AuditDecision::Deny, PROTOCOL, why);
                            let reply = error(Some(id), ErrorCode::Invalid, why);
                            if !self.send_or_give_way(&reply, &kill).await {
                                cancel.cancel();
                            }
                        }
                        Ok(Some(ClientMessage::Hello { id, .. })) => {
                            let why = "hello comes before exec";
                            self.refusal_record(None, AuditDecision::Error, PROTOCOL, why);
                            let reply = error(Some(id), ErrorCode::Invalid, why);
                            if !self.send_or_give_way(&reply, &kill).await {
                                cancel.cancel();
                            }
                        }
                        Ok(Some(ClientMessage::Unknown(_) | ClientMessage::Stdin(_) | ClientMessage::StdinEof)) => {}
                        Err(ReadError::Decode(e)) => {
                            let why = e.message.clone();
                            self.refusal_record(None, AuditDecision::Error, PROTOCOL, &why);
                            let reply = error(e.id, e.code, &e.message);
                            if !self.send_or_give_way(&reply, &kill).await || e.code == ErrorCode::Parse {
                                // A line that is not JSON leaves the framing in doubt: the
                                // run is stopped as if the client had left.
                                client_open = false;
                                protocol_error = true;
                                cancel.cancel();
                            }
                        }
                        Ok(None) => {
                            client_open = false;
                            if hung_up(&self.writer.half) {
                                // Closed, not only its write side: the client went away.
                                cancel.cancel();
                            } else {
                                // Half-closed (socat, `shutdown(SHUT_WR)`): the end of the
                                // input, not a disconnect. The program reads end of file and
                                // runs on; its output and exit status still go out.
                                if forward_stdin {
                                    pending.push_back(Input::Eof);
                                }
                                half_closed = true;
                            }
                        }
                        Err(ReadError::Frame(e)) => {
                            // Too long, cut off, raw bytes not agreed: answered, recorded,
                            // and the run is stopped (the stream cannot be read on).
                            let why = e.to_string();
                            self.refusal_record(None, AuditDecision::Error, PROTOCOL, &why);
                            let _ = self.send_or_give_way(&error(None, ErrorCode::Parse, &why), &kill).await;
                            client_open = false;
                            protocol_error = true;
                            cancel.cancel();
                        }
                        Err(ReadError::Io(_)) => {
                            // The connection failed: the client went away.
                            client_open = false;
                            cancel.cancel();
                        }
                    }
                }
                _ = hangup_check.tick(), if half_closed && !cancel.is_cancelled() => {
                    if hung_up(&self.writer.half) {
                        cancel.cancel();
                    }
                }
                () = kill.cancelled(), if !cancel.is_cancelled() => cancel.cancel(),
            }
        }
        drop(input_tx);
        let result = match run.await {
            Ok(result) => result,
            Err(e) => Err(e),
        };
        self.marks.returned = Marks::now();
        if let Some(pin) = git_pin {
            if let Err(e) = pin.finish() {
                eprintln!(
                    "airlock-daemon: agent {}: cannot write back git's configuration: {e}",
                    self.context.agent
                );
            }
        }
        match result {
            Ok(Ok(finished)) => {
                let stopped = if finished.timed_out {
                    Some("timeout")
                } else if finished.cancelled && protocol_error {
                    Some("protocol error")
                } else if finished.cancelled && self.context.shared.kill.is_cancelled() {
                    Some("shutdown")
                } else if finished.cancelled {
                    Some("disconnect")
                } else {
                    None
                };
                Outcome::Finished { finished, stopped }
            }
            Ok(Err(e)) => Outcome::Failed {
                rule: matches!(e, RunError::PostExec(_)).then(|| "airlock.post-exec".to_owned()),
                reason: e.to_string(),
                message: e.to_string(),
            },
            Err(e) => Outcome::Failed {
                rule: None,
                reason: format!("internal error: {e}"),
                message: "internal error".to_owned(),
            },
        }
    }

    /// The one place where how an `exec` ended becomes its audit record and its final
    /// reply (the record first: it is written before the reply completes).
    async fn conclude(
        &mut self,
        id: Value,
        mut record: AuditRecord,
        started: Instant,
        outcome: Outcome,
    ) {
        let kill = self.context.shared.kill.clone();
        let reply = match outcome {
            Outcome::Refused(refusal) => {
                record.decision = match refusal.kind {
                    RefusalKind::UnknownCommand => AuditDecision::Unknown,
                    RefusalKind::Denied => AuditDecision::Deny,
                    RefusalKind::Internal => AuditDecision::Error,
                };
                record.rule = refusal.rule.clone();
                record.reason = Some(refusal.reason.clone());
                self.audit(record, started, RecordKind::Request);
                refusal_message(id, &refusal)
            }
            Outcome::Unrecorded(e) => {
                // Nothing ran, and nothing can be recorded: the agent and the daemon's
                // stderr are told.
                let message = format!("the audit log cannot be written, so nothing runs: {e}");
                eprintln!("airlock-daemon: agent {}: {message}", self.context.agent);
                error(Some(id), ErrorCode::Internal, &message)
            }
            Outcome::Failed {
                rule,
                reason,
                message,
            } => {
                if rule.is_some() {
                    record.rule = rule;
                }
                record.reason = Some(reason);
                self.audit(record, started, RecordKind::Run);
                error(Some(id), ErrorCode::Internal, &message)
            }
            Outcome::Finished { finished, stopped } => {
                record.decision = AuditDecision::Allow;
                record.bytes_in = finished.bytes_in;
                record.bytes_out = finished.bytes_out;
                match finished.exit {
                    Exit::Code(code) => record.exit_code = Some(code),
                    Exit::Signal(signal) => record.signal = Some(signal),
                }
                if let Some(why) = stopped {
                    record.reason = Some(format!("stopped: {why}"));
                }
                // On record first: telling the client may take a while.
                self.audit(record, started, RecordKind::Run);
                if let Some(why) = stopped {
                    if why != "disconnect" && why != "protocol error" {
                        // Tell the agent why its program ended (it may still be reading).
                        let note = format!(
                            "airlock: stopped after {} s ({why})\n",
                            started.elapsed().as_secs()
                        );
                        let note = ServerMessage::Output {
                            stream: Stream::Stderr,
                            data: note.into_bytes(),
                        };
                        let _ = self.send_or_give_way(&note, &kill).await;
                    }
                }
                ServerMessage::Exit {
                    id,
                    status: finished.exit,
                }
            }
        };
        // A client that stopped reading gets a moment, not for ever (see
        // `send_or_give_way`); one that is gone gets nothing.
        if self.send_or_give_way(&reply, &kill).await {
            // The reply is written: the run is answered (the shim stops reading at it).
            // The end of the stream after it closes the connection, not the run.
            self.marks.replied();
            let _ = self.writer.half.shutdown().await;
        }
    }
}

/// How an `exec` ended, for [`Session::conclude`].
enum Outcome {
    /// Refused before anything ran: by policy, a hook, the working directory, or a
    /// post-exec hook that could not start.
    Refused(Refusal),
    /// Nothing ran: the start of the run could not be recorded.
    Unrecorded(std::io::Error),
    /// The run failed: the program could not start, the post-exec hook failed, or the
    /// daemon failed.
    Failed {
        /// The rule to record, when it is not the one that admitted the run.
        rule: Option<String>,
        /// Why, for the record.
        reason: String,
        /// Why, for the agent.
        message: String,
    },
    /// The program ran and ended; `stopped` says why the daemon stopped it, if it did.
    Finished {
        /// How it ended.
        finished: executor::Finished,
        /// `timeout`, `shutdown`, `disconnect` or `protocol error`.
        stopped: Option<&'static str>,
    },
}

impl Session {
    /// Starts the agent's post-exec hook for a prepared request.
    async fn start_post_exec(
        &self,
        path: &std::path::Path,
        prepared: &pipeline::Prepared,
        timeout: std::time::Duration,
    ) -> Result<Hook, String> {
        let host_cwd = prepared.spec.cwd.path.display().to_string();
        let request = HookRequest {
            agent: &self.context.agent,
            command: &prepared.request.command,
            args: &prepared.request.args,
            cwd: prepared.request.cwd.as_deref().unwrap_or_default(),
            host_cwd: &host_cwd,
            readings: &prepared.readings,
        };
        let env = pipeline::hook_env(&self.context.agent, &prepared.request.command);
        Hook::start(path, &prepared.agent_dir, &env, &request, timeout).await
    }
}

fn refusal_message(id: Value, refusal: &Refusal) -> ServerMessage {
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
    ServerMessage::Error {
        id: Some(id),
        error: RpcError {
            code,
            message,
            rule: refusal.rule.clone(),
            reason: Some(refusal.reason.clone()),
        },
    }
}
