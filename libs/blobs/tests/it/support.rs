//! Backends for the tests: a fresh directory, or a moto S3 server started for the test on a free
//! port (stopped when dropped) with a fresh bucket.
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use blobs::{Backend, Blobs, BlobsConfig, Tenant};

/// A backend and what keeps it alive.
pub struct Fixture {
    pub blobs: Blobs,
    pub s3: bool,
    _dir: Option<TempDir>,
    _moto: Option<Moto>,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// moto's S3 server, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn key32() -> Vec<u8> {
    [
        uuid::Uuid::new_v4().into_bytes(),
        uuid::Uuid::new_v4().into_bytes(),
    ]
    .concat()
}

pub fn tenant() -> Tenant {
    Tenant(uuid::Uuid::new_v4())
}

fn config(backend: Backend, s3: Vec<(String, String)>, sealing: bool) -> BlobsConfig {
    BlobsConfig {
        backend,
        s3,
        seal_key: sealing.then(key32),
        link_key: Some(key32()),
    }
}

pub fn filesystem(sealing: bool) -> anyhow::Result<Fixture> {
    let dir = std::env::temp_dir().join(format!("fleet-blobs-{}", uuid::Uuid::new_v4().simple()));
    let blobs = Blobs::open(&config(Backend::File(dir.clone()), vec![], sealing))?;
    Ok(Fixture {
        blobs,
        s3: false,
        _dir: Some(TempDir(dir)),
        _moto: None,
    })
}

pub async fn s3(sealing: bool) -> anyhow::Result<Fixture> {
    let moto = start_moto().await?;
    let bucket = format!("fleet-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{}/{bucket}", moto.endpoint))
        .send()
        .await?;
    anyhow::ensure!(
        created.status().is_success(),
        "bucket: {}",
        created.status()
    );
    let settings = [
        ("AWS_ENDPOINT", moto.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "moto-test-key"),
        ("AWS_SECRET_ACCESS_KEY", "moto-test-secret"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
    let backend = Backend::S3 {
        bucket,
        prefix: "fleet/test".into(),
    };
    let blobs = Blobs::open(&config(backend, settings, sealing))?;
    Ok(Fixture {
        blobs,
        s3: true,
        _dir: None,
        _moto: Some(moto),
    })
}

fn moto_binary() -> anyhow::Result<PathBuf> {
    let home = std::env::var("HOME")?;
    let bin = PathBuf::from(home).join(".cache/fleet-tools/venv/bin/moto_server");
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: run scripts/deps.sh (it installs moto[server] into the tools venv)",
        bin.display()
    );
    Ok(bin)
}

async fn start_moto() -> anyhow::Result<Moto> {
    let bin = moto_binary()?;
    // A free port: bind, read it, release it; moto binds it a moment later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let http = reqwest::Client::new();
    loop {
        if http
            .get(format!("{}/moto-api/", moto.endpoint))
            .send()
            .await
            .is_ok()
        {
            return Ok(moto);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "moto_server did not start in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
