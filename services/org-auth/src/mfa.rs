//! TOTP multi-factor authentication (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits, one step
//! of clock drift either way), single-use recovery codes, the second step of login, and the
//! one MFA decision every path that issues tokens takes ([`decide`]).
//!
//! Longer than most modules: enrolment, the code checks and the second step share the sealed
//! secret and the replay guard, so they stay together.
use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, Nonce, RandomizedNonceKey},
    hmac,
};
use axum::{extract::State, http::StatusCode};
use base64::{Engine, engine::general_purpose::STANDARD};
use kit::{
    Json, Origin, Problem, Timestamp,
    auth::Principal,
    sqlx::PgConnection,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    AppState,
    audit::Entry,
    problems, security,
    sessions::{self, User},
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enroll))
        .routes(routes!(confirm))
        .routes(routes!(disable))
        .routes(routes!(regenerate))
}

const STEP: u64 = 30;
const RECOVERY_CODES: usize = 10;
pub const CHALLENGE_TTL: Duration = Duration::minutes(5);
/// Setting an authenticator up (scanning, typing the first code) takes longer than a code.
const ENROLMENT_TTL: Duration = Duration::minutes(10);
const CHALLENGE_ATTEMPTS: i32 = 5;

/// Seals TOTP secrets at rest (AES-256-GCM, random nonce, the user id as associated data so a
/// sealed secret cannot be moved to another account).
pub struct SecretBox(RandomizedNonceKey);

impl SecretBox {
    pub fn new(key: &[u8]) -> Result<Self, Problem> {
        if key.len() != 32 {
            return Err(Problem::internal(
                "ORG_AUTH_MFA_KEY must be 32 bytes (base64)",
            ));
        }
        RandomizedNonceKey::new(&AES_256_GCM, key)
            .map(SecretBox)
            .map_err(|_| Problem::internal("MFA key rejected"))
    }

    fn seal(&self, user: Uuid, plain: &[u8]) -> Result<String, Problem> {
        self.seal_for(b"", user, plain)
    }

    fn open(&self, user: Uuid, sealed: &str) -> Result<Vec<u8>, Problem> {
        self.open_for(b"", user, sealed)
    }

    /// Seals `plain` for `user` and a `purpose` (both bound as associated data, so a sealed
    /// value opens neither for another account nor as another kind of secret).
    pub(crate) fn seal_for(
        &self,
        purpose: &[u8],
        user: Uuid,
        plain: &[u8],
    ) -> Result<String, Problem> {
        let mut buf = plain.to_vec();
        let aad = [purpose, user.as_bytes().as_slice()].concat();
        let nonce = self
            .0
            .seal_in_place_append_tag(Aad::from(aad.as_slice()), &mut buf)
            .map_err(|_| Problem::internal("sealing failed"))?;
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&buf);
        Ok(STANDARD.encode(out))
    }

    /// Opens what [`SecretBox::seal_for`] sealed for the same `purpose` and `user`.
    pub(crate) fn open_for(
        &self,
        purpose: &[u8],
        user: Uuid,
        sealed: &str,
    ) -> Result<Vec<u8>, Problem> {
        let raw = STANDARD
            .decode(sealed)
            .map_err(|_| Problem::internal("sealed secret is corrupt"))?;
        if raw.len() < 12 + 16 {
            return Err(Problem::internal("sealed secret is corrupt"));
        }
        let (n, ct) = raw.split_at(12);
        let nonce =
            Nonce::try_assume_unique_for_key(n).map_err(|_| Problem::internal("bad nonce"))?;
        let mut buf = ct.to_vec();
        let aad = [purpose, user.as_bytes().as_slice()].concat();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(aad.as_slice()), &mut buf)
            .map_err(|_| Problem::internal("sealed secret does not open with this key"))?;
        Ok(plain.to_vec())
    }
}

/// RFC 4648 base32 without padding (what authenticator apps read).
pub fn base32(bytes: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut n, mut out) = (0u64, 0u32, String::new());
    for b in bytes {
        bits = (bits << 8) | u64::from(*b);
        n += 8;
        while n >= 5 {
            n -= 5;
            out.push(A[((bits >> n) & 31) as usize] as char);
        }
    }
    if n > 0 {
        out.push(A[((bits << (5 - n)) & 31) as usize] as char);
    }
    out
}

/// Decodes RFC 4648 base32 (upper case, no padding) — the form of an enrolment's `secret`.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    const A: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut n, mut out) = (0u64, 0u32, Vec::new());
    for c in text.chars() {
        bits = ((bits << 5) | A.find(c)? as u64) & 0xffff_ffff;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    Some(out)
}

/// The six-digit TOTP code of the 30 s step `offset` steps from now (for clients and tests).
pub fn totp_code(secret: &[u8], offset: i64) -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp() / 30 + offset;
    format!("{:06}", hotp(secret, u64::try_from(now).unwrap_or(0)))
}

/// RFC 4226 HOTP value for `counter`.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let h = mac.as_ref();
    let off = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[off] & 0x7f) << 24)
        | (u32::from(h[off + 1]) << 16)
        | (u32::from(h[off + 2]) << 8)
        | u32::from(h[off + 3]);
    bin % 1_000_000
}

/// The time step a 6-digit `code` matches (now ± one step), if newer than `last_step`.
pub fn totp_step(secret: &[u8], code: &str, now: u64, last_step: u64) -> Option<u64> {
    let code: u32 = code
        .trim()
        .parse()
        .ok()
        .filter(|_| code.trim().len() == 6)?;
    let step = now / STEP;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|s| *s > last_step && hotp(secret, *s) == code)
}

fn unix_now() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

fn recovery_code() -> String {
    let t = security::random_token(8)
        .to_ascii_uppercase()
        .replace(['-', '_'], "X");
    format!("{}-{}", &t[..4], &t[4..8])
}

#[derive(sqlx::FromRow)]
struct Enrolled {
    secret_sealed: String,
    last_step: i64,
    confirmed: bool,
}

/// Checks `code` for `user` — a TOTP code (advancing the replay guard) or an unused recovery
/// code (spending it). Needs a confirmed enrolment unless `pending` allows an unconfirmed one.
async fn check_code(
    conn: &mut PgConnection,
    s: &AppState,
    user: Uuid,
    code: &str,
    pending: bool,
) -> Result<bool, Problem> {
    let enrolled: Option<Enrolled> = sqlx::query_as(
        "SELECT secret_sealed, last_step, confirmed_at IS NOT NULL AS confirmed FROM mfa_totp \
         WHERE user_id = $1 FOR UPDATE",
    )
    .bind(user)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(e) = enrolled.filter(|e| e.confirmed || pending) else {
        return Ok(false);
    };
    let secret = s.mfa.open(user, &e.secret_sealed)?;
    let last = u64::try_from(e.last_step).unwrap_or(0);
    if let Some(step) = totp_step(&secret, code, unix_now(), last) {
        sqlx::query("UPDATE mfa_totp SET last_step = $2 WHERE user_id = $1")
            .bind(user)
            .bind(i64::try_from(step).unwrap_or(i64::MAX))
            .execute(&mut *conn)
            .await?;
        return Ok(true);
    }
    if e.confirmed && code.trim().len() == 9 {
        let used: Option<Uuid> = sqlx::query_scalar(
            "UPDATE mfa_recovery_codes SET used_at = now() WHERE id = (SELECT id FROM mfa_recovery_codes \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL LIMIT 1) RETURNING id",
        )
        .bind(user)
        .bind(security::digest(&code.trim().to_ascii_uppercase()))
        .fetch_optional(&mut *conn)
        .await?;
        return Ok(used.is_some());
    }
    Ok(false)
}

async fn new_recovery_codes(conn: &mut PgConnection, user: Uuid) -> Result<Vec<String>, Problem> {
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user)
        .execute(&mut *conn)
        .await?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    for c in &codes {
        sqlx::query("INSERT INTO mfa_recovery_codes (id, user_id, code_hash) VALUES ($1, $2, $3)")
            .bind(Uuid::now_v7())
            .bind(user)
            .bind(security::digest(c))
            .execute(&mut *conn)
            .await?;
    }
    Ok(codes)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Enrolment {
    /// Base32 secret for manual entry.
    pub secret: String,
    /// For a QR code: `otpauth://totp/...`.
    pub otpauth_uri: String,
}

/// A new, unconfirmed TOTP secret for `user` (replacing an unconfirmed one), sealed at rest.
async fn begin_enrolment(
    conn: &mut PgConnection,
    s: &AppState,
    user: &User,
) -> Result<Enrolment, Problem> {
    let mut secret = [0u8; 20];
    getrandom::fill(&mut secret).map_err(Problem::internal)?;
    sqlx::query(
        "INSERT INTO mfa_totp (user_id, secret_sealed) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, confirmed_at = NULL, last_step = 0",
    )
    .bind(user.id)
    .bind(s.mfa.seal(user.id, &secret)?)
    .execute(conn)
    .await?;
    let b32 = base32(&secret);
    let label = user.email.replace('@', "%40");
    Ok(Enrolment {
        otpauth_uri: format!(
            "otpauth://totp/Workflow:{label}?secret={b32}&issuer=Workflow&algorithm=SHA1&digits=6&period=30"
        ),
        secret: b32,
    })
}

/// MFA is on for `user` (its enrolment confirmed by a code just checked): new recovery codes,
/// returned once.
async fn activate(conn: &mut PgConnection, user: Uuid) -> Result<Vec<String>, Problem> {
    sqlx::query("UPDATE mfa_totp SET confirmed_at = now() WHERE user_id = $1")
        .bind(user)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE users SET mfa_enabled = true, updated_at = now() WHERE id = $1")
        .bind(user)
        .execute(&mut *conn)
        .await?;
    new_recovery_codes(conn, user).await
}

/// Start TOTP enrolment; confirm it with a first code.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp/enroll", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, body = Enrolment), (status = 409, body = kit::ProblemBody)))]
async fn enroll(State(s): State<AppState>, p: Principal) -> Result<Json<Enrolment>, Problem> {
    // Credentials are the user's own: a temporary access token cannot change them.
    p.require_own_token()?;
    let mut uow = s.db.system().await?.by(&p);
    let user = sessions::load_user(&mut uow, p.user_id)
        .await?
        .ok_or_else(|| Problem::not_found("user"))?;
    if user.mfa_enabled {
        return Err(problems::MFA_ALREADY_ENABLED
            .with("MFA is already on; disable it first to enrol again"));
    }
    let enrolment = begin_enrolment(&mut uow, &s, &user).await?;
    uow.commit().await?;
    Ok(Json(enrolment))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    pub mfa_enabled: bool,
    /// Shown once; each works once.
    pub recovery_codes: Vec<String>,
}

/// Confirm enrolment with a current code: MFA is on; recovery codes are returned once.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp/confirm", tag = "mfa", security(("bearer" = [])),
    request_body = CodeRequest, responses((status = 200, body = RecoveryCodes), (status = 400, body = kit::ProblemBody)))]
async fn confirm(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Json(req): Json<CodeRequest>,
) -> Result<Json<RecoveryCodes>, Problem> {
    p.require_own_token()?;
    let mut uow = s.db.system().await?.by(&p).from(&origin);
    if !check_code(&mut uow, &s, p.user_id, &req.code, true).await? {
        return Err(problems::MFA_CODE_REJECTED
            .with("the code is not valid; check the device's clock and try the next one"));
    }
    let codes = activate(&mut uow, p.user_id).await?;
    uow.audit(
        Entry::new("mfa_enabled")
            .user(p.user_id)
            .org(p.organization_id),
    )
    .await?;
    uow.commit().await?;
    Ok(Json(RecoveryCodes {
        mfa_enabled: true,
        recovery_codes: codes,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableRequest {
    pub password: String,
    /// A current TOTP code or a recovery code.
    pub code: String,
}

/// Turn MFA off (password and a code required).
#[utoipa::path(post, path = "/api/v1/auth/mfa/disable", tag = "mfa", security(("bearer" = [])),
    request_body = DisableRequest, responses((status = 204), (status = 400, body = kit::ProblemBody)))]
async fn disable(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Json(req): Json<DisableRequest>,
) -> Result<StatusCode, Problem> {
    p.require_own_token()?;
    let mut uow = s.db.system().await?.by(&p).from(&origin);
    let user = sessions::load_user(&mut uow, p.user_id)
        .await?
        .ok_or_else(|| Problem::not_found("user"))?;
    // Past the hashing bound this is a 503 to retry, not a wrong password.
    if !security::check_password(req.password, user.password_hash.clone()).await?
        || !check_code(&mut uow, &s, user.id, &req.code, false).await?
    {
        return Err(problems::MFA_CODE_REJECTED.with("password or code is not valid"));
    }
    for statement in [
        "DELETE FROM mfa_totp WHERE user_id = $1",
        "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
        "UPDATE users SET mfa_enabled = false, updated_at = now() WHERE id = $1",
    ] {
        sqlx::query(statement)
            .bind(user.id)
            .execute(&mut *uow)
            .await?;
    }
    uow.audit(
        Entry::new("mfa_disabled")
            .user(user.id)
            .org(p.organization_id),
    )
    .await?;
    uow.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the recovery codes (a current TOTP code required).
#[utoipa::path(post, path = "/api/v1/auth/mfa/recovery-codes", tag = "mfa", security(("bearer" = [])),
    request_body = CodeRequest, responses((status = 200, body = RecoveryCodes), (status = 400, body = kit::ProblemBody)))]
async fn regenerate(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Json(req): Json<CodeRequest>,
) -> Result<Json<RecoveryCodes>, Problem> {
    p.require_own_token()?;
    let mut uow = s.db.system().await?.by(&p).from(&origin);
    if req.code.trim().len() != 6 || !check_code(&mut uow, &s, p.user_id, &req.code, false).await? {
        return Err(problems::MFA_CODE_REJECTED.with("a current authenticator code is required"));
    }
    let codes = new_recovery_codes(&mut uow, p.user_id).await?;
    uow.audit(Entry::new("mfa_recovery_codes_regenerated").user(p.user_id))
        .await?;
    uow.commit().await?;
    Ok(Json(RecoveryCodes {
        mfa_enabled: true,
        recovery_codes: codes,
    }))
}

/// What is about to issue tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Issuing {
    /// A new sign-in: a password login, an OAuth callback, a claimed assisted account, an
    /// accepted invitation.
    SignIn,
    /// A refresh token carrying an existing sign-in on.
    Refresh,
}

/// The MFA step a sign-in still owes before tokens are issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// The user has MFA on: a current code (or a recovery code).
    Code,
    /// An organisation of the user requires MFA and the user has none: set it up, then prove
    /// the first code.
    Enrolment,
}

/// The one MFA decision of the service, taken by every path that issues tokens:
/// - a new sign-in of a user with MFA on owes a code, whatever proved the first factor (a
///   password, an OAuth provider, a claim or an invitation link);
/// - a new sign-in of a user without MFA who belongs to an organisation whose settings say
///   `mfa_required` owes an enrolment. The spec only asks for "MFA enforcement" in the
///   organisation's security settings; this platform enforces it at sign-in, with no token at
///   all until the first code is proved (no half-privileged "enrolment only" tokens that every
///   verifier in the fleet would have to understand);
/// - a refresh carries an existing sign-in on and owes no code, but is refused once an
///   organisation of the user requires MFA the user has not set up (the requirement may have
///   been switched on after that sign-in): sign in again, which leads to the enrolment.
///
/// `None`: tokens may be issued.
pub(crate) async fn decide(
    conn: &mut PgConnection,
    user: &User,
    issuing: Issuing,
) -> Result<Option<Due>, Problem> {
    if user.mfa_enabled {
        return Ok((issuing == Issuing::SignIn).then_some(Due::Code));
    }
    if !required_by_an_organisation(conn, user.id).await? {
        return Ok(None);
    }
    match issuing {
        Issuing::SignIn => Ok(Some(Due::Enrolment)),
        Issuing::Refresh => Err(problems::MFA_ENROLLMENT_REQUIRED
            .with("an organisation of yours requires MFA: sign in again to set it up")),
    }
}

/// Whether any organisation `user` belongs to requires MFA (`settings.mfa_required`). Any, not
/// only the one a token acts in: a token can be switched to another organisation on refresh.
async fn required_by_an_organisation(conn: &mut PgConnection, user: Uuid) -> Result<bool, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM team_memberships m JOIN organizations o ON o.id = m.organization_id \
         WHERE m.user_id = $1 AND o.settings ->> 'mfa_required' = 'true')",
    )
    .bind(user)
    .fetch_one(conn)
    .await?)
}

/// The second step a sign-in owes, as the client is told it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequired {
    pub mfa_required: bool,
    /// Present with the code to `POST /api/v1/auth/login/mfa` within 5 minutes (10 for an
    /// enrolment).
    pub mfa_token: String,
    pub methods: Vec<&'static str>,
    /// `true` when MFA must be set up first: add `enrollment` to an authenticator app and
    /// send its first code.
    pub mfa_enrollment_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrollment: Option<Enrolment>,
}

/// Starts the step `due` for `user` (acting in `org` once it is passed): the challenge, and
/// for an enrolment a fresh secret to set up.
pub(crate) async fn challenge(
    conn: &mut PgConnection,
    s: &AppState,
    user: &User,
    org: Option<Uuid>,
    due: Due,
) -> Result<MfaRequired, Problem> {
    let (purpose, ttl, enrollment, methods) = match due {
        Due::Code => ("verify", CHALLENGE_TTL, None, vec!["totp", "recovery_code"]),
        Due::Enrolment => {
            let e = begin_enrolment(conn, s, user).await?;
            ("enrol", ENROLMENT_TTL, Some(e), vec!["totp"])
        }
    };
    let token = security::random_token(32);
    sqlx::query(
        "INSERT INTO mfa_challenges (id, user_id, token_hash, organization_id, expires_at, purpose) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(user.id)
    .bind(security::digest(&token))
    .bind(org)
    .bind(Timestamp::now() + ttl)
    .bind(purpose)
    .execute(conn)
    .await?;
    Ok(MfaRequired {
        mfa_required: true,
        mfa_token: token,
        methods,
        mfa_enrollment_required: due == Due::Enrolment,
        enrollment,
    })
}

/// The outcome of the second step.
pub(crate) enum Second {
    Passed {
        user: Uuid,
        org: Option<Uuid>,
        /// When the step was an enrolment: MFA is on now, with these codes (shown once).
        recovery_codes: Option<Vec<String>>,
    },
    /// A wrong code (counted against the account like a wrong password).
    Failed {
        email: String,
    },
    Invalid,
}

#[derive(sqlx::FromRow)]
struct Challenge {
    id: Uuid,
    user_id: Uuid,
    organization_id: Option<Uuid>,
    attempts: i32,
    enrol: bool,
    email: String,
}

/// Checks a login's second step: a code of the confirmed enrolment, or for an enrolment step
/// the first code of the secret it handed out (which turns MFA on).
pub(crate) async fn second_step(
    conn: &mut PgConnection,
    s: &AppState,
    token: &str,
    code: &str,
) -> Result<Second, Problem> {
    if token.len() > 128 || code.len() > 32 {
        return Ok(Second::Invalid);
    }
    // Row-locked: two presentations of one challenge cannot both pass or both miscount.
    let challenge: Option<Challenge> = sqlx::query_as(
        "SELECT c.id, c.user_id, c.organization_id, c.attempts, c.purpose = 'enrol' AS enrol, u.email \
         FROM mfa_challenges c JOIN users u ON u.id = c.user_id \
         WHERE c.token_hash = $1 AND c.expires_at > now() FOR UPDATE OF c",
    )
    .bind(security::digest(token))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(c) = challenge.filter(|c| c.attempts < CHALLENGE_ATTEMPTS) else {
        return Ok(Second::Invalid);
    };
    if !check_code(conn, s, c.user_id, code, c.enrol).await? {
        sqlx::query("UPDATE mfa_challenges SET attempts = attempts + 1 WHERE id = $1")
            .bind(c.id)
            .execute(&mut *conn)
            .await?;
        return Ok(Second::Failed { email: c.email });
    }
    sqlx::query("DELETE FROM mfa_challenges WHERE id = $1")
        .bind(c.id)
        .execute(&mut *conn)
        .await?;
    let recovery_codes = match c.enrol {
        true => Some(activate(conn, c.user_id).await?),
        false => None,
    };
    Ok(Second::Passed {
        user: c.user_id,
        org: c.organization_id,
        recovery_codes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vectors() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", 8 digits → last 6 here.
        let secret = b"12345678901234567890";
        assert_eq!(hotp(secret, 59 / 30), 287_082);
        assert_eq!(hotp(secret, 1_111_111_109 / 30), 81_804);
        assert_eq!(hotp(secret, 2_000_000_000 / 30), 279_037);
        let code = format!("{:06}", hotp(secret, 1000));
        assert_eq!(totp_step(secret, &code, 1000 * 30 + 5, 0), Some(1000));
        assert_eq!(
            totp_step(secret, &code, 1001 * 30 + 5, 0),
            Some(1000),
            "one step of drift"
        );
        assert_eq!(totp_step(secret, &code, 1003 * 30, 0), None);
        assert_eq!(
            totp_step(secret, &code, 1000 * 30, 1000),
            None,
            "never twice"
        );
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn sealed_secrets_open_only_for_their_user() {
        let b = SecretBox::new(&[7u8; 32]).expect("key");
        let (u, v) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = b.seal(u, b"secret").expect("seal");
        assert_eq!(b.open(u, &sealed).expect("open"), b"secret");
        assert!(b.open(v, &sealed).is_err());
        assert!(SecretBox::new(&[0u8; 16]).is_err());
    }
}
