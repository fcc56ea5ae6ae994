//! One server connection: the task that moves bytes between the transport and
//! [`msrpc_proto::ServerConnection`], dispatches calls and writes their answers.
//!
//! Reading and writing proceed together, so a client that sends while it is being sent to never
//! deadlocks with the server. Backpressure: when `max_calls_per_connection` calls are in progress, or
//! `max_queued_answers` answers wait to be written, the task stops reading from the client.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{debug, info, trace};

use super::call::{
    Answer, Answered, CallEvent, CallInfo, CallState, Completion, Dispatch, IncomingCall,
};
use super::context::AssocGroup;
use super::{ConnCounters, ConnStats, SecurityCheck, Shared};
use crate::auth::{AuthnLevel, AuthnService, ClientIdentity};
use crate::trace::{CallSpan, call_span, fault_words, level_words};
use crate::transport::{Outbox, PeerAddr, Stream};
use msrpc_ndr::Syntax;
use msrpc_proto::negotiate::TransferSyntaxPolicy;
use msrpc_proto::{
    Execution, FaultStatus, IdMap, InterfaceRegistry, ServerConfig as ProtoConfig,
    ServerConnection, ServerEvent, SyntaxId, Win32Status,
};

/// A call in progress on this connection: its state, shared with whoever holds the call, and its
/// span, which the connection task ends with the call's final status.
struct InFlight {
    state: Arc<CallState>,
    span: CallSpan,
}

/// The manager the connection's last call without an object UUID went to, so that the next
/// call to the same interface skips the server's interface table (a lock and two lookups) and
/// its security table. Valid for as long as the connection lives: a manager, once registered,
/// is never replaced or removed (a second one for the same type is refused), and the
/// interfaces' security is fixed when the server is built. Calls with an object UUID always
/// look up the table, as `set_object_type` may change the object's type at any time.
struct LastManager {
    offered: SyntaxId,
    manager: Arc<dyn super::Interface>,
    /// [`Shared::admits_all`] for it.
    admits_all: bool,
}

/// The server's interfaces as the protocol core asks about them during bind.
struct Registry(Arc<Shared>);

impl InterfaceRegistry for Registry {
    fn transfer_syntaxes(&self, interface: &SyntaxId) -> Option<Vec<SyntaxId>> {
        // Most preferred first: the core accepts the first of these the client offered.
        self.0
            .serves(interface)
            .then(|| match self.0.preferred_syntax(interface) {
                Syntax::Ndr64 => vec![SyntaxId::NDR64, SyntaxId::NDR20],
                _ => vec![SyntaxId::NDR20, SyntaxId::NDR64],
            })
    }

    fn assoc_group(&self, requested: u32) -> u32 {
        // Joining a live group shares its context handles. An unknown id is refused (0), as
        // Windows does (bind_nak; Samba's raw_protocol test_assoc_group_fail*), where C706
        // 12.6.3.1 would create a group.
        if requested == 0 {
            return self.0.new_assoc_group();
        }
        if self.0.groups.exists(requested) {
            requested
        } else {
            0
        }
    }
}

pub(crate) async fn serve_connection(shared: Arc<Shared>, stream: Stream, peer: PeerAddr) {
    let sec_addr = cfg_sec_addr(&stream);
    // Sockets split into owned halves (no lock on each read and write poll, as
    // `tokio::io::split` takes); other streams through `tokio::io::split`.
    match stream {
        Stream::Tcp(s) => {
            let (rd, wr) = s.into_split();
            serve_io(shared, rd, wr, sec_addr, peer).await
        }
        Stream::Unix(s) => {
            let (rd, wr) = s.into_split();
            serve_io(shared, rd, wr, sec_addr, peer).await
        }
        #[cfg(feature = "ncacn-np")]
        Stream::Pipe(p) => {
            let (rd, wr) = tokio::io::split(p);
            serve_io(shared, rd, wr, sec_addr, peer).await
        }
    }
}

/// What the one shutdown branch of the connection's `select!` saw.
enum Signal {
    /// The server stopped listening.
    Drain,
    /// The shutdown grace is over.
    Grace,
}

/// Writes what `out` holds now if the transport takes it without waiting (one `poll_write`;
/// when it would wait, the waker is registered and the loop's `select!` writes it later):
/// the answer goes out in the turn that produced it, not one turn of the loop later.
async fn write_now<W: tokio::io::AsyncWrite + Unpin>(
    wr: &mut W,
    out: &Outbox,
) -> Option<std::io::Result<usize>> {
    let write = out.write_to(wr);
    tokio::pin!(write);
    std::future::poll_fn(|cx| match write.as_mut().poll(cx) {
        std::task::Poll::Ready(r) => std::task::Poll::Ready(Some(r)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

async fn serve_io<R, W>(shared: Arc<Shared>, mut rd: R, mut wr: W, sec_addr: String, peer: PeerAddr)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let cfg = &shared.config;
    let mut pc = ProtoConfig::default();
    pc.max_xmit_frag = cfg.max_fragment;
    pc.max_recv_frag = cfg.max_fragment;
    pc.max_request_size = cfg.max_request_size;
    pc.transfer_syntax_policy = TransferSyntaxPolicy::RegistryOrder;
    pc.sec_addr = sec_addr;
    let mut conn = ServerConnection::new(pc, Arc::new(Registry(shared.clone())));
    if shared.users.is_some() || shared.kerberos.is_some() || shared.schannel.is_some() {
        conn.set_acceptor(Arc::new(crate::auth::StoreAcceptor {
            kerberos: shared.kerberos.clone(),
            schannel: shared.schannel.clone(),
            store: shared.users.clone().unwrap_or_default(),
        }));
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Completion>();
    // This connection's calls and PDUs, counted here and summed with the others' when read.
    let counters = ConnCounters::register(&shared);
    let stats: &ConnStats = &counters;
    let mut calls: IdMap<u32, InFlight> = IdMap::default();
    // The state of the last call answered, kept for the next one when nothing else holds it
    // (every call answered inside `dispatch`): no allocation per such call.
    let mut spare: Option<Arc<CallState>> = None;
    let mut last_manager: Option<LastManager> = None;
    let mut out = Outbox::default();
    let mut close_all = shared.close_all.subscribe();
    let mut draining = shared.stop.subscribe();
    // The two shutdown signals as futures made once (not a watch registration per turn of the
    // loop), polled in one `select!` branch: only the one that can fire next (the server stops
    // listening before its grace starts running out).
    let stop_listening = async move {
        let _ = draining.wait_for(|s| *s).await;
    };
    tokio::pin!(stop_listening);
    let grace_over = async move {
        let _ = close_all.wait_for(|s| *s).await;
    };
    tokio::pin!(grace_over);
    // The idle timer, made once. It may fire early (activity since moved the deadline on):
    // then it is set to the real deadline.
    let idle_timer = tokio::time::sleep(cfg.idle_timeout);
    tokio::pin!(idle_timer);
    let mut drained = false;
    let mut closing = false;
    let mut waiting: std::collections::VecDeque<msrpc_proto::IncomingCall> =
        std::collections::VecDeque::new();
    let mut group: Option<(u32, Arc<AssocGroup>)> = None;
    let mut eof = false;
    // Slow-loris and half-open bound (`pdu_timeout`): until the first bind, the deadline runs from
    // the accept; afterwards, from the moment input was left half-received without a whole PDU
    // completing since.
    let mut bound = false;
    let accepted = Instant::now();
    let mut pdu_started: Option<Instant> = Some(accepted);
    debug!(?peer, "connection accepted");

    loop {
        // What the protocol core decided.
        while let Some(ev) = conn.poll_event() {
            match ev {
                // Calls past max_calls_per_connection wait here, in order, until one in progress
                // is answered: one read can carry many requests, so stopping reading is not enough.
                ServerEvent::Call(c) => waiting.push_back(c),
                ServerEvent::Cancel { call_id } => {
                    if let Some(c) = calls.get(&call_id) {
                        c.state.signal(CallEvent::Cancel);
                    } else if let Some(w) = waiting.iter_mut().find(|w| w.call_id == call_id) {
                        w.pending_cancel = true;
                    }
                }
                ServerEvent::Orphaned { call_id } => {
                    if let Some(c) = calls.remove(&call_id) {
                        c.state.signal(CallEvent::Cancel);
                        c.span.end(|| "orphaned by the client".into());
                    }
                    waiting.retain(|w| w.call_id != call_id);
                }
                ServerEvent::Bound { assoc_group, .. } => {
                    if !bound {
                        // The first bind is done; a PDU sent behind it starts its own clock.
                        bound = true;
                        pdu_started = None;
                    }
                    if group.is_none() {
                        group = Some((assoc_group, shared.groups.join(assoc_group)));
                    }
                }
                ServerEvent::Authenticated {
                    context_id,
                    level,
                    peer: client,
                    ..
                } => {
                    debug!(?peer, context_id, level = level.0, client = ?client.map(|c| c.to_string()), "client authenticated");
                }
                ServerEvent::AuthFailed { context_id, error } => {
                    // The package's text names the failure, never the password.
                    info!(?peer, context_id, %error, "authentication failed");
                }
                ServerEvent::Closed { error } => {
                    debug!(?peer, ?error, "connection closing");
                }
                other => trace!(?other, "server event"),
            }
        }
        while calls.len() < cfg.max_calls_per_connection && !closing {
            let Some(c) = waiting.pop_front() else { break };
            let g = group.as_ref().map(|(_, g)| g.clone());
            dispatch(
                &shared,
                stats,
                &mut conn,
                &mut calls,
                &mut spare,
                &mut last_manager,
                &mut out,
                &tx,
                &peer,
                g,
                c,
            );
        }
        let sent = out.fill(|b| conn.poll_transmit_into(b));
        stats.add(ConnStats::PKTS_SENT, sent);
        if out.is_empty() && (conn.is_closed() || eof) {
            break;
        }
        if calls.is_empty() && conn.buffered_bytes() == 0 {
            conn.release_input_buffer();
            out.release();
        }

        if closing && out.is_empty() && !conn.wants_transmit() && !conn.is_closed() {
            // Shutdown: every answer given before the grace ran out has been written.
            conn.close();
            continue;
        }
        let can_read = !eof
            && !closing
            && !conn.is_closed()
            && calls.len() < cfg.max_calls_per_connection
            && waiting.is_empty()
            && conn.transmit_backlog() < cfg.max_queued_answers;
        if bound {
            if !can_read || conn.buffered_bytes() == 0 {
                // Not reading (backpressure) does not count against the client.
                pdu_started = None;
            } else if pdu_started.is_none() {
                pdu_started = Some(Instant::now());
            }
        }
        let pdu_deadline = if can_read {
            pdu_started.map(|t| tokio::time::Instant::from_std(t + cfg.pdu_timeout))
        } else {
            None
        };
        let idle_deadline = if calls.is_empty() && out.is_empty() {
            // Idle since the last bytes came, or since the accept when none came yet (the
            // deadline never moves earlier, which the idle timer below relies on).
            let since = conn.last_activity().unwrap_or(accepted);
            Some(tokio::time::Instant::from_std(since + cfg.idle_timeout))
        } else {
            None
        };

        if !out.is_empty() {
            // The answers just made go out now when the socket takes them.
            match write_now(&mut wr, &out).await {
                Some(Ok(0) | Err(_)) => {
                    conn.handle_transport_closed();
                    out = Outbox::default();
                    eof = true;
                    continue;
                }
                Some(Ok(n)) => {
                    out.advance(n);
                    if out.is_empty() {
                        continue;
                    }
                }
                None => {}
            }
        }
        let listening = !drained;

        tokio::select! {
            // Fixed order: answers from managers first, then the socket; the signals and
            // timers, which rarely fire, last.
            biased;
            // Only calls in progress can be answered this way (one answered inside `dispatch`
            // never is; a late answer to a call that is gone waits until the next poll, and
            // is dropped then): no poll of the channel per turn while nothing is in progress.
            Some(c) = rx.recv(), if !calls.is_empty() => answer(stats, &mut conn, &mut calls, &mut spare, &mut out, c),
            r = out.write_to(&mut wr), if !out.is_empty() => {
                match r {
                    Ok(0) | Err(_) => {
                        conn.handle_transport_closed();
                        out = Outbox::default();
                        eof = true;
                    }
                    Ok(n) => out.advance(n),
                }
            }
            // Straight into the core's input buffer: no copy.
            r = rd.read_buf(conn.input_buffer()), if can_read => {
                match r {
                    Ok(0) | Err(_) => {
                        conn.handle_transport_closed();
                        eof = true;
                    }
                    Ok(n) => {
                        // (The bytes read are already in: `before` counts them.)
                        let before = conn.buffered_bytes();
                        let pdus = conn.pdus_received();
                        // A call that takes the core's fast path is dispatched here and then,
                        // when nothing is ahead of it (the core hands one over only once its
                        // earlier events are polled; `waiting` keeps the calls that came
                        // before it): the same order as through the event queue, one move.
                        conn.handle_input_calls(Instant::now(), n, |conn, c| {
                            if waiting.is_empty()
                                && calls.len() < cfg.max_calls_per_connection
                                && !closing
                            {
                                let g = group.as_ref().map(|(_, g)| g.clone());
                                dispatch(
                                    &shared,
                                    stats,
                                    conn,
                                    &mut calls,
                                    &mut spare,
                                    &mut last_manager,
                                    &mut out,
                                    &tx,
                                    &peer,
                                    g,
                                    c,
                                );
                            } else {
                                waiting.push_back(c);
                            }
                        });
                        stats.add(ConnStats::PKTS_RECEIVED, conn.pdus_received() - pdus);
                        // A whole PDU was consumed (the framer's buffer shrank by more than the
                        // reassembler grew): progress, the PDU clock restarts.
                        if bound && conn.buffered_bytes() < before {
                            pdu_started = None;
                        }
                    }
                }
            }
            sig = std::future::poll_fn(|cx| {
                if listening {
                    stop_listening.as_mut().poll(cx).map(|()| Signal::Drain)
                } else {
                    grace_over.as_mut().poll(cx).map(|()| Signal::Grace)
                }
            }), if !closing => match sig {
                Signal::Drain => {
                // Server stops listening: tell the client to start no new calls here; calls in
                // progress still get their answers.
                drained = true;
                conn.shutdown();
                }
                Signal::Grace => {
                // The shutdown grace is over. Answers already given still go out; calls not
                // answered by now are abandoned (their managers see a cancel); then the
                // connection closes.
                closing = true;
                while let Ok(c) = rx.try_recv() {
                    answer(stats, &mut conn, &mut calls, &mut spare, &mut out, c);
                }
                for (_, c) in calls.drain() {
                    c.state.signal(CallEvent::Cancel);
                    c.span.end(|| "abandoned at shutdown".into());
                }
                waiting.clear();
                if !drained {
                    drained = true;
                    conn.shutdown();
                }
                }
            },
            _ = crate::transport::sleep_until(pdu_deadline), if pdu_deadline.is_some() => {
                debug!(?peer, bound, "pdu_timeout: partial PDU or first bind too slow, connection closed");
                shared.stats.pdu_timeouts.fetch_add(1, Ordering::Relaxed);
                conn.close();
                eof = true;
            }
            () = &mut idle_timer, if idle_deadline.is_some() => {
                match idle_deadline {
                    Some(d) if tokio::time::Instant::now() < d => idle_timer.as_mut().reset(d),
                    _ => {
                        debug!(?peer, "idle connection closed");
                        shared.stats.idle_closed.fetch_add(1, Ordering::Relaxed);
                        conn.close();
                    }
                }
            }
        }
    }
    let _ = wr.shutdown().await;
    for (_, c) in calls.drain() {
        c.state.signal(CallEvent::ClientDisconnect);
        c.span.end(|| "client disconnected".into());
    }
    if let Some((id, g)) = group {
        shared.groups.leave(id, &g);
    }
    debug!(?peer, "connection closed");
}

/// The secondary address for bind_ack: the local port for TCP, empty for local sockets.
fn cfg_sec_addr(stream: &Stream) -> String {
    match stream {
        Stream::Tcp(s) => s
            .local_addr()
            .map(|a| a.port().to_string())
            .unwrap_or_default(),
        Stream::Unix(_) => String::new(),
        // Listeners never yield pipes (Listener::bind refuses ncacn_np): the server side of
        // ncacn_np is out of scope, as it needs an
        // SMB server (docs/named-pipes.md).
        #[cfg(feature = "ncacn-np")]
        Stream::Pipe(_) => String::new(),
    }
}

/// Sends a manager's answer, unless the call is gone (orphaned, or abandoned at shutdown).
fn answer(
    stats: &ConnStats,
    conn: &mut ServerConnection,
    calls: &mut IdMap<u32, InFlight>,
    spare: &mut Option<Arc<CallState>>,
    out: &mut Outbox,
    c: Completion,
) {
    if let Some(flight) = calls.remove(&c.call_id) {
        finish(stats, conn, spare, out, flight, c);
    }
}

/// Sends the answer of a call in progress and ends its span.
fn finish(
    stats: &ConnStats,
    conn: &mut ServerConnection,
    spare: &mut Option<Arc<CallState>>,
    out: &mut Outbox,
    flight: InFlight,
    c: Completion,
) {
    let InFlight {
        state: mut call_state,
        span,
    } = flight;
    if let Some(s) = Arc::get_mut(&mut call_state) {
        // Nobody else holds it: it serves the next call.
        s.reset();
        *spare = Some(call_state);
    }
    let (r, fault) = match c.answer {
        Answer::Reply(stub) => {
            stats.add(ConnStats::CALLS_SENT, 1);
            // Straight into the outbox when it is the next PDU to go anyway (the core checks)
            // and the batch has room; else queued in the core, as before.
            let r = match out.room() {
                Some(buf) => conn.respond_into(c.call_id, stub, buf).map(|direct| {
                    if direct {
                        stats.add(ConnStats::PKTS_SENT, 1);
                    }
                }),
                None => conn.respond(c.call_id, stub),
            };
            (r, None)
        }
        Answer::Fault(status) => {
            stats.add(ConnStats::FAULTS_SENT, 1);
            (
                conn.fault(c.call_id, status, Execution::MayHaveExecuted),
                Some(status),
            )
        }
    };
    match r {
        Ok(()) => span.end(|| fault.map_or("ok".into(), fault_words)),
        Err(e) => {
            trace!(call_id = c.call_id, error = %e, "answer dropped");
            span.end(|| format!("answer dropped: {e}").into());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn dispatch(
    shared: &Arc<Shared>,
    stats: &ConnStats,
    conn: &mut ServerConnection,
    calls: &mut IdMap<u32, InFlight>,
    spare: &mut Option<Arc<CallState>>,
    last_manager: &mut Option<LastManager>,
    out: &mut Outbox,
    tx: &mpsc::UnboundedSender<Completion>,
    peer: &PeerAddr,
    group: Option<Arc<AssocGroup>>,
    c: msrpc_proto::IncomingCall,
) {
    stats.add(ConnStats::CALLS_RECEIVED, 1);
    if last_manager
        .as_ref()
        .is_some_and(|m| c.object.is_some() || m.offered != c.interface)
    {
        *last_manager = None;
    }
    // The manager, borrowed (no `Arc` clone, whose count every connection task would bounce
    // between cores): from the remembered one, else looked up and, for a call without an object
    // UUID, remembered.
    let mut looked_up: Option<Arc<dyn super::Interface>> = None;
    let mut refused = None;
    if last_manager.is_none() {
        match shared.manager(&c.interface, c.object) {
            Ok(m) if c.object.is_none() => {
                *last_manager = Some(LastManager {
                    offered: c.interface,
                    admits_all: shared.admits_all(&m.syntax()),
                    manager: m,
                });
            }
            Ok(m) => looked_up = Some(m),
            Err(status) => refused = Some(status),
        }
    }
    let iface: Result<(&Arc<dyn super::Interface>, bool), FaultStatus> =
        match (refused, &looked_up, &*last_manager) {
            (Some(status), _, _) => Err(status),
            (None, Some(m), _) => Ok((m, shared.admits_all(&m.syntax()))),
            (None, None, Some(l)) => Ok((&l.manager, l.admits_all)),
            // Looked up above when nothing was remembered.
            (None, None, None) => Err(FaultStatus::NCA_S_UNK_IF),
        };
    let level = c.auth.as_ref().and_then(|a| AuthnLevel::from_wire(a.level));
    let span = call_span!(
        "server",
        iface
            .as_ref()
            .map_or_else(|_| c.interface.to_string(), |(i, _)| i.name().to_string()),
        c.opnum,
        c.call_id,
        conn.assoc_group(),
        level_words(level)
    );
    let fault = |conn: &mut ServerConnection, status: FaultStatus, span: CallSpan| {
        stats.add(ConnStats::FAULTS_SENT, 1);
        let _ = conn.fault(c.call_id, status, Execution::DidNotExecute);
        span.end(|| fault_words(status));
    };
    let (iface, admits_all) = match iface {
        Ok(i) => i,
        Err(status) => return fault(conn, status, span),
    };
    if c.opnum >= iface.operation_count() {
        return fault(conn, FaultStatus::NCA_S_OP_RNG_ERROR, span);
    }
    let client = c.auth.as_ref().and_then(|a| {
        let p = a.peer.as_ref()?;
        Some(ClientIdentity {
            user: p.user.clone(),
            domain: p.domain.clone(),
            groups: p.groups.clone(),
            service: AuthnService::from_wire(a.auth_type)?,
            level: AuthnLevel::from_wire(a.level)?,
            anonymous: p.anonymous,
        })
    });
    let check = SecurityCheck {
        client: client.as_ref(),
        interface: iface.syntax(),
        opnum: c.opnum,
        peer,
    };
    // The remembered verdict covers callers that are not anonymous logons; those always meet
    // the anonymous policy in `admits`.
    let remembered = admits_all && !client.as_ref().is_some_and(|c| c.anonymous);
    if !remembered && !shared.admits(&check) {
        debug!(parent: &span.span(), ?peer, opnum = c.opnum, client = ?client.as_ref().map(|c| c.to_string()), "call refused by the interface's security");
        return fault(conn, FaultStatus(Win32Status::ERROR_ACCESS_DENIED.0), span);
    }
    // The call counts as in progress from here until it is answered (or refused).
    let earlier = shared.calls.fetch_add(1, Ordering::AcqRel);
    if earlier >= shared.config.max_calls {
        super::call::call_ended(shared);
        return fault(conn, FaultStatus::NCA_S_SERVER_TOO_BUSY, span);
    }
    let state = spare
        .take()
        .unwrap_or_else(|| Arc::new(CallState::new(tx.clone(), shared.clone())));
    if c.pending_cancel {
        state.signal(CallEvent::Cancel);
    }
    // Events of the manager that runs here (inline managers, `Service::accept`, decode faults)
    // nest under the call's span.
    let entered = span.span();
    let kept = state.clone();
    let call_id = c.call_id;
    let call = IncomingCall {
        info: CallInfo {
            interface: iface.syntax(),
            opnum: c.opnum,
            object: c.object,
            syntax: c.syntax,
            drep: c.drep,
            peer: peer.clone(),
            assoc_group: conn.assoc_group(),
            call_id: c.call_id,
            client,
            decode_limits: shared.config.decode_limits,
        },
        // As the core cut it, no copy: a slice of the input buffer for a request of one
        // fragment (the helpers that answer later detach it), else the reassembled buffer.
        stub: c.stub,
        state,
        open: true,
        counted: true,
        group,
    };
    let d = entered.in_scope(|| iface.dispatch(call));
    let flight = InFlight { state: kept, span };
    match d {
        // Answered there and then: never in `calls` (nothing else can have seen it).
        Dispatch::Answered(Answered(c)) => finish(stats, conn, spare, out, flight, c),
        // The answer comes through `tx`, which the loop reads only after this returns: the
        // call is in `calls` by then.
        Dispatch::Deferred => {
            calls.insert(call_id, flight);
        }
    }
}
