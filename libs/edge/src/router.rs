//! Kong 3.x route matching (the `traditional_compatible` flavour) for routes made of methods
//! and paths. A route is split per path; among the paths that match, priority is, most
//! significant first: the number of fields the route matches on, regex over prefix,
//! `regex_priority` (regex paths), prefix length (prefix paths). Two routes tied at the top
//! are a configuration error Kong would resolve by creation order; the gateway refuses them
//! at start-up where it can see them and answers the first one otherwise.
use regex::Regex;

use crate::config::ConfigError;

struct Candidate {
    route: usize,
    methods: Vec<String>,
    kind: Kind,
    key: (u8, u8, i64, usize),
}

enum Kind {
    Regex(Regex),
    Prefix(String),
}

pub struct Router {
    candidates: Vec<Candidate>,
}

/// What the router needs of a route.
pub struct RouteSpec<'a> {
    pub methods: &'a [String],
    pub paths: &'a [String],
    pub regex_priority: i64,
}

impl Router {
    pub fn new(routes: &[RouteSpec<'_>], names: &[String]) -> Result<Router, ConfigError> {
        let mut candidates = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            let weight = 1 + u8::from(!r.methods.is_empty());
            for p in r.paths {
                let (kind, key) = match p.strip_prefix('~') {
                    Some(re) => {
                        let re = Regex::new(&format!("^(?:{})", re.trim_start_matches('^')))
                            .map_err(|e| {
                                ConfigError(format!("route {}: path {p}: {e}", names[i]))
                            })?;
                        (Kind::Regex(re), (weight, 1, r.regex_priority, 0))
                    }
                    None => {
                        if !p.starts_with('/') {
                            return Err(ConfigError(format!(
                                "route {}: path {p} must start with / or ~",
                                names[i]
                            )));
                        }
                        (Kind::Prefix(p.clone()), (weight, 0, 0, p.len()))
                    }
                };
                candidates.push(Candidate {
                    route: i,
                    methods: r.methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
                    kind,
                    key,
                });
            }
        }
        Ok(Router { candidates })
    }

    /// The index of the route answering `method path`, if any.
    pub fn find(&self, method: &str, path: &str) -> Option<usize> {
        let mut best: Option<&Candidate> = None;
        for c in &self.candidates {
            if !c.methods.is_empty() && !c.methods.iter().any(|m| m == method) {
                continue;
            }
            let hit = match &c.kind {
                Kind::Regex(re) => re.is_match(path),
                Kind::Prefix(p) => path.starts_with(p.as_str()),
            };
            if hit && best.is_none_or(|b| c.key > b.key) {
                best = Some(c);
            }
        }
        best.map(|c| c.route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(methods: &'a [String], paths: &'a [String]) -> RouteSpec<'a> {
        RouteSpec {
            methods,
            paths,
            regex_priority: 0,
        }
    }

    #[test]
    fn regex_beats_prefix_and_longer_prefix_beats_shorter() {
        let (post, none) = (vec!["POST".to_string()], Vec::new());
        let (signup, auth, api) = (
            vec!["~/api/v1/auth/signup$".to_string()],
            vec!["/api/v1/auth".to_string()],
            vec!["/api/v1".to_string()],
        );
        let names = ["signup", "auth", "api"].map(String::from).to_vec();
        let r = Router::new(
            &[spec(&post, &signup), spec(&none, &auth), spec(&none, &api)],
            &names,
        )
        .expect("router");
        assert_eq!(r.find("POST", "/api/v1/auth/signup"), Some(0));
        assert_eq!(
            r.find("GET", "/api/v1/auth/signup"),
            Some(1),
            "method filters"
        );
        assert_eq!(
            r.find("POST", "/api/v1/auth/signup/x"),
            Some(1),
            "anchored at $"
        );
        assert_eq!(r.find("GET", "/api/v1/x"), Some(2));
        assert_eq!(r.find("GET", "/other"), None);
    }
}
