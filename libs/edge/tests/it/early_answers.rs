//! Answers the edge makes before reading the body: the client still reads them.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use edge::Gateway;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// A gateway in front of nothing: the size limit answers before any upstream is asked.
async fn gateway() -> anyhow::Result<SocketAddr> {
    let tokens = testkit::Tokens::new()?;
    let gw = Arc::new(Gateway::new(crate::options(crate::nowhere(), &tokens)?)?);
    let proxy = TcpListener::bind("127.0.0.1:0").await?;
    let addr = proxy.local_addr()?;
    tokio::spawn(gw.serve(proxy, None, kit::events::CancellationToken::new()));
    Ok(addr)
}

#[derive(Clone, Copy, Debug)]
enum Framing {
    ContentLength,
    Chunked,
}

/// What a client that does not wait for `100 Continue` does (Python's urllib, for one): the
/// head, the whole body in 64 KiB pieces, then it reads the answer to its end.
async fn post_without_waiting(
    addr: SocketAddr,
    framing: Framing,
    body: &[u8],
) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    let length = match framing {
        Framing::ContentLength => format!("Content-Length: {}", body.len()),
        Framing::Chunked => "Transfer-Encoding: chunked".to_string(),
    };
    let head = format!(
        "POST /api/v1/auth/signup HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n{length}\r\n\r\n"
    );
    s.write_all(head.as_bytes())
        .await
        .context("writing the head")?;
    for piece in body.chunks(64 * 1024) {
        match framing {
            Framing::ContentLength => s.write_all(piece).await,
            Framing::Chunked => {
                let framed = [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat();
                s.write_all(&framed).await
            }
        }
        .context("writing the body")?;
    }
    if let Framing::Chunked = framing {
        s.write_all(b"0\r\n\r\n").await.context("ending the body")?;
    }
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .await
        .context("reading the answer")?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn a_client_that_sends_an_oversized_body_without_waiting_reads_the_413() -> anyhow::Result<()>
{
    let addr = gateway().await?;
    // Far more than the socket buffers of both ends hold: most of it arrives after the answer.
    let body = vec![b'x'; 16 * 1024 * 1024];
    for framing in [Framing::ContentLength, Framing::Chunked] {
        for attempt in 0..20 {
            let answer = tokio::time::timeout(
                Duration::from_secs(60),
                post_without_waiting(addr, framing, &body),
            )
            .await
            .with_context(|| format!("{framing:?}, attempt {attempt}: no answer"))?
            .with_context(|| format!("{framing:?}, attempt {attempt}"))?;
            assert!(
                answer.starts_with("HTTP/1.1 413 "),
                "{framing:?}, attempt {attempt}: {answer}"
            );
            assert!(answer.contains("Request size limit exceeded"), "{answer}");
        }
    }
    Ok(())
}
