//! OAuth 2.0 sign-in with Google, Microsoft and GitHub: the authorization-code flow with PKCE
//! (S256) and a single-use server-side `state`; provider endpoints configurable; accounts
//! linked by verified email.
//!
//! One module for the whole flow (authorize, callback, the provider exchange, linking): its
//! parts share the provider table and the state rules, so they stay together.
use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use kit::{
    FleetConfig, Json, Origin, Problem, Timestamp, Uow,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::Duration;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    AppState,
    audit::Entry,
    limits::{self, Within},
    problems, rules, security,
    sessions::{self, OrgMembership, Tokens},
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize))
        .routes(routes!(callback))
}

const STATE_TTL: Duration = Duration::minutes(10);

/// One configured provider.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: &'static str,
    pub client_id: String,
    pub client_secret: String,
    pub auth_url: String,
    pub token_url: String,
    pub userinfo_url: String,
    /// GitHub only: where verified addresses are listed.
    pub emails_url: Option<String>,
    pub scope: &'static str,
}

/// Providers with credentials in the configuration (`OAUTH_<NAME>_CLIENT_ID`, `…_SECRET`, and
/// optionally `…_AUTH_URL`, `…_TOKEN_URL`, `…_USERINFO_URL`, `…_EMAILS_URL`).
pub fn providers(config: &FleetConfig) -> HashMap<&'static str, Provider> {
    // name, authorize, token, userinfo, verified-emails list, scope
    type Defaults<'a> = (&'a str, &'a str, &'a str, &'a str, Option<&'a str>, &'a str);
    let defaults: [Defaults; 3] = [
        (
            "google",
            "https://accounts.google.com/o/oauth2/v2/auth",
            "https://oauth2.googleapis.com/token",
            "https://openidconnect.googleapis.com/v1/userinfo",
            None,
            "openid email profile",
        ),
        (
            "microsoft",
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
            "https://login.microsoftonline.com/common/oauth2/v2.0/token",
            "https://graph.microsoft.com/oidc/userinfo",
            None,
            "openid email profile",
        ),
        (
            "github",
            "https://github.com/login/oauth/authorize",
            "https://github.com/login/oauth/access_token",
            "https://api.github.com/user",
            Some("https://api.github.com/user/emails"),
            "read:user user:email",
        ),
    ];
    let mut out = HashMap::new();
    for (name, auth, token, info, emails, scope) in defaults {
        let key = |suffix: &str| format!("OAUTH_{}_{suffix}", name.to_ascii_uppercase());
        let (Some(id), Some(secret)) = (
            config.get(&key("CLIENT_ID")),
            config.get(&key("CLIENT_SECRET")),
        ) else {
            continue;
        };
        let get = |suffix: &str, d: &str| config.get(&key(suffix)).unwrap_or(d).to_string();
        out.insert(
            name,
            Provider {
                name,
                client_id: id.to_string(),
                client_secret: secret.to_string(),
                auth_url: get("AUTH_URL", auth),
                token_url: get("TOKEN_URL", token),
                userinfo_url: get("USERINFO_URL", info),
                emails_url: emails.map(|e| get("EMAILS_URL", e)),
                scope,
            },
        );
    }
    out
}

fn provider<'a>(s: &'a AppState, name: &str) -> Result<&'a Provider, Problem> {
    s.oauth
        .providers
        .get(name)
        .ok_or_else(|| Problem::not_found(format!("OAuth provider {name:?}")))
}

fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeQuery {
    /// Where the provider sends the browser back (must be allow-listed).
    pub redirect_uri: String,
}

/// Start sign-in with a provider: redirects (302) to it with `state` and a PKCE challenge.
#[utoipa::path(get, path = "/api/v1/auth/oauth/{provider}/authorize", tag = "auth",
    params(("provider" = String, Path, description = "google, microsoft or github"), AuthorizeQuery),
    responses((status = 302, description = "to the provider"), (status = 404, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
async fn authorize(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<AuthorizeQuery>,
    _: Within<limits::OAuth>,
) -> Result<Response, Problem> {
    let p = provider(&s, &name)?;
    if !s.oauth.redirects.iter().any(|r| r == &q.redirect_uri) {
        return Err(Problem::invalid(
            "redirect_uri",
            "is not an allowed redirect URI",
        ));
    }
    let (state, challenge) = remember(&s, p, &q.redirect_uri).await?;
    let location = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&code_challenge={}&code_challenge_method=S256",
        p.auth_url,
        encode(&p.client_id),
        encode(&q.redirect_uri),
        encode(p.scope),
        encode(&state),
        challenge
    );
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

/// Stores a new pending sign-in with `p` (single use, 10 minutes; expired ones are dropped);
/// its `state` and PKCE challenge.
async fn remember(s: &AppState, p: &Provider, redirect: &str) -> Result<(String, String), Problem> {
    let state = security::random_token(32);
    let verifier = security::random_token(48);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut uow = s.db.system().await?;
    sqlx::query("DELETE FROM oauth_states WHERE expires_at <= now()")
        .execute(&mut *uow)
        .await?;
    sqlx::query(
        "INSERT INTO oauth_states (state_hash, provider, code_verifier, redirect_uri, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(security::digest(&state))
    .bind(p.name)
    .bind(&verifier)
    .bind(redirect)
    .bind(Timestamp::now() + STATE_TTL)
    .execute(&mut *uow)
    .await?;
    uow.commit().await?;
    Ok((state, challenge))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the provider when the user declined.
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthLogin {
    pub user_id: Uuid,
    pub email: String,
    pub provider: String,
    pub first_login: bool,
    pub organizations: Vec<OrgMembership>,
    #[serde(flatten)]
    pub tokens: Tokens,
}

/// Who the provider says the user is.
struct Identity {
    subject: String,
    email: String,
    email_verified: bool,
    name: String,
}

/// A provider's failure: logged with its cause, answered generically.
fn upstream(p: &Provider, what: &str, e: &dyn std::fmt::Display) -> Problem {
    tracing::warn!(provider = p.name, error = %e, "{what}");
    problems::UPSTREAM.with(format!("the sign-in provider did not complete the {what}"))
}

/// The code (with the PKCE verifier) for an access token, then who the provider says the user
/// is.
async fn exchange(
    s: &AppState,
    p: &Provider,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> Result<Identity, Problem> {
    let access = access_token(s, p, code, redirect, verifier).await?;
    let info = fetch(s, p, &p.userinfo_url, &access, "profile lookup").await?;
    let mut id = Identity::from_profile(&info);
    if let Some(emails_url) = &p.emails_url {
        // GitHub: the profile email may be empty or unverified; the list says which is.
        let emails = fetch(s, p, emails_url, &access, "email lookup").await?;
        if !emails.is_array() {
            return Err(upstream(p, "email lookup", &"not a list"));
        }
        id.take_verified_primary(&emails);
    }
    if id.subject.is_empty() || id.email.is_empty() {
        return Err(upstream(p, "profile lookup", &"no subject or email"));
    }
    Ok(id)
}

async fn access_token(
    s: &AppState,
    p: &Provider,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> Result<String, Problem> {
    let token: serde_json::Value = s
        .oauth
        .http
        .post(&p.token_url)
        .header(header::ACCEPT, "application/json")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", p.client_id.as_str()),
            ("client_secret", p.client_secret.as_str()),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| upstream(p, "token exchange", &e))?
        .json()
        .await
        .map_err(|e| upstream(p, "token exchange", &e))?;
    token["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| upstream(p, "token exchange", &"no access_token"))
}

/// A JSON resource of the provider, read with the user's access token.
async fn fetch(
    s: &AppState,
    p: &Provider,
    url: &str,
    access: &str,
    what: &str,
) -> Result<serde_json::Value, Problem> {
    s.oauth
        .http
        .get(url)
        .bearer_auth(access)
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, "workflow-platform")
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| upstream(p, what, &e))?
        .json()
        .await
        .map_err(|e| upstream(p, what, &e))
}

/// A profile field as text (GitHub's ids are numbers).
fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

impl Identity {
    /// From an OpenID Connect `userinfo` answer (`sub`) or GitHub's `/user` (`id`, `login`).
    fn from_profile(info: &serde_json::Value) -> Self {
        Identity {
            subject: text(&info["sub"])
                .chars()
                .chain(text(&info["id"]).chars())
                .collect(),
            email: text(&info["email"]),
            email_verified: info["email_verified"].as_bool().unwrap_or(false),
            name: [text(&info["name"]), text(&info["login"])]
                .into_iter()
                .find(|n| !n.is_empty())
                .unwrap_or_default(),
        }
    }

    /// GitHub's email list: the primary verified address, when there is one, is the identity's.
    fn take_verified_primary(&mut self, emails: &serde_json::Value) {
        let primary = emails.as_array().and_then(|list| {
            list.iter().find(|e| {
                e["primary"].as_bool() == Some(true) && e["verified"].as_bool() == Some(true)
            })
        });
        if let Some(e) = primary {
            self.email = text(&e["email"]);
            self.email_verified = true;
        }
    }
}

/// Finish sign-in: exchanges the code (with the PKCE verifier), then signs the user in — by a
/// linked identity, else by linking to the account with the same verified email, else by
/// creating one.
#[utoipa::path(get, path = "/api/v1/auth/oauth/{provider}/callback", tag = "auth",
    params(("provider" = String, Path), CallbackQuery),
    responses((status = 200, body = OAuthLogin), (status = 400, body = kit::ProblemBody),
              (status = 409, body = kit::ProblemBody), (status = 502, body = kit::ProblemBody)))]
async fn callback(
    State(s): State<AppState>,
    origin: Origin,
    Path(name): Path<String>,
    Query(q): Query<CallbackQuery>,
    _: Within<limits::OAuth>,
) -> Result<Json<OAuthLogin>, Problem> {
    let p = provider(&s, &name)?.clone();
    if let Some(e) = q.error {
        let refusal: String = e.chars().take(100).collect();
        return Err(problems::OAUTH_REFUSED.with(format!("the provider refused: {refusal}")));
    }
    let (code, state) = match (q.code, q.state) {
        (Some(c), Some(st)) if c.len() <= 2048 && st.len() <= 128 => (c, st),
        _ => return Err(Problem::bad_request("code and state are required")),
    };
    let pending = spend_state(&s, &p, &state).await?;
    let id = exchange(&s, &p, &code, &pending.redirect_uri, &pending.code_verifier).await?;
    let email = rules::email("email", &id.email)?;
    let mut uow = s.db.system().await?.from(&origin);
    let (user_id, first_login) = account_for(&mut uow, &p, &id, &email).await?;
    sqlx::query(
        "UPDATE oauth_identities SET last_login_at = now() WHERE provider = $1 AND subject = $2",
    )
    .bind(p.name)
    .bind(&id.subject)
    .execute(&mut *uow)
    .await?;
    let user = sessions::load_user(&mut uow, user_id)
        .await?
        .filter(|u| u.account_status.may_sign_in())
        .ok_or_else(|| problems::ACCOUNT_INACTIVE.with("the account is not active"))?;
    if user.is_locked() {
        return Err(problems::ACCOUNT_LOCKED.with("the account is temporarily locked"));
    }
    sqlx::query("UPDATE users SET email_verified = true, last_login_at = now() WHERE id = $1")
        .bind(user.id)
        .execute(&mut *uow)
        .await?;
    let orgs = sessions::memberships(&mut uow, user.id).await?;
    let org = sessions::pick_org(&orgs, None, user.organization_id);
    let tokens = sessions::issue(&mut uow, &s, &user, org, None).await?;
    let meta = serde_json::json!({"provider": p.name});
    uow.audit(Entry::new("oauth_login").user(user.id).meta(meta))
        .await?;
    uow.commit().await?;
    Ok(Json(OAuthLogin {
        user_id: user.id,
        email: user.email,
        provider: p.name.to_string(),
        first_login,
        organizations: orgs,
        tokens,
    }))
}

#[derive(sqlx::FromRow)]
struct PendingSignIn {
    code_verifier: String,
    redirect_uri: String,
}

/// Takes the pending sign-in of `state`: it is spent (committed) whatever happens next.
async fn spend_state(s: &AppState, p: &Provider, state: &str) -> Result<PendingSignIn, Problem> {
    let mut uow = s.db.system().await?;
    let pending: PendingSignIn = sqlx::query_as(
        "DELETE FROM oauth_states WHERE state_hash = $1 AND provider = $2 AND expires_at > now() RETURNING code_verifier, redirect_uri",
    )
    .bind(security::digest(state))
    .bind(p.name)
    .fetch_optional(&mut *uow)
    .await?
    .ok_or_else(|| {
        problems::OAUTH_STATE_INVALID.with("the sign-in expired or was already used; start again")
    })?;
    uow.commit().await?;
    Ok(pending)
}

/// The account `id` signs in to: its linked one, else the account with the same (verified)
/// email — linking it — else a new one; and whether it is new.
async fn account_for(
    uow: &mut Uow,
    p: &Provider,
    id: &Identity,
    email: &str,
) -> Result<(Uuid, bool), Problem> {
    let linked: Option<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM oauth_identities WHERE provider = $1 AND subject = $2",
    )
    .bind(p.name)
    .bind(&id.subject)
    .fetch_optional(&mut **uow)
    .await?;
    if let Some(user) = linked {
        return Ok((user, false));
    }
    if !id.email_verified {
        return Err(problems::OAUTH_EMAIL_UNVERIFIED
            .with("the provider has not verified this email; sign up with it instead"));
    }
    let (user, first) = match sessions::load_user_by_email(uow, email).await? {
        Some(u) => {
            let meta = serde_json::json!({"provider": p.name});
            uow.audit(Entry::new("oauth_linked").user(u.id).meta(meta))
                .await?;
            (u.id, false)
        }
        None => {
            let user = Uuid::now_v7();
            let name = kit::input::check_text(&id.name, 0, 200).unwrap_or_default();
            sqlx::query(
                "INSERT INTO users (id, email, full_name, user_type, role, email_verified) VALUES ($1, $2, $3, 'client', 'member', true)",
            )
            .bind(user)
            .bind(email)
            .bind(if name.is_empty() { email } else { name.as_str() })
            .execute(&mut **uow)
            .await?;
            (user, true)
        }
    };
    sqlx::query(
        "INSERT INTO oauth_identities (provider, subject, user_id, email) VALUES ($1, $2, $3, $4)",
    )
    .bind(p.name)
    .bind(&id.subject)
    .bind(user)
    .bind(email)
    .execute(&mut **uow)
    .await?;
    Ok((user, first))
}

/// OAuth settings of the service.
pub struct OAuth {
    pub providers: HashMap<&'static str, Provider>,
    /// Allowed `redirect_uri` values (`OAUTH_REDIRECT_URIS`, comma-separated).
    pub redirects: Vec<String>,
    pub http: reqwest::Client,
}

impl OAuth {
    pub fn new(config: &FleetConfig, app_url: &str) -> anyhow::Result<Self> {
        let redirects = config
            .get("OAUTH_REDIRECT_URIS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| vec![format!("{app_url}/auth/callback")]);
        Ok(OAuth {
            providers: providers(config),
            redirects,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }
}
