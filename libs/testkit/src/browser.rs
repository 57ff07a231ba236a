//! Browser tests: Debian's Chromium, headless, driven through chromedriver (a child process on
//! a free port, killed on drop) by fantoccini over plain HTTP on loopback — no TLS stack is
//! linked, so no OpenSSL. Each [`Browser`] has a fresh profile directory and the flags that keep
//! Chromium offline; screenshots go under the test's output folder
//! (`<target>/test-output/<test>/`, or `FLEET_TEST_OUTPUT_DIR`).
//!
//! Settings (optional): `FLEET_TEST_CHROMIUM` (`/usr/bin/chromium`), `FLEET_TEST_CHROMEDRIVER`
//! (`chromedriver`).
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// How long any wait in this module lasts at most.
pub const WAIT: Duration = Duration::from_secs(10);

/// The Chromium flags that work without a network and without a display.
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
];

/// A viewport a screenshot is taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
}

pub const PHONE: Viewport = Viewport {
    name: "phone",
    width: 390,
    height: 844,
};
pub const DESKTOP: Viewport = Viewport {
    name: "desktop",
    width: 1440,
    height: 900,
};

/// A headless Chromium session for one test.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    profile: PathBuf,
    out_dir: PathBuf,
}

/// `<target>/test-output/<test>/` (created): the target directory is found from the test
/// binary's path (`<target>/<profile>/deps/<binary>`), unless `FLEET_TEST_OUTPUT_DIR` names
/// the parent folder.
pub fn output_dir(test: &str) -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("FLEET_TEST_OUTPUT_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()?
            .ancestors()
            .nth(3)
            .context("the test binary is not under <target>/<profile>/deps")?
            .join("test-output"),
    };
    let dir = base.join(test);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until something accepts connections on `port`, or the driver exits.
fn wait_listening(driver: &mut Child, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some(status) = driver.try_wait()? {
            bail!("chromedriver exited at start: {status}");
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("chromedriver did not listen on {port} within {WAIT:?}")
}

impl Browser {
    /// Starts chromedriver and a Chromium session; screenshots of this session are saved in
    /// [`output_dir`]`(test)`.
    pub async fn start(test: &str) -> anyhow::Result<Self> {
        let out_dir = output_dir(test)?;
        let profile = std::env::temp_dir().join(crate::unique("chromium-profile"));
        std::fs::create_dir_all(&profile)?;
        let port = free_port()?;
        let driver_bin =
            std::env::var("FLEET_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {driver_bin} (chromium-driver: scripts/deps.sh)"))?;
        let mut browser = Browser {
            client: None,
            driver,
            profile,
            out_dir,
        };
        wait_listening(&mut browser.driver, port)?;
        browser.client = Some(browser.connect(port).await?);
        Ok(browser)
    }

    async fn connect(&self, port: u16) -> anyhow::Result<Client> {
        let binary =
            std::env::var("FLEET_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", self.profile.display()));
        args.push(format!(
            "--window-size={},{}",
            DESKTOP.width, DESKTOP.height
        ));
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": binary, "args": args },
        });
        let serde_json::Value::Object(caps) = caps else {
            bail!("capabilities are an object");
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let url = format!("http://127.0.0.1:{port}");
        tokio::time::timeout(Duration::from_secs(30), builder.connect(&url))
            .await
            .context("Chromium did not start within 30 s")?
            .context("starting a Chromium session")
    }

    /// The WebDriver client, for what the helpers here do not cover.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the client lives until close")
    }

    /// Where this session's screenshots go.
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    pub async fn open(&self, url: &str) -> anyhow::Result<()> {
        self.client()
            .goto(url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// Waits (at most [`WAIT`]) for an element matching `css`.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        self.client()
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no element `{css}` within {WAIT:?}"))
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.wait_for(css)
            .await?
            .click()
            .await
            .with_context(|| format!("clicking `{css}`"))
    }

    /// Types `text` into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let el = self.wait_for(css).await?;
        el.send_keys(text)
            .await
            .with_context(|| format!("typing into `{css}`"))
    }

    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self.wait_for(css).await?.text().await?)
    }

    /// Waits (at most [`WAIT`]) until the element matching `css` shows `text`; answers what it
    /// shows then.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(el) = self.client().find(Locator::Css(css)).await {
                last = el.text().await.unwrap_or_default();
                if last.contains(text) {
                    return Ok(last);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("`{css}` did not show {text:?} within {WAIT:?} (it showed {last:?})")
    }

    /// Sets the viewport (the page's inner size) to `vp`, correcting for window decorations.
    pub async fn resize(&self, vp: Viewport) -> anyhow::Result<()> {
        let c = self.client();
        c.set_window_size(vp.width, vp.height).await?;
        let inner = c
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await?;
        let get = |i: usize| inner.get(i).and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        let (iw, ih) = (get(0), get(1));
        if (iw, ih) != (vp.width, vp.height) && iw > 0 && ih > 0 {
            // The window is larger than its viewport by the decorations: add them once.
            let fix = |want: u32, got: u32| (2 * i64::from(want) - i64::from(got)).max(100) as u32;
            c.set_window_size(fix(vp.width, iw), fix(vp.height, ih))
                .await?;
        }
        Ok(())
    }

    /// A PNG of the viewport at `vp`, saved as `<out_dir>/<name>-<viewport>.png`.
    pub async fn screenshot(&self, name: &str, vp: Viewport) -> anyhow::Result<PathBuf> {
        self.resize(vp).await?;
        let png = self
            .client()
            .screenshot()
            .await
            .context("taking a screenshot")?;
        let path = self.out_dir.join(format!("{name}-{}.png", vp.name));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Screenshots at [`PHONE`] and [`DESKTOP`] sizes.
    pub async fn screenshots(&self, name: &str) -> anyhow::Result<[PathBuf; 2]> {
        Ok([
            self.screenshot(name, PHONE).await?,
            self.screenshot(name, DESKTOP).await?,
        ])
    }

    /// Ends the session (Chromium quits); chromedriver is stopped on drop.
    pub async fn close(mut self) -> anyhow::Result<()> {
        if let Some(c) = self.client.take() {
            c.close().await?;
        }
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver is our child: kill it by its id. A session not closed (a failed test)
        // leaves its Chromium behind, so those processes are found by this session's own
        // profile directory, which no other process names, and killed by id too.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if self.client.is_some() {
            kill_using(&self.profile);
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Kills the processes whose command line names `profile` (this session's Chromium).
fn kill_using(profile: &Path) {
    let needle = format!("--user-data-dir={}", profile.display());
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args = String::from_utf8_lossy(&cmdline);
        if args.split('\0').any(|a| a == needle) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Width and height of a PNG file, from its IHDR chunk.
pub fn png_size(path: &Path) -> anyhow::Result<(u32, u32)> {
    let b = std::fs::read(path)?;
    anyhow::ensure!(
        b.len() >= 24 && b.starts_with(b"\x89PNG\r\n\x1a\n") && &b[12..16] == b"IHDR",
        "{} is not a PNG",
        path.display()
    );
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Ok((be(16), be(20)))
}
