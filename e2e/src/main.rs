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
    match e2e::all(&p).await {
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
