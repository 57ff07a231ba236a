//! Starts the fleet and the gateway as processes (`fleet serve --target all`, `fleet gateway`)
//! on their own ports, Kafka namespace and mailbox, and runs every journey through the gateway.
use std::{
    io::Write as _,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        testkit::terminate(&mut self.0);
    }
}

/// The `fleet` binary built beside this test (target/<profile>/fleet).
fn fleet_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("fleet");
    assert!(
        bin.exists(),
        "{} is missing: build it (cargo build -p fleet)",
        bin.display()
    );
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_journey_through_the_gateway() -> anyhow::Result<()> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    // Ports of this run: the usual ones moved by an offset, clear of `make run` and other runs.
    // Highest port used: 9117 + 21 800, below Linux's ephemeral range (32 768 and up).
    let offset = 14_000 + (std::process::id() % 40) as u16 * 200;
    let mailbox = std::env::temp_dir().join(format!("fleet-e2e-{id}"));
    std::fs::create_dir_all(&mailbox)?;
    let token = format!("e2e-internal-{id}-{id}");
    // Google, for the OAuth attacks: a local stand-in org-auth is pointed at.
    let google = e2e::adversarial::provider::Provider::start().await;
    let oauth_env = google.env();
    let env = |c: &mut Command| {
        c.envs(oauth_env.iter().map(|(k, v)| (k, v)));
        c.env("FLEET_ENV", "development")
            .env("FLEET_PORT_OFFSET", offset.to_string())
            .env("FLEET_KAFKA_NAMESPACE", format!("e2e{}_", &id[..12]))
            .env("FLEET_RATE_LIMIT_NAMESPACE", format!("e2e{}:", &id[..12]))
            .env("FLEET_MAILBOX_DIR", &mailbox)
            // Generated development keys stay with this run, not in the checkout.
            .env("FLEET_STATE_DIR", mailbox.join("state"))
            .env("FLEET_INTERNAL_TOKEN", &token)
            .env("RUST_LOG", "warn")
            .env_remove("FLEET_TARGET");
    };
    let fleet = fleet_bin();
    let mut migrate = Command::new(&fleet);
    env(&mut migrate);
    let status = migrate
        .args(["migrate", "--target", "all"])
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "fleet migrate failed");

    let mut serve = Command::new(&fleet);
    env(&mut serve);
    let _serve = Kill(
        serve
            .args(["serve", "--target", "all"])
            .stdout(Stdio::null())
            .spawn()?,
    );
    let mut gw = Command::new(&fleet);
    env(&mut gw);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let _gw = Kill(
        gw.current_dir(root)
            .args(["gateway"])
            .stdout(Stdio::null())
            .spawn()?,
    );

    let base = format!("http://127.0.0.1:{}", 8000 + offset);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = http
            .get(format!("{base}/.well-known/jwks.json"))
            .send()
            .await;
        let ready = http
            .get(format!("http://127.0.0.1:{}/healthz/ready", 8101 + offset))
            .send()
            .await;
        if up.is_ok_and(|r| r.status().is_success()) && ready.is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the fleet or the gateway did not come up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let admin_email = format!("admin.{}@workflow.test", &id[..8]);
    let admin_password = format!("Admin-{}-Pass", &id[..12]);
    let mut admin = Command::new(&fleet);
    env(&mut admin);
    let mut child = admin
        .args([
            "admin",
            "create-platform-admin",
            "--email",
            &admin_email,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{admin_password}\n").as_bytes())?;
    anyhow::ensure!(child.wait()?.success(), "create-platform-admin failed");

    let p = e2e::Platform {
        base,
        mailbox: mailbox.clone(),
        admin_email,
        admin_password,
        narrate: true,
        http,
    };
    let reach = e2e::adversarial::Reach {
        org_auth: format!("http://127.0.0.1:{}", 8100 + offset),
        oauth: Some(google),
    };
    let peer = e2e::config::Peer::local(offset, &mailbox.join("state"))?;
    let result = async {
        e2e::all(&p).await?;
        e2e::adversarial::all(&p, &reach).await?;
        e2e::config::config(&p, &peer).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&mailbox);
    result
}
