//! `make demo`: the end-to-end journeys against a platform already started by `make run`,
//! each step and its result in plain words.
use std::path::PathBuf;

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let base = arg("--base").unwrap_or_else(|| "http://127.0.0.1:8000".into());
    let mailbox = PathBuf::from(arg("--mailbox").unwrap_or_else(|| "var/mailbox".into()));
    // The attacks that bypass the edge reach org-auth on its own port (moved by the same
    // offset as the gateway's).
    let offset: u16 = std::env::var("FLEET_PORT_OFFSET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let org_auth =
        arg("--org-auth").unwrap_or_else(|| format!("http://127.0.0.1:{}", 8100 + offset));
    // The config step follows config's Watch stream as the demo service does, with the
    // development credential the fleet keeps in its state directory.
    let state_dir = PathBuf::from(arg("--state-dir").unwrap_or_else(|| "var".into()));
    let peer = e2e::config::Peer::local(offset, &state_dir)?;
    let admin_email = arg("--admin-email").context("--admin-email is required")?;
    // The password comes on standard input, never as an argument others can read.
    let mut admin_password = String::new();
    std::io::stdin().read_line(&mut admin_password)?;
    let p = e2e::Platform {
        base: base.clone(),
        mailbox,
        admin_email,
        admin_password: admin_password.trim_end().to_string(),
        narrate: true,
        http: reqwest::Client::new(),
    };
    println!("The workflow platform, through its gateway at {base}");
    let reach = e2e::adversarial::Reach {
        org_auth,
        // `make run` signs in with the real providers only: the OAuth takeover is not run.
        oauth: None,
    };
    let run = async {
        e2e::all(&p).await?;
        e2e::adversarial::all(&p, &reach).await?;
        e2e::config::config(&p, &peer).await
    };
    match run.await {
        Ok(()) => {
            println!("\nEvery journey completed.");
            Ok(())
        }
        Err(e) => {
            println!("\nA step failed: {e:#}");
            if format!("{e:#}").contains("429") {
                println!(
                    "The edge's per-address limits are real (e.g. 20 logins an hour): restart `make run` to start with fresh budgets."
                );
            }
            std::process::exit(1)
        }
    }
}
