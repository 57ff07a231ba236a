//! Local fixture servers and fetchers configured for them.
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use bytes::Bytes;
use fetch::{AllowList, FetchConfig, Fetcher};
use futures::StreamExt as _;

/// A running fixture server; counts robots.txt requests.
pub struct Server {
    pub addr: SocketAddr,
    pub robots_hits: Arc<AtomicUsize>,
}

impl Server {
    /// `http://127.0.0.1:port` (or `http://[::1]:port`).
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn robots_hits(&self) -> usize {
        self.robots_hits.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Fixture {
    robots: Option<(StatusCode, &'static str)>,
    robots_hits: Arc<AtomicUsize>,
    redirect_to: Option<String>,
}

/// Starts the fixture on `bind` (`127.0.0.1:0`, `[::1]:0`). `robots` is what `/robots.txt`
/// answers (none: 404); `/away` redirects to `redirect_to`.
pub async fn serve(
    bind: &str,
    robots: Option<(StatusCode, &'static str)>,
    redirect_to: Option<String>,
) -> anyhow::Result<Server> {
    let robots_hits = Arc::new(AtomicUsize::new(0));
    let fx = Fixture {
        robots,
        robots_hits: robots_hits.clone(),
        redirect_to,
    };
    let app = Router::new()
        .route("/robots.txt", get(robots_txt))
        .route("/page", get(page))
        .route("/private/page", get(page))
        .route("/ua", get(user_agent))
        .route("/binary", get(binary))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/big", get(big))
        .route("/big-declared", get(big_declared))
        .route("/drip", get(drip))
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route("/hops/{n}", get(hops))
        .route("/away", get(away))
        .with_state(fx);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Server { addr, robots_hits })
}

/// A fetcher whose allow-list exempts `hosts` and that does not pace (tests that pace say so).
pub fn fetcher(hosts: &str) -> anyhow::Result<Fetcher> {
    fetcher_with(hosts, |_| {})
}

pub fn fetcher_with(hosts: &str, tweak: impl FnOnce(&mut FetchConfig)) -> anyhow::Result<Fetcher> {
    let mut cfg = FetchConfig {
        allow: AllowList::parse(hosts)?,
        per_host_interval: Duration::ZERO,
        ..FetchConfig::default()
    };
    tweak(&mut cfg);
    Ok(Fetcher::new(cfg)?)
}

async fn robots_txt(State(fx): State<Fixture>) -> Response {
    fx.robots_hits.fetch_add(1, Ordering::SeqCst);
    match fx.robots {
        Some((status, body)) => {
            (status, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><body>hello</body></html>",
    )
}

async fn user_agent(headers: HeaderMap) -> impl IntoResponse {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    ([(header::CONTENT_TYPE, "text/plain")], ua)
}

async fn binary() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        vec![0u8; 16],
    )
}

/// 1 GiB in 64 KiB chunks, no Content-Length.
async fn big() -> impl IntoResponse {
    let chunk = Bytes::from(vec![b'a'; 64 * 1024]);
    let stream =
        futures::stream::iter(std::iter::repeat_n(chunk, 16 * 1024).map(Ok::<_, std::io::Error>));
    (
        [(header::CONTENT_TYPE, "text/plain")],
        Body::from_stream(stream),
    )
}

/// Claims 1 GiB in Content-Length, sends one chunk, then stalls: only an early refusal returns
/// quickly.
async fn big_declared() -> Response {
    let stream =
        futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"start")) })
            .chain(futures::stream::pending());
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::CONTENT_LENGTH, (1u64 << 30).to_string())
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

/// One byte every 200 ms, forever.
async fn drip() -> impl IntoResponse {
    let stream = futures::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), ()))
    });
    (
        [(header::CONTENT_TYPE, "text/plain")],
        Body::from_stream(stream),
    )
}

async fn hops(Path(n): Path<u32>) -> Response {
    if n == 0 {
        Redirect::to("/page").into_response()
    } else {
        Redirect::to(&format!("/hops/{}", n - 1)).into_response()
    }
}

async fn away(State(fx): State<Fixture>) -> Response {
    match fx.redirect_to {
        Some(to) => Redirect::temporary(&to).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
