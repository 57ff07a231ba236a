//! The `fleet` binary as an operator uses it: help, targets, migrations, and the whole fleet in
//! one process becoming ready.
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const FLEET: &str = env!("CARGO_BIN_EXE_fleet");

fn dev_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FLEET_ENV", "development")
        .env("RUST_LOG", "warn")
        .env("FLEET_KAFKA_CREATE_TOPICS", "false")
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
