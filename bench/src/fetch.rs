//! `fetch`: GET of a 1 MiB page from a local server through the guarded client (allow-listed
//! host, robots.txt cached after the first request, body read under the cap).
use std::time::{Duration, Instant};

use axum::{Router, http::header, routing::get};
use fetch::{AllowList, FetchConfig, Fetcher};

const PAGE_BYTES: usize = 1024 * 1024;
const ROUNDS: usize = 200;

pub fn run(rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    rt.block_on(async {
        let page = format!("<html><body>{}</body></html>", "x".repeat(PAGE_BYTES - 26));
        let app = Router::new().route(
            "/page",
            get(move || {
                let page = page.clone();
                async move { ([(header::CONTENT_TYPE, "text/html")], page) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let f = Fetcher::new(FetchConfig {
            allow: AllowList::parse(&format!("127.0.0.1:{port}"))?,
            per_host_interval: Duration::ZERO,
            max_body_bytes: 2 * PAGE_BYTES,
            ..FetchConfig::default()
        })?;
        let url = format!("http://127.0.0.1:{port}/page");
        for _ in 0..10 {
            f.get(&url).await?;
        }
        let mut times = Vec::with_capacity(ROUNDS);
        let started = Instant::now();
        let mut bytes = 0usize;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            bytes += f.get(&url).await?.body.len();
            times.push(t.elapsed());
        }
        let total = started.elapsed();
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!("\n## fetch: {ROUNDS} GETs of a 1 MiB page from a local server");
        println!(
            "p50 {:.2} ms, p99 {:.2} ms, {:.0} MB/s",
            ms(times[ROUNDS / 2]),
            ms(times[ROUNDS * 99 / 100]),
            bytes as f64 / 1e6 / total.as_secs_f64()
        );
        Ok(())
    })
}
