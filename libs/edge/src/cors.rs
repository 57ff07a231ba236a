//! The `cors` plugin: preflights for listed origins answered at the edge (Kong's
//! `preflight_continue: false`), allow and expose headers added to other responses.
use http::{HeaderMap, Method, header};

use crate::config::CorsConf;

pub enum Outcome {
    /// No `Origin`: not a cross-origin request.
    NotCors,
    /// Headers for the response (none when the origin is not listed).
    Headers(Vec<(String, String)>),
    /// A preflight, answered here with these headers.
    Preflight(Vec<(String, String)>),
}

pub fn apply(c: &CorsConf, method: &Method, headers: &HeaderMap) -> Outcome {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Outcome::NotCors;
    };
    let allowed = c.origins.iter().any(|o| o == "*" || o == origin);
    let preflight =
        method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut h = Vec::new();
    let mut add = |k: &str, v: String| h.push((k.to_string(), v));
    if allowed {
        add("Access-Control-Allow-Origin", origin.to_string());
        add("Vary", "Origin".into());
        if c.credentials {
            add("Access-Control-Allow-Credentials", "true".into());
        }
        if preflight {
            add("Access-Control-Allow-Methods", c.methods.join(","));
            if !c.headers.is_empty() {
                add("Access-Control-Allow-Headers", c.headers.join(","));
            }
            if let Some(a) = c.max_age {
                add("Access-Control-Max-Age", a.to_string());
            }
        } else if !c.exposed_headers.is_empty() {
            add("Access-Control-Expose-Headers", c.exposed_headers.join(","));
        }
    }
    if preflight {
        Outcome::Preflight(h)
    } else {
        Outcome::Headers(h)
    }
}
