//! Forwarding to the upstream service: Kong's `X-Forwarded-*` headers, hop-by-hop headers
//! removed, `connect_timeout` (per client), `read_timeout` until the response head, and
//! `retries` after a failure to connect.
use std::time::Instant;

use axum::body::Body;
use http::{Request, Response, header, request::Parts};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::{RouteRt, set};

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Bodies up to this size are kept to be sent again when connecting upstream fails.
const REPLAYABLE: u64 = 1 << 20;

/// The upstream's response and the time it took (ms), or the edge's answer: status, detail,
/// and the time spent trying.
pub async fn forward(
    route: &RouteRt,
    mut parts: Parts,
    body: Body,
    client_ip: &str,
) -> Result<(Response<Incoming>, f64), (u16, &'static str, Option<f64>)> {
    for h in HOP_BY_HOP {
        parts.headers.remove(h);
    }
    // The value the edge signed (agent-permissions), made the same way.
    let forwarded = crate::agent::forwarded_for(&parts.headers, client_ip);
    if let Some(h) = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
    {
        set(&mut parts.headers, "x-forwarded-host", &h);
    }
    set(&mut parts.headers, "x-forwarded-for", &forwarded);
    set(&mut parts.headers, "x-real-ip", client_ip);
    set(&mut parts.headers, "x-forwarded-proto", "http");
    set(&mut parts.headers, "host", &route.upstream.to_string());
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    parts.uri = format!("http://{}{pq}", route.upstream)
        .parse::<http::Uri>()
        .map_err(|_| (400, "Bad request URI", None))?;
    parts.version = http::Version::HTTP_11;
    // A failure to connect is retried (Kong's `retries`) when the body can be sent again: one of
    // known, small size, read into memory first.
    let small = http_body::Body::size_hint(&body)
        .exact()
        .is_some_and(|n| n <= REPLAYABLE);
    let sent = Instant::now();
    let res = if route.retries > 0 && small {
        let bytes = body
            .collect()
            .await
            .map_err(|_| (400, "the request body could not be read", None))?
            .to_bytes();
        let mut attempt = 0;
        loop {
            let mut req = Request::new(Body::from(bytes.clone()));
            *req.method_mut() = parts.method.clone();
            *req.uri_mut() = parts.uri.clone();
            *req.version_mut() = parts.version;
            *req.headers_mut() = parts.headers.clone();
            let r = tokio::time::timeout(route.read_timeout, route.client.request(req)).await;
            match r {
                Ok(Err(e)) if e.is_connect() && attempt < route.retries => attempt += 1,
                other => break other,
            }
        }
    } else {
        let req = Request::from_parts(parts, body);
        tokio::time::timeout(route.read_timeout, route.client.request(req)).await
    };
    let upstream_ms = sent.elapsed().as_secs_f64() * 1000.0;
    let mut res = match res {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(route = %route.name, error = %e, "upstream failed");
            return Err((
                502,
                "An invalid response was received from the upstream server",
                Some(upstream_ms),
            ));
        }
        Err(_) => {
            return Err((504, "The upstream server is timing out", Some(upstream_ms)));
        }
    };
    let h = res.headers_mut();
    for name in HOP_BY_HOP.iter().filter(|n| **n != "transfer-encoding") {
        h.remove(*name);
    }
    set(h, "via", "1.1 fleet-gateway");
    set(
        h,
        "x-kong-upstream-latency",
        &format!("{}", upstream_ms.round() as u64),
    );
    Ok((res, upstream_ms))
}
