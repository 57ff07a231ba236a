//! OAuth 2.0 sign-in with Google, Microsoft and GitHub: the authorization-code flow with PKCE
//! (S256) and a single-use server-side `state` bound to the starting browser (an HttpOnly
//! cookie nonce); provider endpoints configurable; accounts linked by verified email (an
//! unverified local account is cleared first); the MFA decision like every sign-in.
//!
//! One module for the whole flow (authorize, callback, the provider exchange, linking): its
//! parts share the provider table and the state rules, so they stay together.
use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use kit::{
    FleetConfig, Json, Origin, Problem, Timestamp, Uow,
    revocation::Reason,
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
    problems,
    revocations::Revoking,
    rules, security,
    sessions::{self, OrgMembership, Session, User},
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
    /// The client's own `state` (16–128 URL-safe characters), round-tripped through the
    /// provider; generated when absent.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub state: Option<ClientState>,
}

/// A `state` chosen by the client: long enough not to be guessed, URL-safe.
#[derive(Debug, Clone)]
pub struct ClientState(String);

impl<'de> Deserialize<'de> for ClientState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let safe = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        if (16..=128).contains(&raw.len()) && raw.chars().all(safe) {
            Ok(ClientState(raw))
        } else {
            Err(serde::de::Error::custom(
                "state must be 16 to 128 letters, digits, '-', '.', '_' or '~'",
            ))
        }
    }
}

/// Where the browser goes next (also the `Location` of the 302), and the `state` the
/// callback must carry back.
#[derive(Debug, Serialize, ToSchema)]
pub struct Authorization {
    pub authorization_url: String,
    pub state: String,
}

/// The cookie binding a pending sign-in to the browser that started it.
const BINDING_COOKIE: &str = "oauth_binding";
const COOKIE_PATH: &str = "/api/v1/auth/oauth";

/// `Set-Cookie` for the binding nonce (or, with `None`, its removal): HttpOnly so scripts never
/// read it; SameSite=Lax so it still travels on the provider's top-level redirect back while
/// cross-site subrequests never carry it; Secure whenever the flow runs over https.
fn binding_cookie(nonce: Option<&str>, secure: bool) -> String {
    let (value, age) = match nonce {
        Some(n) => (n, STATE_TTL.whole_seconds()),
        None => ("", 0),
    };
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{BINDING_COOKIE}={value}; Max-Age={age}; Path={COOKIE_PATH}; HttpOnly; SameSite=Lax{secure}"
    )
}

/// The binding nonce the browser presents, if any.
fn presented_binding(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, value)| *name == BINDING_COOKIE && !value.is_empty() && value.len() <= 128)
        .map(|(_, value)| value.to_string())
}

/// Start sign-in with a provider: redirects (302) to it with `state` and a PKCE challenge, and
/// binds the sign-in to this browser with an HttpOnly cookie the callback requires. The body
/// repeats the destination and the `state` for clients that do not follow redirects.
#[utoipa::path(get, path = "/api/v1/auth/oauth/{provider}/authorize", tag = "auth",
    params(("provider" = String, Path, description = "google, microsoft or github"), AuthorizeQuery),
    responses((status = 302, description = "to the provider", body = Authorization),
              (status = 404, body = kit::ProblemBody), (status = 422, body = kit::ProblemBody)))]
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
    let state = q.state.map_or_else(|| security::random_token(32), |c| c.0);
    let nonce = security::random_token(32);
    let challenge = remember(&s, p, &q.redirect_uri, &state, &nonce).await?;
    let location = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&code_challenge={}&code_challenge_method=S256",
        p.auth_url,
        encode(&p.client_id),
        encode(&q.redirect_uri),
        encode(p.scope),
        encode(&state),
        challenge
    );
    let secure = q.redirect_uri.starts_with("https://");
    let headers = [
        (header::LOCATION, location.clone()),
        (header::SET_COOKIE, binding_cookie(Some(&nonce), secure)),
        (header::CACHE_CONTROL, "no-store".to_string()),
    ];
    let body = Authorization {
        authorization_url: location,
        state,
    };
    Ok((StatusCode::FOUND, headers, Json(body)).into_response())
}

/// Stores a new pending sign-in with `p` under `state`, bound to the browser holding `nonce`
/// (single use, 10 minutes; expired ones are dropped); its PKCE challenge.
async fn remember(
    s: &AppState,
    p: &Provider,
    redirect: &str,
    state: &str,
    nonce: &str,
) -> Result<String, Problem> {
    let verifier = security::random_token(48);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut uow = s.db.system().await?;
    sqlx::query("DELETE FROM oauth_states WHERE expires_at <= now()")
        .execute(&mut *uow)
        .await?;
    let stored = sqlx::query(
        "INSERT INTO oauth_states (state_hash, provider, code_verifier, redirect_uri, expires_at, binding_hash) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (state_hash) DO NOTHING",
    )
    .bind(security::digest(state))
    .bind(p.name)
    .bind(&verifier)
    .bind(redirect)
    .bind(Timestamp::now() + STATE_TTL)
    .bind(security::digest(nonce))
    .execute(&mut *uow)
    .await?;
    if stored.rows_affected() == 0 {
        return Err(Problem::invalid(
            "state",
            "is already in use; send a fresh one",
        ));
    }
    uow.commit().await?;
    Ok(challenge)
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
    /// Tokens, or the MFA step the sign-in still owes.
    #[serde(flatten)]
    pub session: Session,
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
/// creating one. Only the browser that started the sign-in (its binding cookie) can finish it;
/// a user with MFA on (or required) gets the MFA step instead of tokens.
#[utoipa::path(get, path = "/api/v1/auth/oauth/{provider}/callback", tag = "auth",
    params(("provider" = String, Path), CallbackQuery),
    responses((status = 200, body = OAuthLogin), (status = 400, body = kit::ProblemBody),
              (status = 409, body = kit::ProblemBody), (status = 502, body = kit::ProblemBody)))]
async fn callback(
    State(s): State<AppState>,
    origin: Origin,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<CallbackQuery>,
    _: Within<limits::OAuth>,
) -> Result<Response, Problem> {
    let p = provider(&s, &name)?.clone();
    if let Some(e) = q.error {
        let refusal: String = e.chars().take(100).collect();
        return Err(problems::OAUTH_REFUSED.with(format!("the provider refused: {refusal}")));
    }
    let (code, state) = match (q.code, q.state) {
        (Some(c), Some(st)) if c.len() <= 2048 && st.len() <= 128 => (c, st),
        _ => return Err(Problem::bad_request("code and state are required")),
    };
    let binding = presented_binding(&headers).unwrap_or_default();
    let pending = spend_state(&s, &p, &state, &binding).await?;
    let id = exchange(&s, &p, &code, &pending.redirect_uri, &pending.code_verifier).await?;
    let email = rules::email("email", &id.email)?;
    let mut uow = s.db.system().await?.from(&origin);
    let (user, first_login) = account_for(&mut uow, &s.revoking, &p, &id, &email).await?;
    sqlx::query(
        "UPDATE oauth_identities SET last_login_at = now() WHERE provider = $1 AND subject = $2",
    )
    .bind(p.name)
    .bind(&id.subject)
    .execute(&mut *uow)
    .await?;
    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1")
        .bind(user.id)
        .execute(&mut *uow)
        .await?;
    let orgs = sessions::memberships(&mut uow, user.id).await?;
    let org = sessions::pick_org(&orgs, None, user.organization_id);
    let session = sessions::sign_in(&mut uow, &s, &user, org).await?;
    let meta = serde_json::json!({"provider": p.name});
    uow.audit(Entry::new("oauth_login").user(user.id).meta(meta))
        .await?;
    uow.commit().await?;
    let answer = OAuthLogin {
        user_id: user.id,
        email: user.email,
        provider: p.name.to_string(),
        first_login,
        organizations: orgs,
        session,
    };
    let secure = pending.redirect_uri.starts_with("https://");
    let spent = [(header::SET_COOKIE, binding_cookie(None, secure))];
    Ok((spent, Json(answer)).into_response())
}

#[derive(sqlx::FromRow)]
struct PendingSignIn {
    code_verifier: String,
    redirect_uri: String,
}

/// Takes the pending sign-in of `state` started by the browser holding `binding`: it is spent
/// (committed) whatever happens next. Another browser's attempt (a leaked or forged callback
/// URL) finds nothing and leaves the real sign-in pending.
async fn spend_state(
    s: &AppState,
    p: &Provider,
    state: &str,
    binding: &str,
) -> Result<PendingSignIn, Problem> {
    let mut uow = s.db.system().await?;
    let pending: PendingSignIn = sqlx::query_as(
        "DELETE FROM oauth_states WHERE state_hash = $1 AND provider = $2 AND binding_hash = $3 \
         AND expires_at > now() RETURNING code_verifier, redirect_uri",
    )
    .bind(security::digest(state))
    .bind(p.name)
    .bind(security::digest(binding))
    .fetch_optional(&mut *uow)
    .await?
    .ok_or_else(|| {
        problems::OAUTH_STATE_INVALID.with(
            "the sign-in expired, was already used or was started in another browser; start again",
        )
    })?;
    uow.commit().await?;
    Ok(pending)
}

/// The account `id` signs in to, checked to be one that may sign in: its linked one, else the
/// account with the same (verified) email — linking it — else a new one; and whether it is
/// new.
async fn account_for(
    uow: &mut Uow,
    revoking: &Revoking,
    p: &Provider,
    id: &Identity,
    email: &str,
) -> Result<(User, bool), Problem> {
    let linked: Option<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM oauth_identities WHERE provider = $1 AND subject = $2",
    )
    .bind(p.name)
    .bind(&id.subject)
    .fetch_optional(&mut **uow)
    .await?;
    let (user, first) = match linked {
        Some(user) => (user, false),
        None => link(uow, revoking, p, id, email).await?,
    };
    let user = sessions::load_user(uow, user)
        .await?
        .filter(|u| u.account_status.may_sign_in())
        .ok_or_else(|| problems::ACCOUNT_INACTIVE.with("the account is not active"))?;
    if user.is_locked() {
        return Err(problems::ACCOUNT_LOCKED.with("the account is temporarily locked"));
    }
    Ok((user, first))
}

/// Links the identity to the account with its (provider-verified) email, or creates one.
async fn link(
    uow: &mut Uow,
    revoking: &Revoking,
    p: &Provider,
    id: &Identity,
    email: &str,
) -> Result<(Uuid, bool), Problem> {
    if !id.email_verified {
        return Err(problems::OAUTH_EMAIL_UNVERIFIED
            .with("the provider has not verified this email; sign up with it instead"));
    }
    let (user, first) = match sessions::load_user_by_email(uow, email).await? {
        Some(u) => {
            if !u.account_status.may_sign_in() {
                // An assisted account is taken over by its claim link only; a suspended or
                // deleted one not at all.
                return Err(problems::ACCOUNT_INACTIVE.with("the account is not active"));
            }
            let took_over = !u.email_verified;
            if took_over {
                take_over_unverified(uow, revoking, &u).await?;
            }
            let meta =
                serde_json::json!({"provider": p.name, "unverified_account_reset": took_over});
            uow.audit(Entry::new("oauth_linked").user(u.id).meta(meta))
                .await?;
            (u.id, false)
        }
        None => (create_account(uow, id, email).await?, true),
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

/// A local account whose address was never verified, now proved by the provider to belong to
/// the person signing in. Whoever created it could not prove the address — it may be someone
/// who registered a victim's address first to wait for them — so everything that person set is
/// cleared before the owner is let in: the password (and a pending one with its code), MFA,
/// sessions and password links. The owner then signs in with the provider (and can set a
/// password through a reset). Clearing rather than refusing: refusing would leave the owner
/// locked out of their own address by whoever registered it first; clearing leaves that person
/// nothing.
async fn take_over_unverified(uow: &mut Uow, revoking: &Revoking, u: &User) -> Result<(), Problem> {
    for statement in [
        "UPDATE users SET password_hash = NULL, mfa_enabled = false, email_verified = true, \
         failed_login_count = 0, locked_until = NULL, updated_at = now() WHERE id = $1",
        "DELETE FROM email_verifications WHERE user_id = $1",
        "DELETE FROM mfa_totp WHERE user_id = $1",
        "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
        "DELETE FROM mfa_challenges WHERE user_id = $1",
        "UPDATE password_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL",
    ] {
        sqlx::query(statement)
            .bind(u.id)
            .execute(&mut **uow)
            .await?;
    }
    revoking
        .end_user(uow, u.id, None, Reason::PasswordChanged)
        .await?;
    uow.audit(Entry::new("unverified_account_reset").user(u.id))
        .await?;
    Ok(())
}

/// A new client account for a provider-verified address.
async fn create_account(uow: &mut Uow, id: &Identity, email: &str) -> Result<Uuid, Problem> {
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
    Ok(user)
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
