//! The `fleet` binary as an operator uses it: help, targets, migrations, and the whole fleet in
//! one process becoming ready, and development restarts (`restart`).
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

mod restart;

const FLEET: &str = env!("CARGO_BIN_EXE_fleet");

fn dev_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FLEET_ENV", "development")
        .env("RUST_LOG", "warn")
        .env("FLEET_KAFKA_CREATE_TOPICS", "false")
        // Consumer groups of their own: a fleet stopped here must never leave members in the
        // groups `make run` uses on the same broker.
        .env(
            "FLEET_KAFKA_NAMESPACE",
            format!("fleettest{}_", std::process::id()),
        )
        // Development keys and mail of these runs, not a var/ beside the test.
        .env(
            "FLEET_STATE_DIR",
            std::env::temp_dir().join(format!("fleettest{}-state", std::process::id())),
        )
        .env(
            "FLEET_MAILBOX_DIR",
            std::env::temp_dir().join(format!("fleettest{}-mailbox", std::process::id())),
        )
}

#[test]
fn help_lists_every_target() {
    let out = Command::new(FLEET)
        .arg("--help")
        .output()
        .expect("run fleet");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "org-auth",
        "human-agent",
        "research",
        "demo",
        "nda",
        "pricing",
        "proposal",
        "prd",
        "orchestration",
        "voice",
        "config",
        "monitoring",
        "analytics",
        "support",
        "crm",
        "manufacturer-catalog",
        "tenant-provisioning",
        "feedback",
        "all",
    ] {
        assert!(text.contains(name), "--help lists {name}");
    }
}

#[test]
fn targets_json_matches_the_architecture_table() {
    let out = Command::new(FLEET)
        .args(["targets", "--json"])
        .output()
        .expect("run fleet");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 18);
    let org_auth = &list[0];
    assert_eq!(org_auth["name"], "org-auth");
    assert_eq!(org_auth["http_port"], 8100);
    assert_eq!(org_auth["grpc_port"], 9100);
    assert_eq!(org_auth["database"], "org_auth");
    let ports: std::collections::HashSet<u64> = list
        .iter()
        .map(|s| s["http_port"].as_u64().expect("port"))
        .collect();
    assert_eq!(ports.len(), 18, "every service has its own port");
}

#[test]
fn an_unknown_target_is_refused_with_the_valid_ones() {
    let out = dev_env(&mut Command::new(FLEET))
        .args(["serve", "--target", "org-auth,nope"])
        .output()
        .expect("run fleet");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown target \"nope\"") && err.contains("human-agent"),
        "{err}"
    );
}

#[test]
fn production_refuses_to_start_without_its_settings() {
    let out = Command::new(FLEET)
        .env_clear()
        .args(["serve", "--target", "org-auth"])
        .output()
        .expect("run fleet");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("FLEET_REDIS_URL") && err.contains("production"),
        "{err}"
    );

    // Everything but the signing key: org-auth must not invent one in production.
    let out = Command::new(FLEET)
        .env_clear()
        .env("FLEET_REDIS_URL", "redis://127.0.0.1:6379")
        .env("FLEET_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
        .env("FLEET_JWT_ISSUER", "https://auth.example")
        .env("FLEET_JWT_AUDIENCE", "workflow-platform")
        .env("FLEET_POSTGRES_URL", "postgres://fleet_app@127.0.0.1:5432")
        .args(["serve", "--target", "org-auth"])
        .output()
        .expect("run fleet");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FLEET_JWT_SIGNING_KEY_FILE"), "{err}");
}

#[test]
fn all_eighteen_services_come_up_ready_in_one_process() {
    // The development databases (created by scripts/deps.sh) migrated twice: idempotent.
    for _ in 0..2 {
        let st = dev_env(&mut Command::new(FLEET))
            .args(["migrate", "--target", "all"])
            .status()
            .expect("migrate");
        assert!(st.success());
    }
    // Ports shifted so a running `make run` does not collide; kept below the kernel's
    // ephemeral range (32768+), where outgoing connections could hold them.
    let offset: u16 = 10_000 + (std::process::id() % 600) as u16 * 20;
    let started = Instant::now();
    let mut child = dev_env(&mut Command::new(FLEET))
        .env("FLEET_PORT_OFFSET", offset.to_string())
        .args(["serve", "--target", "all"])
        .stdout(Stdio::null())
        .spawn()
        .expect("serve");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let mut pending: Vec<u16> = (8100..=8117).map(|p| p + offset).collect();
    while !pending.is_empty() && started.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("fleet exited early: {status:?}");
        }
        pending.retain(|port| {
            client
                .get(format!("http://127.0.0.1:{port}/healthz/ready"))
                .send()
                .map(|r| r.status() != 200)
                .unwrap_or(true)
        });
        std::thread::sleep(Duration::from_millis(100));
    }
    let ready_after = started.elapsed();

    // The first platform admin, created by the operator, signs in.
    let admin = format!("ops.{}@acme.com", std::process::id());
    let mut cmd = dev_env(&mut Command::new(FLEET))
        .args([
            "admin",
            "create-platform-admin",
            "--email",
            &admin,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("admin");
    {
        use std::io::Write;
        let mut stdin = cmd.stdin.take().expect("stdin");
        stdin.write_all(b"Operator-Pass-2026!\n").expect("write");
    }
    let out = cmd.wait_with_output().expect("admin output");
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let login = client
        .post(format!(
            "http://127.0.0.1:{}/api/v1/auth/login",
            8100 + offset
        ))
        .json(&serde_json::json!({"email": admin, "password": "Operator-Pass-2026!"}))
        .send();
    // Graceful shutdown on SIGTERM.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert!(
        pending.is_empty(),
        "not ready after {ready_after:?}: ports {pending:?}"
    );
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(
        out.status.success() && printed.contains("agent_id"),
        "{printed}"
    );
    let login = login.expect("login");
    assert_eq!(login.status(), 200, "the new platform admin signs in");
}

/// Every service's OpenAPI document, as `fleet openapi` prints them.
fn openapi_documents() -> serde_json::Value {
    let out = dev_env(&mut Command::new(FLEET))
        .args(["openapi"])
        .output()
        .expect("fleet openapi");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    docs
}

/// No documented schema asks for two types at once (an `allOf` of a string and an object: what
/// a doc comment on an inline field makes), which no value satisfies and no client generator
/// reads.
#[test]
fn no_documented_schema_contradicts_itself() {
    let docs = openapi_documents();
    fn walk(v: &serde_json::Value, at: &str, found: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(o) => {
                if let Some(all) = o.get("allOf").and_then(|a| a.as_array()) {
                    let mut types: Vec<&str> =
                        all.iter().filter_map(|s| s["type"].as_str()).collect();
                    types.dedup();
                    if types.len() > 1 {
                        found.push(format!("{at}: allOf of {types:?}"));
                    }
                }
                for (k, x) in o {
                    walk(x, &format!("{at}/{k}"), found);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{at}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&docs, "", &mut found);
    assert!(
        found.is_empty(),
        "contradictory schemas:\n{}",
        found.join("\n")
    );
}

/// The edge and the services agree: every Kong route of a built service is served by it, and
/// every public path a built service documents has a Kong route to it (internal ones a route
/// that refuses them).
#[test]
fn kong_routes_and_openapi_documents_agree() {
    let docs = openapi_documents();
    let kong_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/kong/kong.yaml"
    ))
    .expect("kong.yaml");
    let kong: serde_json::Value = serde_yaml_ng::from_str(&kong_text).expect("yaml");

    struct Route {
        service: String,
        name: String,
        matcher: regex::Regex,
        methods: Vec<String>,
        refuses: bool,
        public: bool,
    }
    let mut routes = Vec::new();
    for svc in kong["services"].as_array().expect("services") {
        let service = svc["name"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("svc-")
            .to_string();
        for r in svc["routes"].as_array().cloned().unwrap_or_default() {
            let refuses = r["plugins"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "request-termination"));
            let public = !r["plugins"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "jwt"));
            let methods: Vec<String> = r["methods"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            for p in r["paths"].as_array().cloned().unwrap_or_default() {
                let p = p.as_str().unwrap_or_default();
                let pattern = match p.strip_prefix('~') {
                    Some(re) => format!("^{}", re.trim_start_matches('^')),
                    None => format!("^{}", regex::escape(p)),
                };
                routes.push(Route {
                    service: service.clone(),
                    name: r["name"].as_str().unwrap_or_default().to_string(),
                    matcher: regex::Regex::new(&pattern).expect("route regex"),
                    methods: methods.clone(),
                    refuses,
                    public,
                });
            }
        }
    }
    let concrete = |path: &str| {
        regex::Regex::new(r"\{[^}]+\}")
            .expect("re")
            .replace_all(path, |c: &regex::Captures| {
                if &c[0] == "{provider}" {
                    "google".to_string()
                } else {
                    "0190a0b1-2c3d-7e4f-8a9b-0c1d2e3f4a5b".to_string()
                }
            })
            .to_string()
    };
    let mut problems = Vec::new();
    for (service, d) in docs.as_object().expect("object") {
        if d["status"] == "planned" {
            continue;
        }
        let paths = d["openapi"]["paths"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        // (1) every documented path has a route of this service (internal ones: a refusing route)
        for (path, ops) in &paths {
            for (method, op) in ops.as_object().cloned().unwrap_or_default() {
                let internal = op["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == "internal"));
                let m = method.to_uppercase();
                let url = concrete(path);
                let matched: Vec<&Route> = routes
                    .iter()
                    .filter(|r| {
                        r.matcher.is_match(&url) && (r.methods.is_empty() || r.methods.contains(&m))
                    })
                    .collect();
                if internal {
                    if !matched.iter().any(|r| r.refuses) {
                        problems.push(format!(
                            "{service}: internal {m} {path} is not refused at the edge"
                        ));
                    }
                } else if !matched.iter().any(|r| &r.service == service && !r.refuses) {
                    problems.push(format!("{service}: {m} {path} has no Kong route"));
                } else if op.get("security").is_none()
                    && !matched
                        .iter()
                        .any(|r| &r.service == service && !r.refuses && r.public)
                {
                    // Documented without a bearer requirement: the edge must not demand one.
                    problems.push(format!(
                        "{service}: public {m} {path} only has authenticated routes"
                    ));
                }
            }
        }
        // (2) every route of this service reaches something it serves
        for r in routes
            .iter()
            .filter(|r| &r.service == service && !r.refuses)
        {
            let served = paths.iter().any(|(path, ops)| {
                r.matcher.is_match(&concrete(path))
                    && ops.as_object().is_some_and(|o| {
                        r.methods.is_empty()
                            || o.keys().any(|k| r.methods.contains(&k.to_uppercase()))
                    })
            });
            if !served {
                problems.push(format!(
                    "{service}: Kong route {} reaches nothing the service serves",
                    r.name
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
