//! A tenant re-brands its demo theme through the gateway, and a service following config's
//! `Watch` stream (as the demo service does) sees the new colour without a restart.
use std::{
    net::{IpAddr, Ipv4Addr},
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use config_client::{ConfigClient, Copy, Feed, Layer, Target};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{PASSWORD, Platform, s, short};

const THEME: &str = "/api/v1/configs/demo.themes/default";
/// The shipped default theme's primary colour (`services/config/defaults/demo.themes`).
const SHIPPED: &str = "#1F4E79";
/// How long a committed override may take to reach a watching service.
const WITHIN: Duration = Duration::from_secs(5);

/// How a peer service reaches config: its gRPC address and the credential it presents.
pub struct Peer {
    /// Config's gRPC address, e.g. `http://127.0.0.1:9110`.
    pub grpc: String,
    /// The internal credential of the service this client stands for.
    pub credential: String,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credential.
        f.debug_struct("Peer")
            .field("grpc", &self.grpc)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// The demo service's view of a development fleet whose ports are moved by `offset`: config's
    /// gRPC port (9110 plus the offset) and the demo service's development credential, which
    /// the fleet keeps in its state directory (`<state_dir>/internal-credential-demo`).
    pub fn local(offset: u16, state_dir: &Path) -> anyhow::Result<Peer> {
        let path = state_dir.join("internal-credential-demo");
        let credential = std::fs::read_to_string(&path)
            .with_context(|| {
                format!(
                    "reading the demo service's credential at {} (is the fleet running from this state directory?)",
                    path.display()
                )
            })?
            .trim()
            .to_string();
        ensure!(!credential.is_empty(), "{} is empty", path.display());
        Ok(Peer {
            grpc: format!("http://127.0.0.1:{}", 9110 + u32::from(offset)),
            credential,
        })
    }
}

/// A company of the journey: its organisation and its admin's token.
struct Company {
    org: String,
    admin: String,
}

/// Signs a company up from `p`, verifies it and creates its organisation (whose token is the
/// admin's).
async fn company(p: &Platform, name: &str, domain: &str) -> anyhow::Result<Company> {
    let email = format!("brand.{}@{domain}", short());
    let r = p
        .post("/api/v1/auth/signup", None, json!({"email": email, "password": PASSWORD, "full_name": "Bree Brand", "company_name": name, "role_in_company": "CMO"}))
        .await?;
    r.expect(StatusCode::CREATED, "signup")?;
    let code = p.mailed(&email, "verification code is ", &['.']).await?;
    let r = p
        .post(
            "/api/v1/auth/verify-email",
            None,
            json!({"email": email, "verification_code": code}),
        )
        .await?;
    r.expect(StatusCode::OK, "verify")?;
    let token = s(&r.body["access_token"]);
    let r = p
        .post(
            "/api/v1/organizations",
            Some(&token),
            json!({"organization_name": name, "industry": "retail"}),
        )
        .await?;
    r.expect(StatusCode::CREATED, "organisation")?;
    Ok(Company {
        org: s(&r.body["organization_id"]),
        admin: s(&r.body["access_token"]),
    })
}

/// The same platform, calling from a loopback address of its own (127.a.b.c picked at
/// random), so this journey's signups spend no other journey's per-address budgets.
fn own_address(p: &Platform) -> anyhow::Result<Platform> {
    let seed = uuid::Uuid::new_v4().into_bytes();
    let source = IpAddr::V4(Ipv4Addr::new(
        127,
        1 + seed[0] % 254,
        seed[1],
        1 + seed[2] % 254,
    ));
    let http = reqwest::Client::builder()
        .local_address(source)
        .timeout(Duration::from_secs(60))
        .build()?;
    Ok(Platform {
        base: p.base.clone(),
        mailbox: p.mailbox.clone(),
        admin_email: p.admin_email.clone(),
        admin_password: p.admin_password.clone(),
        narrate: p.narrate,
        http,
    })
}

/// The primary colour of `org`'s default theme in a service's copy, and the layer it came from.
fn primary(copy: &Copy, org: &str) -> Option<(Value, Layer)> {
    let target = Target {
        organization_id: Some(org.to_string()),
        ..Target::default()
    };
    let merged = copy.effective("demo.themes", "default", &target)?;
    let layer = merged.sources.get("/colors/primary")?.layer;
    Some((merged.value["colors"]["primary"].clone(), layer))
}

/// Waits until a notified copy of `changes` gives `org` the primary colour `want` from the
/// tenant layer (or, for `None`, any copy at all); how long it took.
async fn notified(
    changes: &mut watch::Receiver<Arc<Copy>>,
    org: &str,
    want: Option<&str>,
    within: Duration,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .with_context(|| {
                format!(
                    "no change notified within {within:?} (holding {:?})",
                    primary(&changes.borrow(), org)
                )
            })?
            .context("the config client was dropped")?;
        let seen = primary(&changes.borrow_and_update(), org);
        match (want, seen) {
            (None, Some(_)) => return Ok(start.elapsed()),
            (Some(w), Some((v, Layer::Tenant))) if v == json!(w) => return Ok(start.elapsed()),
            _ => {}
        }
    }
}

/// A tenant's admin reads its demo theme, overrides a colour (a bad one is refused naming the
/// path), sees `/effective` name the tenant layer; another tenant sees none of it; a service's
/// config client following `Watch` sees the new colour without a restart.
pub async fn config(p: &Platform, peer: &Peer) -> anyhow::Result<()> {
    p.heading("6. A tenant re-brands its demo, and a service sees it live");
    let me = own_address(p)?;
    let brand = company(&me, "Tailspin Toys", "tailspin-toys.com").await?;
    let other = company(&me, "Litware Labs", "litware-labs.com").await?;
    p.say(
        "two companies sign up and create their organisations",
        "201 Created",
    );
    let (primary_was, layer) = effective(&me, &brand.admin).await?;
    ensure!(
        primary_was == SHIPPED && layer == "default",
        "a new organisation has the shipped theme: {primary_was} from {layer}"
    );
    p.say(
        "its admin reads demo.themes/default/effective",
        format!("200 OK, primary {SHIPPED} from the default layer"),
    );

    let client = ConfigClient::empty();
    let mut changes = client.changes();
    let stop = CancellationToken::new();
    let feed = Feed {
        url: peer.grpc.clone(),
        token: Some(peer.credential.clone()),
        namespaces: vec!["demo.themes".into()],
    };
    let following = tokio::spawn(feed.run(client.clone(), stop.clone()));
    let outcome = live(p, &me, &brand, &other, &client, &mut changes).await;
    stop.cancel();
    let _ = following.await;
    outcome
}

/// The override, its refusal and isolation, and the watching client's view of them.
async fn live(
    p: &Platform,
    me: &Platform,
    brand: &Company,
    other: &Company,
    client: &ConfigClient,
    changes: &mut watch::Receiver<Arc<Copy>>,
) -> anyhow::Result<()> {
    notified(changes, &brand.org, None, Duration::from_secs(20))
        .await
        .context("the watching client's first snapshot")?;
    let held = primary(&client.current(), &brand.org);
    ensure!(
        held == Some((json!(SHIPPED), Layer::Default)),
        "the watching client starts from the shipped theme: {held:?}"
    );
    p.say(
        "a service's config client follows config's Watch stream",
        format!("snapshot: primary {SHIPPED}"),
    );

    let colour = format!("#{}", &uuid::Uuid::new_v4().simple().to_string()[..6]).to_uppercase();
    let r = me
        .call(
            Method::PUT,
            THEME,
            Some(&brand.admin),
            Some(json!({"value": {"colors": {"primary": colour}}, "message": "our brand"})),
            &[],
        )
        .await?;
    r.expect(StatusCode::OK, "tenant override")?;
    ensure!(
        r.body["layer"] == "tenant",
        "the override is the tenant layer: {}",
        r.body
    );
    p.say(
        "the admin overrides the primary colour",
        format!("200 OK, {colour} in its tenant layer"),
    );
    let took = notified(changes, &brand.org, Some(&colour), WITHIN).await?;
    p.say(
        "the watching client is notified of the new colour",
        format!("after {} ms, no restart", took.as_millis()),
    );
    let (now, layer) = effective(me, &brand.admin).await?;
    ensure!(
        now == colour && layer == "tenant",
        "/effective after the override: {now} from {layer}"
    );
    p.say("/effective names the colour's source", "the tenant layer");

    refused(p, me, brand, &colour).await?;
    isolated(p, me, brand, other, client).await
}

/// `/effective` as `token`: the primary colour and the layer it came from.
async fn effective(p: &Platform, token: &str) -> anyhow::Result<(String, String)> {
    let r = p.get(&format!("{THEME}/effective"), token).await?;
    r.expect(StatusCode::OK, "effective")?;
    Ok((
        s(&r.body["value"]["colors"]["primary"]),
        s(&r.body["sources"]["/colors/primary"]["layer"]),
    ))
}

/// A colour that is not `#RRGGBB` is refused 422 naming its path, and changes nothing.
async fn refused(p: &Platform, me: &Platform, brand: &Company, colour: &str) -> anyhow::Result<()> {
    let r = me
        .call(
            Method::PUT,
            THEME,
            Some(&brand.admin),
            Some(json!({"value": {"colors": {"primary": "brand green"}}})),
            &[],
        )
        .await?;
    r.expect(StatusCode::UNPROCESSABLE_ENTITY, "a bad colour")?;
    let named = r.body["errors"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["field"] == "/colors/primary"));
    ensure!(named, "the refusal names /colors/primary: {}", r.body);
    let (now, _) = effective(me, &brand.admin).await?;
    ensure!(now == colour, "a refused write changed the theme: {now}");
    p.say(
        "a colour that is not #RRGGBB",
        "422 naming /colors/primary, nothing stored",
    );
    Ok(())
}

/// The other company keeps the shipped theme, in its own view and in the service's copy, and
/// gets nothing of the first company's layer by naming it.
async fn isolated(
    p: &Platform,
    me: &Platform,
    brand: &Company,
    other: &Company,
    client: &ConfigClient,
) -> anyhow::Result<()> {
    let (theirs, layer) = effective(me, &other.admin).await?;
    ensure!(
        theirs == SHIPPED && layer == "default",
        "another organisation sees {theirs} from {layer}"
    );
    let held = primary(&client.current(), &other.org);
    ensure!(
        held == Some((json!(SHIPPED), Layer::Default)),
        "the service's copy for another organisation: {held:?}"
    );
    for path in [
        format!("{THEME}?organization_id={}", brand.org),
        format!("{THEME}/versions?organization_id={}", brand.org),
        format!("{THEME}/effective?organization_id={}", brand.org),
    ] {
        let r = me.get(&path, &other.admin).await?;
        ensure!(
            r.status == StatusCode::NOT_FOUND,
            "another company's admin asks {path}: {} {}",
            r.status,
            r.body
        );
    }
    p.say(
        "the other company reads its theme, then asks for the first's",
        format!("{SHIPPED} from the default layer; 404 for the other's"),
    );
    Ok(())
}
