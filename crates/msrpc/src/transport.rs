//! Transports: `ncacn_ip_tcp` over TCP, `ncalrpc` over Unix domain sockets, and (client side,
//! cargo feature `ncacn-np`) `ncacn_np` over SMB2/3 named pipes.
//!
//! The runtime sees a transport as a byte stream (`Stream`) and a source of streams (`Listener`), both internal.
//! Keeping it this small lets tests substitute in-memory pipes.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::binding::{BindingTarget, StringBinding};
#[cfg(feature = "ncacn-np")]
pub use crate::np::SmbSessionInfo as SmbInfo;
/// What the SMB layer of a named-pipe connection negotiated (only with the `ncacn-np` feature).
#[cfg(not(feature = "ncacn-np"))]
#[derive(Clone, Debug)]
pub enum SmbInfo {}
use crate::error::Error;
use msrpc_proto::Win32Status;

/// Where a listener listens or a client connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `ncacn_ip_tcp`: a host name or IP literal and a port (0 to pick an ephemeral port when listening).
    Tcp {
        /// Host name or IP literal.
        host: String,
        /// Port number.
        port: u16,
    },
    /// `ncalrpc`: the path of a Unix domain socket.
    Local(PathBuf),
    /// `ncacn_np`: a named pipe on an SMB server (client side). The SMB port is
    /// [`SmbOptions::port`](crate::SmbOptions::port).
    Pipe {
        /// Host name or IP literal of the SMB server.
        host: String,
        /// The pipe's name, without the `\pipe\` prefix.
        pipe: String,
    },
}

/// The peer of an accepted connection, as the server sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerAddr {
    /// A TCP peer.
    Tcp(std::net::SocketAddr),
    /// A local (Unix socket) peer.
    Local,
}

impl PeerAddr {
    /// True for loopback TCP peers and local sockets.
    pub fn is_local(&self) -> bool {
        match self {
            PeerAddr::Tcp(a) => a.ip().is_loopback(),
            PeerAddr::Local => true,
        }
    }
}

/// A connected byte stream.
#[derive(Debug)]
pub(crate) enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix domain socket.
    Unix(UnixStream),
    /// A named pipe: the runtime's end of the byte stream a task carries over SMB.
    #[cfg(feature = "ncacn-np")]
    Pipe(tokio::io::DuplexStream),
}

impl Stream {
    /// Connects to `addr` with a binding's options: TCP and Unix sockets as [`Stream::connect`]
    /// does; a named pipe opens (or reuses) the SMB session to its server and opens the pipe. The
    /// whole of it gives up after `options.connect_timeout`.
    pub(crate) async fn connect_with(
        addr: &Address,
        options: &crate::BindingOptions,
    ) -> Result<(Stream, Option<SmbInfo>), Error> {
        match addr {
            #[cfg(feature = "ncacn-np")]
            Address::Pipe { host, pipe } => {
                match tokio::time::timeout(
                    options.connect_timeout,
                    crate::np::connect(host, pipe, options),
                )
                .await
                {
                    Ok(Ok(p)) => Ok((Stream::Pipe(p.stream), Some(p.info))),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(Error::ConnectTimeout(options.connect_timeout)),
                }
            }
            _ => Stream::connect(addr, options.connect_timeout)
                .await
                .map(|s| (s, None))
                .map_err(|e| {
                    if e.kind() == io::ErrorKind::TimedOut {
                        Error::ConnectTimeout(options.connect_timeout)
                    } else {
                        Error::ServerUnavailable { source: e }
                    }
                }),
        }
    }

    /// The largest fragment to offer on this stream: [`SmbOptions::max_fragment`](crate::SmbOptions)
    /// (4280) on a named pipe, [`BindingOptions::max_fragment`](crate::BindingOptions) otherwise.
    pub(crate) fn max_fragment(&self, options: &crate::BindingOptions) -> u16 {
        match self {
            #[cfg(feature = "ncacn-np")]
            Stream::Pipe(_) => options.smb.max_fragment,
            _ => options.max_fragment,
        }
    }

    /// Connects to `addr`, giving up after `timeout`.
    pub(crate) async fn connect(addr: &Address, timeout: Duration) -> io::Result<Stream> {
        let fut = async {
            match addr {
                Address::Tcp { host, port } => {
                    let s = TcpStream::connect((host.as_str(), *port)).await?;
                    s.set_nodelay(true)?;
                    set_keepalive(&s)?;
                    Ok(Stream::Tcp(s))
                }
                Address::Local(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
                Address::Pipe { .. } => Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "a named pipe needs the binding's options: connect it through a Binding",
                )),
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        }
    }
}

/// TCP keep-alive for every RPC connection: idle 60 s, then probes every 10 s.
fn set_keepalive(s: &TcpStream) -> io::Result<()> {
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10));
    socket2::SockRef::from(s).set_tcp_keepalive(&ka)
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "ncacn-np")]
            Stream::Pipe(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "ncacn-np")]
            Stream::Pipe(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "ncacn-np")]
            Stream::Pipe(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "ncacn-np")]
            Stream::Pipe(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "ncacn-np")]
            Stream::Pipe(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A bound listener.
#[derive(Debug)]
pub(crate) enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix domain socket; the path is removed when the listener is dropped.
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// Binds `addr`. For `ncalrpc` a stale socket file is replaced and missing parent directories are made.
    pub(crate) async fn bind(addr: &Address) -> io::Result<Listener> {
        match addr {
            Address::Tcp { host, port } => {
                let l = TcpListener::bind((host.as_str(), *port)).await?;
                Ok(Listener::Tcp(l))
            }
            Address::Pipe { .. } => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "ncacn_np is client-side only: msrpc cannot serve named pipes (it needs an SMB server)",
            )),
            Address::Local(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                remove_stale_socket(path)?;
                Ok(Listener::Unix(UnixListener::bind(path)?, path.clone()))
            }
        }
    }

    /// The address actually bound (the real port when 0 was asked for).
    pub(crate) fn local_addr(&self) -> io::Result<Address> {
        match self {
            Listener::Tcp(l) => {
                let a = l.local_addr()?;
                Ok(Address::Tcp {
                    host: a.ip().to_string(),
                    port: a.port(),
                })
            }
            Listener::Unix(_, p) => Ok(Address::Local(p.clone())),
        }
    }

    /// Accepts the next connection.
    pub(crate) async fn accept(&self) -> io::Result<(Stream, PeerAddr)> {
        match self {
            Listener::Tcp(l) => {
                let (s, a) = l.accept().await?;
                s.set_nodelay(true)?;
                set_keepalive(&s)?;
                Ok((Stream::Tcp(s), PeerAddr::Tcp(a)))
            }
            Listener::Unix(l, _) => {
                let (s, _) = l.accept().await?;
                Ok((Stream::Unix(s), PeerAddr::Local))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Removes a socket file left by a dead server; refuses to remove anything that is not a socket, or a
/// socket some live server still accepts on.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by a running server", path.display()),
                ));
            }
            std::fs::remove_file(path)
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl Address {
    /// Where to connect for a string binding. A TCP binding without an endpoint needs the endpoint
    /// mapper: `Binding` resolves it before it gets here (see `msrpc::epm`); here it is
    /// `EPT_S_NOT_REGISTERED` with a hint.
    pub fn for_connect(binding: &StringBinding) -> Result<Address, Error> {
        match binding.target()? {
            BindingTarget::Tcp {
                host,
                port: Some(port),
            } => Ok(Address::Tcp { host, port }),
            BindingTarget::Tcp { port: None, .. } => Err(Error::status_msg(
                Win32Status::EPT_S_NOT_REGISTERED,
                format!(
                    "{binding} has no endpoint: resolve it through the endpoint mapper \
                     (msrpc::Binding does), or give the port, as in ncacn_ip_tcp:{}[PORT]",
                    binding.network_addr()
                ),
            )),
            BindingTarget::Np {
                host,
                pipe: Some(pipe),
            } => Ok(Address::Pipe { host, pipe }),
            BindingTarget::Np { pipe: None, .. } => Err(Error::status_msg(
                Win32Status::EPT_S_NOT_REGISTERED,
                format!(
                    "{binding} has no endpoint: resolve it through the endpoint mapper \
                     (msrpc::Binding does), or name the pipe, as in ncacn_np:{}[\\pipe\\srvsvc]",
                    binding.network_addr()
                ),
            )),
            BindingTarget::Lrpc(ep) => ep.socket_path().map(Address::Local).ok_or_else(|| {
                Error::status_msg(
                    Win32Status::RPC_S_INVALID_ENDPOINT_FORMAT,
                    format!("{binding} names no ncalrpc endpoint; write ncalrpc:[NAME]"),
                )
            }),
        }
    }

    /// Where to listen for a string binding: a TCP binding without an endpoint listens on a dynamic
    /// port, as `RpcServerUseProtseq` does.
    pub fn for_listen(binding: &StringBinding) -> Result<Address, Error> {
        match binding.target()? {
            BindingTarget::Tcp { host, port } => Ok(Address::Tcp {
                host,
                port: port.unwrap_or(0),
            }),
            BindingTarget::Np { .. } => Err(Error::status_msg(
                Win32Status::RPC_S_PROTSEQ_NOT_SUPPORTED,
                format!(
                    "{binding}: ncacn_np is client-side only; msrpc cannot serve named pipes \
                     (that needs an SMB server)"
                ),
            )),
            _ => Address::for_connect(binding),
        }
    }

    /// `binding` with the endpoint replaced by this address's real one (the port a listener got).
    pub fn apply_to(&self, binding: &StringBinding) -> StringBinding {
        match self {
            Address::Tcp { port, .. } => binding.clone().with_endpoint(port.to_string()),
            Address::Local(_) => binding.clone(),
            Address::Pipe { pipe, .. } => binding.clone().with_endpoint(format!("\\pipe\\{pipe}")),
        }
    }
}

/// PDUs waiting to be written on a connection, in one buffer the protocol core emits them into
/// (`poll_transmit_into`): every PDU ready at once goes out in one write, up to [`BATCH`] bytes,
/// with no allocation or copy per PDU. The buffer is kept between batches and shrinks back to
/// [`KEEP`] once the connection has nothing in progress ([`Outbox::release`]).
///
/// Until 2026-12 each PDU was a `Vec` of its own and 16 of them went into one `writev`: 64
/// answers ready together took four system calls and 64 allocations.
///
/// [`BATCH`]: Outbox::BATCH
/// [`KEEP`]: Outbox::KEEP
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    pos: usize,
}

impl Outbox {
    /// PDUs are pulled into the outbox until it holds this many bytes not yet written.
    pub(crate) const BATCH: usize = 64 * 1024;
    /// The buffer's capacity kept while a connection has nothing in progress.
    pub(crate) const KEEP: usize = 8 * 1024;

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Pulls PDUs from `next` (which appends one to the buffer, or returns false) while the
    /// batch has room; returns how many were pulled.
    pub(crate) fn fill(&mut self, mut next: impl FnMut(&mut Vec<u8>) -> bool) -> u64 {
        self.compact();
        let mut pulled = 0;
        while self.buf.len() - self.pos < Self::BATCH && next(&mut self.buf) {
            pulled += 1;
        }
        pulled
    }

    /// The buffer to append one PDU to, when the batch has room (as [`fill`](Self::fill)
    /// checks before each PDU it pulls).
    pub(crate) fn room(&mut self) -> Option<&mut Vec<u8>> {
        self.compact();
        (self.buf.len() - self.pos < Self::BATCH).then_some(&mut self.buf)
    }

    fn compact(&mut self) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos >= Self::KEEP {
            // A batch is partly written (the peer reads slowly): move the rest to the front
            // before adding more, so the buffer stays under KEEP + BATCH + one fragment.
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// Marks `n` bytes written.
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Nothing is in progress: let a large buffer go.
    pub(crate) fn release(&mut self) {
        if self.is_empty() && self.buf.capacity() > Self::KEEP {
            self.buf = Vec::new();
            self.pos = 0;
        }
    }

    /// Writes some of the queued bytes with one write; the count written.
    pub(crate) async fn write_to<W: AsyncWrite + Unpin>(&self, w: &mut W) -> io::Result<usize> {
        use tokio::io::AsyncWriteExt;
        w.write(&self.buf[self.pos..]).await
    }
}

/// Sleeps until `deadline`; never resolves for `None` (for a `select!` branch that is disabled
/// then anyway). The connection tasks' timers (call timeouts, PDU and idle deadlines) use it.
pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::Outbox;

    /// PDUs pulled together sit in one buffer and go out in one write; a partial write keeps the
    /// rest; the batch stops at `BATCH` bytes; an idle outbox gives a large buffer back.
    #[tokio::test]
    async fn pdus_ready_together_go_out_in_one_write() {
        let mut out = Outbox::default();
        let mut n = 0u8;
        let pulled = out.fill(|b| {
            if n == 64 {
                return false;
            }
            b.extend_from_slice(&[n; 28]);
            n += 1;
            true
        });
        assert_eq!(pulled, 64);
        let mut sink = Vec::new();
        let written = out.write_to(&mut sink).await.unwrap();
        assert_eq!(written, 64 * 28, "one write carries all 64");
        assert_eq!(sink[27], 0);
        assert_eq!(sink[28], 1);
        assert_eq!(sink[63 * 28], 63);
        // A partial write: the rest stays, in order.
        out.advance(10);
        assert!(!out.is_empty());
        let mut rest = Vec::new();
        out.write_to(&mut rest).await.unwrap();
        assert_eq!(rest.len(), 64 * 28 - 10);
        assert_eq!(rest[..], sink[10..]);
        out.advance(rest.len());
        assert!(out.is_empty());
        // The batch is bounded: a producer with more never fills past BATCH plus one PDU.
        let pulled = out.fill(|b| {
            b.extend_from_slice(&[7; 5840]);
            true
        });
        assert_eq!(pulled as usize, Outbox::BATCH.div_ceil(5840));
        let mut big = Vec::new();
        let w = out.write_to(&mut big).await.unwrap();
        out.advance(w);
        assert!(out.is_empty());
        out.release();
        assert!(out.buf.capacity() <= Outbox::KEEP);
    }
}
