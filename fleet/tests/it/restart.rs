//! Development restarts, as `make run` does them: stop the fleet (Ctrl-C, or killed outright),
//! start it again on the same state directory, Kafka namespace and databases. Sessions, TOTP
//! enrolments and the event path survive.
use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use kit::sqlx;
use serde_json::{Value, json};
use testkit::TestDb;

const FLEET: &str = env!("CARGO_BIN_EXE_fleet");

/// One development platform started and restarted by a test: its own databases (the test's),
/// state directory, mailbox, ports, Kafka namespace and Redis prefix.
struct DevRun {
    env: Vec<(String, String)>,
    offset: u16,
    state: PathBuf,
    mailbox: PathBuf,
    http: reqwest::Client,
}

impl DevRun {
    fn new(dbs: &[(&str, &TestDb)]) -> Self {
        let id = testkit::unique("restart");
        let tmp = std::env::temp_dir().join(&id);
        let (state, mailbox) = (tmp.join("var"), tmp.join("mailbox"));
        let offset = free_offset();
        let mut env: Vec<(String, String)> = [
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("FLEET_ENV", "development".into()),
            ("RUST_LOG", "warn".into()),
            ("FLEET_STATE_DIR", state.to_string_lossy().into()),
            ("FLEET_MAILBOX_DIR", mailbox.to_string_lossy().into()),
            ("FLEET_PORT_OFFSET", offset.to_string()),
            ("FLEET_REDIS_URL", testkit::redis_url()),
            ("FLEET_KAFKA_BOOTSTRAP", testkit::kafka().bootstrap),
            // As `make run`: the fleet creates its topics; groups of this test only.
            ("FLEET_KAFKA_CREATE_TOPICS", "true".into()),
            ("FLEET_KAFKA_NAMESPACE", format!("{id}.")),
            ("FLEET_RATE_LIMIT_NAMESPACE", format!("{id}:")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (prefix, db) in dbs {
            env.push((format!("{prefix}_DATABASE_URL"), db.app_url()));
        }
        DevRun {
            env,
            offset,
            state,
            mailbox,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
        }
    }

    /// Starts `fleet serve --target <targets>` (no key or MFA setting: development generates
    /// them) and waits until `ports` (base ports, before the offset) answer ready.
    async fn start(&self, targets: &str, ports: &[u16]) -> Running {
        let child = Command::new(FLEET)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["serve", "--target", targets])
            .stdout(Stdio::null())
            .spawn()
            .expect("fleet serve");
        let mut running = Running(Some(child));
        let deadline = Instant::now() + Duration::from_secs(60);
        for port in ports {
            let url = self.url(*port, "/healthz/ready");
            loop {
                if let Some(Ok(Some(status))) = running.0.as_mut().map(Child::try_wait) {
                    panic!("fleet exited early: {status:?}");
                }
                let ready = self.http.get(&url).send().await;
                if ready.is_ok_and(|r| r.status() == 200) {
                    break;
                }
                assert!(Instant::now() < deadline, "{url} not ready within 60 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        running
    }

    fn url(&self, base_port: u16, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", base_port + self.offset)
    }

    /// A JSON call to org-auth: the status and the body.
    async fn auth(&self, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let url = self.url(8100, path);
        let mut req = match &body {
            Some(b) => self.http.post(&url).json(b),
            None => self.http.get(&url),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("org-auth answers");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn signup(&self, email: &str) -> String {
        let (st, body) = self
            .auth(
                "/api/v1/auth/signup",
                None,
                Some(
                    json!({"email": email, "password": PASSWORD, "full_name": "Rita Restart",
                            "company_name": "Acme Corp"}),
                ),
            )
            .await;
        assert_eq!(st, 201, "signup: {body}");
        s(&body["user_id"])
    }

    /// The six-digit code of the newest verification mail to `to`.
    fn code_for(&self, to: &str) -> String {
        let mails = notify::read_mailbox(&self.mailbox, to);
        let text = &mails.last().expect("a verification email").text;
        let at = text.find("verification code is ").expect("code in mail")
            + "verification code is ".len();
        text[at..at + 6].to_string()
    }
}

impl Drop for DevRun {
    fn drop(&mut self) {
        if let Some(dir) = self.state.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A started fleet; killed when dropped.
struct Running(Option<Child>);

impl Running {
    /// As Ctrl-C: SIGTERM, the fleet drains and leaves its groups.
    fn stop(mut self) {
        if let Some(mut c) = self.0.take() {
            testkit::terminate(&mut c);
        }
    }

    /// SIGKILL: nothing is drained, no group is left.
    fn kill(mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const PASSWORD: &str = "SecurePass123!";

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn email(tag: &str) -> String {
    format!("{tag}.{}@acme.com", &testkit::unique("u")[2..12])
}

/// A port offset whose org-auth and human-agent ports are free now; below the kernel's
/// ephemeral range.
fn free_offset() -> u16 {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or_default();
    for i in 0..200u64 {
        let offset = 10_000 + ((seed + i * 7) % 600) as u16 * 20;
        let free = [8100, 8101, 9100, 9101]
            .iter()
            .all(|p| TcpListener::bind(("127.0.0.1", p + offset)).is_ok());
        if free {
            return offset;
        }
    }
    panic!("no free port offset");
}

fn base32_decode(s: &str) -> Vec<u8> {
    org_auth::base32_decode(s).expect("base32")
}

/// The code of the time step `offset` steps from now.
fn totp(secret: &[u8], offset: i64) -> String {
    org_auth::totp_code(secret, offset)
}

fn private_file(path: &Path) -> Vec<u8> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{} is private", path.display());
    std::fs::read(path).expect("read")
}

/// Development without `FLEET_JWT_SIGNING_KEY_FILE` or `ORG_AUTH_MFA_KEY`: the keys are made
/// once in the state directory, so after a restart the old access token still verifies and a
/// user enrolled in TOTP signs in with password and code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_development_restart_keeps_sessions_and_totp_enrolments() {
    let db = TestDb::new(org_auth::SERVICE.migrations)
        .await
        .expect("database");
    let run = DevRun::new(&[("ORG_AUTH", &db)]);
    let fleet = run.start("org-auth", &[8100]).await;
    let (_, jwks) = run.auth("/.well-known/jwks.json", None, None).await;

    let user = email("mfa");
    run.signup(&user).await;
    let code = run.code_for(&user);
    let (st, v) = run
        .auth(
            "/api/v1/auth/verify-email",
            None,
            Some(json!({"email": user, "verification_code": code})),
        )
        .await;
    assert_eq!(st, 200, "verify: {v}");
    let token = s(&v["access_token"]);
    let (st, e) = run
        .auth(
            "/api/v1/auth/mfa/totp/enroll",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 200, "enrol: {e}");
    let secret = base32_decode(&s(&e["secret"]));
    let (st, c) = run
        .auth(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&token),
            Some(json!({"code": totp(&secret, -1)})),
        )
        .await;
    assert_eq!(st, 200, "confirm: {c}");
    let kept = |name: &str| std::fs::read(run.state.join(name)).ok();
    let (signing_key, mfa_key) = (kept("jwt-signing-key.pem"), kept("mfa-key"));
    fleet.stop();

    let _fleet = run.start("org-auth", &[8100]).await;
    let (st, me) = run.auth("/api/v1/auth/me", Some(&token), None).await;
    assert_eq!(
        st, 200,
        "the access token of the first run still verifies: {me}"
    );
    let (_, jwks_again) = run.auth("/.well-known/jwks.json", None, None).await;
    assert_eq!(jwks_again, jwks, "the same signing key after the restart");

    let (st, step) = run
        .auth(
            "/api/v1/auth/login",
            None,
            Some(json!({"email": user, "password": PASSWORD})),
        )
        .await;
    assert_eq!(st, 200, "login: {step}");
    assert_eq!(step["mfa_required"], true, "{step}");
    let (st, done) = run
        .auth(
            "/api/v1/auth/login/mfa",
            None,
            Some(json!({"mfa_token": s(&step["mfa_token"]), "code": totp(&secret, 0)})),
        )
        .await;
    assert_eq!(
        st, 200,
        "the TOTP secret sealed before the restart still opens: {done}"
    );
    assert!(done["access_token"].is_string(), "{done}");
    // Kept where the README says, private, and not rewritten by the second start.
    for (name, before) in [("jwt-signing-key.pem", signing_key), ("mfa-key", mfa_key)] {
        assert_eq!(Some(private_file(&run.state.join(name))), before, "{name}");
    }
}

/// The event id of the `user_signed_up` event of `user_id` in org-auth's outbox.
async fn signed_up_event(org_auth: &TestDb, user_id: &str) -> kit::sqlx::types::Uuid {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let id: Option<kit::sqlx::types::Uuid> = sqlx::query_scalar(
            "SELECT event_id FROM outbox WHERE event_type = 'user_signed_up' AND payload::text LIKE $1",
        )
        .bind(format!("%{user_id}%"))
        .fetch_optional(&org_auth.owner)
        .await
        .expect("outbox");
        if let Some(id) = id {
            return id;
        }
        assert!(Instant::now() < deadline, "no user_signed_up for {user_id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How long until human-agent's consumer has applied `event`, up to `within`.
async fn applied_within(
    human_agent: &TestDb,
    event: kit::sqlx::types::Uuid,
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM handled_events WHERE consumer = 'human-agent.assisted-accounts' AND event_id = $1",
        )
        .bind(event)
        .fetch_one(&human_agent.owner)
        .await
        .expect("handled_events");
        if n == 1 {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// A fleet with consumers in their groups is killed (SIGKILL: no group is left); another starts
/// with the same Kafka namespace, groups and databases a few seconds later — the moment at which
/// the local broker (Tansu) has been seen to strand the new member without partitions — and an
/// event published after the restart is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_a_fleet_restarted_after_a_hard_kill() {
    let org_auth = TestDb::new(org_auth::SERVICE.migrations)
        .await
        .expect("database");
    let human_agent = TestDb::new(human_agent::SERVICE.migrations)
        .await
        .expect("database");
    let run = DevRun::new(&[("ORG_AUTH", &org_auth), ("HUMAN_AGENT", &human_agent)]);
    let targets = "org-auth,human-agent";

    let fleet = run.start(targets, &[8100, 8101]).await;
    let first = run.signup(&email("before")).await;
    let event = signed_up_event(&org_auth, &first).await;
    let took = applied_within(&human_agent, event, Duration::from_secs(60)).await;
    assert!(took.is_some(), "the first fleet never applied its event");
    fleet.kill();

    tokio::time::sleep(Duration::from_secs(3)).await;
    let _fleet = run.start(targets, &[8100, 8101]).await;
    let second = run.signup(&email("after")).await;
    let event = signed_up_event(&org_auth, &second).await;
    let took = applied_within(&human_agent, event, Duration::from_secs(60)).await;
    assert!(
        took.is_some(),
        "an event published after the restart was not applied within 60 s"
    );
    eprintln!("applied {:?} after the restarted fleet published it", took);
}
