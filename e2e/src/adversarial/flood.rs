//! Forty wrong logins at once, each from its own address (so no per-address limit stops them at
//! the edge): org-auth must answer each with a refusal (never a 500), stay ready throughout,
//! and still let the owner in from the address it signed in from before.
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::ensure;
use reqwest::StatusCode;

use super::{
    Ctx,
    accounts::{self, WRONG},
};
use crate::PASSWORD;

const ATTEMPTS: usize = 40;

/// Polls org-auth's readiness until `stop`: every status seen.
async fn watch_ready(url: String, stop: Arc<AtomicBool>) -> Vec<u16> {
    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let status = match http.get(&url).timeout(Duration::from_secs(5)).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        seen.push(status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen
}

pub(crate) async fn concurrent_wrong_logins(c: &Ctx<'_>) -> anyhow::Result<()> {
    let owner_src = c.source()?;
    let owner = c.at(owner_src)?;
    let victim = accounts::client(&owner, "flooded").await?;
    accounts::signed_in(&owner, &victim.email, PASSWORD).await?;
    let attackers = (0..ATTEMPTS)
        .map(|_| c.at(c.source()?))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let stop = Arc::new(AtomicBool::new(false));
    let ready = format!("{}/healthz/ready", c.reach.org_auth);
    let watcher = tokio::spawn(watch_ready(ready.clone(), stop.clone()));
    let answers = futures::future::join_all(
        attackers
            .iter()
            .map(|a| accounts::login(a, &victim.email, WRONG)),
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let readiness = watcher.await?;

    let mut counted: BTreeMap<u16, usize> = BTreeMap::new();
    for answer in answers {
        *counted.entry(answer?.status.as_u16()).or_default() += 1;
    }
    let summary = counted
        .iter()
        .map(|(st, n)| format!("{st} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    ensure!(
        counted.keys().all(|st| matches!(st, 401 | 429 | 503)),
        "40 concurrent wrong logins answered {summary} (only 401, 429 or 503 may be)"
    );
    c.say("40 wrong logins at once, from 40 addresses", &summary);
    let not_ready = readiness.iter().filter(|st| **st != 200).count();
    ensure!(
        not_ready == 0 && !readiness.is_empty(),
        "org-auth's /healthz/ready answered otherwise than 200 {not_ready} of {} times during the \
         flood",
        readiness.len()
    );
    let after = reqwest::get(&ready).await?.status();
    ensure!(
        after == StatusCode::OK,
        "/healthz/ready after the flood: {after}"
    );
    c.say(
        "org-auth's readiness during and after",
        format!("200 all {} times, and after", readiness.len()),
    );
    accounts::signed_in(&owner, &victim.email, PASSWORD).await?;
    c.say("the owner signs in from its usual address", "200");
    Ok(())
}
