//! A listening socket inherited from the supervisor (TCP or Unix), duplicated once per runtime.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// Facts about one accepted connection, shared by every request on it.
#[derive(Debug)]
pub(crate) struct ConnInfo {
    /// Peer as `host:port` (IPv6 in brackets); empty for an unnamed Unix peer.
    pub(crate) client: String,
    /// Peer address without the port, for access logs.
    pub(crate) client_ip: String,
    /// Local bound address as `host:port`, or the socket path.
    pub(crate) server: String,
    pub(crate) scheme: &'static str,
    /// Socket addresses (TCP only), for interfaces that report host and port apart.
    pub(crate) peer_addr: Option<std::net::SocketAddr>,
    pub(crate) local_addr: Option<std::net::SocketAddr>,
}

#[cfg(test)]
impl ConnInfo {
    /// A loopback client on an in-memory connection, for tests.
    pub(crate) fn for_test() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            client: "127.0.0.1:50000".into(),
            client_ip: "127.0.0.1".into(),
            server: "127.0.0.1:8000".into(),
            scheme: "http",
            peer_addr: None,
            local_addr: None,
        })
    }
}

pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Duplicates `fd` so each runtime owns its descriptor (closing one never closes another's).
/// Done on the thread starting the engine, so that its caller may close `fd` right after (a
/// stopping worker then leaves no listening descriptor open once its accept loops end).
pub(crate) fn dup(fd: RawFd) -> io::Result<socket2::Socket> {
    // SAFETY: F_DUPFD_CLOEXEC on a caller-provided fd; the result is checked before use.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor owned by nobody else.
    Ok(socket2::Socket::from(unsafe { OwnedFd::from_raw_fd(new) }))
}

impl Listener {
    /// Wraps a duplicate ([`dup`]) of the inherited listening socket. Must run inside a
    /// runtime.
    pub(crate) fn from_socket(sock: socket2::Socket) -> io::Result<Self> {
        sock.set_nonblocking(true)?;
        let local = sock.local_addr()?;
        if local.is_unix() {
            let std: std::os::unix::net::UnixListener = OwnedFd::from(sock).into();
            Ok(Self::Unix(UnixListener::from_std(std)?))
        } else {
            let std: std::net::TcpListener = sock.into();
            Ok(Self::Tcp(TcpListener::from_std(std)?))
        }
    }

    /// The local address in the form the interfaces report (`host:port` or the socket path).
    pub(crate) fn local_name(&self) -> String {
        match self {
            Self::Tcp(l) => l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            Self::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                .unwrap_or_default(),
        }
    }

    pub(crate) async fn accept(&self, server: &str, scheme: &'static str) -> io::Result<(Stream, Arc<ConnInfo>)> {
        match self {
            Self::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                let info = ConnInfo {
                    client: peer.to_string(),
                    client_ip: peer.ip().to_string(),
                    server: server.to_string(),
                    scheme,
                    peer_addr: Some(peer),
                    local_addr: s.local_addr().ok(),
                };
                Ok((Stream::Tcp(s), Arc::new(info)))
            }
            Self::Unix(l) => {
                let (s, peer) = l.accept().await?;
                let client = peer.as_pathname().map(|p| p.display().to_string()).unwrap_or_default();
                let info = ConnInfo {
                    client_ip: client.clone(),
                    client,
                    server: server.to_string(),
                    scheme,
                    peer_addr: None,
                    local_addr: None,
                };
                Ok((Stream::Unix(s), Arc::new(info)))
            }
        }
    }
}

/// An accepted connection of either family.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Whether the peer sends something (or closes) within `limit`; nothing is consumed.
    pub(crate) async fn sends_within(&self, limit: Duration) -> bool {
        let arrived = async {
            loop {
                // `readable()` may wake without data (a fresh socket often does): a peek tells,
                // and its `WouldBlock` clears the readiness so that the next wait is a real one.
                let peeked = match self {
                    Self::Tcp(s) => {
                        s.readable().await?;
                        s.try_io(Interest::READABLE, || peek(s.as_raw_fd()))
                    }
                    Self::Unix(s) => {
                        s.readable().await?;
                        s.try_io(Interest::READABLE, || peek(s.as_raw_fd()))
                    }
                };
                match peeked {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => return other.map(|_| ()),
                }
            }
        };
        matches!(tokio::time::timeout(limit, arrived).await, Ok(Ok(())))
    }
}

/// One byte of socket `fd` peeked (0: the peer closed), without waiting.
fn peek(fd: RawFd) -> io::Result<usize> {
    let mut byte = 0u8;
    // SAFETY: `byte` is a valid one-byte buffer for the duration of the call.
    let n = unsafe { libc::recv(fd, (&raw mut byte).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

impl Stream {
    /// Runs `write` (a system call on the socket's descriptor) once the socket is writable,
    /// waiting again whenever it says `WouldBlock`: for writes tokio has no method for
    /// (`sendfile`, `sendmsg` with flags).
    pub(crate) fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(RawFd) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let done = match self {
                Self::Tcp(s) => {
                    std::task::ready!(s.poll_write_ready(cx))?;
                    s.try_io(Interest::WRITABLE, || write(s.as_raw_fd()))
                }
                Self::Unix(s) => {
                    std::task::ready!(s.poll_write_ready(cx))?;
                    s.try_io(Interest::WRITABLE, || write(s.as_raw_fd()))
                }
            };
            match done {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(s) => s.is_write_vectored(),
            Self::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_sends_nothing_is_told_apart_without_consuming_anything() {
        let (mut peer, ours) = UnixStream::pair().unwrap();
        let mut ours = Stream::Unix(ours);
        assert!(!ours.sends_within(Duration::from_secs(5)).await, "nothing sent");
        peer.write_all(b"GET").await.unwrap();
        assert!(ours.sends_within(Duration::from_secs(5)).await);
        let mut buf = [0u8; 3];
        ours.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"GET", "the peek consumed nothing");
        drop(peer);
        assert!(ours.sends_within(Duration::from_secs(5)).await, "a close counts too");
    }
}
