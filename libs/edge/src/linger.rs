//! Lingering close, as nginx does in front of Kong. An answer the edge makes before reading the
//! request's body (413, 401, 429, ...) ends the connection while the client may still be sending
//! that body; closing a socket with unread data makes the kernel reset the connection, and a
//! client that sends its body without waiting for `100 Continue` (Python's urllib, for one) then
//! gets a broken pipe or a reset instead of the answer. So a connection that left a request body
//! unread is, once the answer is written, shut down for writing (the client sees the answer's
//! end) and read and discarded for a bounded time before it is closed.
use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::Body,
    extract::connect_info::Connected,
    serve::{IncomingStream, Listener},
};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    time::Instant,
};

/// nginx's `lingering_time`: the longest a closing connection is read.
const LINGERING_TIME: Duration = Duration::from_secs(30);
/// nginx's `lingering_timeout`: the longest wait for more of it.
const LINGERING_TIMEOUT: Duration = Duration::from_secs(5);

/// Set when a request body on the connection was dropped before its end. Shared by the
/// connection and its requests' bodies, which may be dropped on another task (the proxy's
/// client), hence atomic; it only ever goes from false to true.
#[derive(Clone, Default, Debug)]
struct Unread(Arc<AtomicBool>);

impl Unread {
    fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_marked(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The proxy's listener: TCP connections that linger on close when they must.
pub(crate) struct Lingering(pub(crate) TcpListener);

impl Listener for Lingering {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        let conn = Conn {
            stream: Some(stream),
            unread: Unread::default(),
        };
        (conn, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// One client connection. `stream` is taken only by `drop`, to linger on its own task.
pub(crate) struct Conn {
    stream: Option<TcpStream>,
    unread: Unread,
}

impl Conn {
    fn stream(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        self.stream
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(s) => s.poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(s) => s.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(s) => s.poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(s) => s.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(s) => s.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl Drop for Conn {
    /// However the connection ended (answer written, client gone, server stopping), it lingers
    /// only if a request body was left unread: nothing else can still be arriving.
    fn drop(&mut self) {
        if !self.unread.is_marked() {
            return;
        }
        if let (Some(stream), Ok(rt)) = (self.stream.take(), tokio::runtime::Handle::try_current())
        {
            rt.spawn(linger(stream));
        }
    }
}

/// Reads and discards until the client closes, goes quiet for `LINGERING_TIMEOUT`, or
/// `LINGERING_TIME` has passed; then the socket is closed (dropped).
async fn linger(mut stream: TcpStream) {
    // Usually done already by the server after the answer; the client must see the answer end.
    let _ = stream.shutdown().await;
    let deadline = Instant::now() + LINGERING_TIME;
    let mut discard = vec![0u8; 16 * 1024];
    loop {
        let wait = LINGERING_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
        match tokio::time::timeout(wait, stream.read(&mut discard)).await {
            Ok(Ok(n)) if n > 0 => {}
            // The client's end, an error, silence or the time is up.
            _ => return,
        }
    }
}

/// The client's address and its connection (`ConnectInfo`), from which requests mark the
/// connection when they leave their body unread.
#[derive(Clone, Debug)]
pub(crate) struct Peer {
    pub(crate) addr: SocketAddr,
    unread: Unread,
}

impl Connected<IncomingStream<'_, Lingering>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Lingering>) -> Self {
        Peer {
            addr: *stream.remote_addr(),
            unread: stream.io().unread.clone(),
        }
    }
}

impl Peer {
    /// The request's body, marking the connection if it is dropped before its end.
    pub(crate) fn track(&self, body: Body) -> Body {
        // A request without a body (most GETs) has nothing to leave unread.
        if body.is_end_stream() {
            return body;
        }
        Body::new(Tracked {
            inner: body,
            ended: false,
            unread: self.unread.clone(),
        })
    }
}

struct Tracked {
    inner: Body,
    ended: bool,
    unread: Unread,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.ended {
            self.unread.mark();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected pair: (the client's end, the gateway's end).
    async fn pair() -> io::Result<(TcpStream, TcpStream)> {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(l.local_addr()?).await?;
        let (server, _) = l.accept().await?;
        Ok((client, server))
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_closes_is_let_go_at_once() -> io::Result<()> {
        let (mut client, server) = pair().await?;
        client.write_all(b"the rest of a body").await?;
        client.shutdown().await?;
        let started = Instant::now();
        linger(server).await;
        assert!(started.elapsed() < LINGERING_TIMEOUT);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_let_go_after_the_lingering_timeout() -> io::Result<()> {
        let (mut client, server) = pair().await?;
        client
            .write_all(b"part of a body, and then nothing")
            .await?;
        let started = Instant::now();
        linger(server).await;
        assert!(started.elapsed() >= LINGERING_TIMEOUT);
        assert!(started.elapsed() < LINGERING_TIME);
        let mut end = Vec::new();
        client.read_to_end(&mut end).await?;
        assert!(end.is_empty(), "the gateway wrote nothing more");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_stops_is_let_go_after_the_lingering_time() -> io::Result<()> {
        let (mut client, server) = pair().await?;
        let sender = tokio::spawn(async move {
            // A chunk a second, forever (until the gateway closes).
            while client.write_all(&[b'x'; 1024]).await.is_ok() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let started = Instant::now();
        linger(server).await;
        assert!(started.elapsed() >= LINGERING_TIME);
        assert!(started.elapsed() < LINGERING_TIME + LINGERING_TIMEOUT);
        sender.abort();
        Ok(())
    }
}
