//! The reminder and expiry of unclaimed assisted accounts, a periodic job (`Job::every`,
//! `ORG_AUTH_EXPIRY_SWEEP_SECS`); the platform admins are mailed the accounts that expired.
//! Only approved accounts are reminded (the others were never sent a link); rejected ones are
//! disabled already and do not expire.
use kit::{Origin, Problem, Timestamp, Uow, contracts::events::v1, revocation::Reason};
use uuid::Uuid;

use crate::{AppState, audit::Entry, mail};

#[derive(sqlx::FromRow)]
struct Due {
    email: String,
    company_name: String,
    expires_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct Expired {
    user_id: Uuid,
    organization_id: Uuid,
    created_by_agent_id: Uuid,
    company_name: String,
    email: String,
}

/// Reminds clients 7 days before their assisted account expires, and at expiry locks the
/// account, publishes `assisted_account_expired` and mails every platform admin the accounts
/// that expired, for follow-up.
/// Each step is idempotent (`reminder_sent_at`, `expired_at`); reminders are mailed once the
/// step has committed. Returns how many were reminded and expired.
pub(crate) async fn sweep(s: &AppState) -> Result<(usize, usize), Problem> {
    let mut uow = s.db.system().await?.from(&Origin::system());
    let due: Vec<Due> = sqlx::query_as(
        "UPDATE assisted_accounts a SET reminder_sent_at = now() FROM users u \
         WHERE u.id = a.user_id AND a.claimed_at IS NULL AND a.expired_at IS NULL AND a.reminder_sent_at IS NULL \
         AND a.approval_status = 'approved' \
         AND a.expires_at <= now() + interval '7 days' AND a.expires_at > now() \
         RETURNING u.email, a.company_name, a.expires_at",
    )
    .fetch_all(&mut *uow)
    .await?;
    let expired: Vec<Expired> = sqlx::query_as(
        "UPDATE assisted_accounts a SET expired_at = now() FROM users u \
         WHERE u.id = a.user_id AND a.claimed_at IS NULL AND a.expired_at IS NULL AND a.expires_at <= now() \
         AND a.approval_status <> 'rejected' \
         RETURNING a.user_id, a.organization_id, a.created_by_agent_id, a.company_name, u.email",
    )
    .fetch_all(&mut *uow)
    .await?;
    for e in &expired {
        sqlx::query("UPDATE users SET account_status = 'locked', updated_at = now() WHERE id = $1")
            .bind(e.user_id)
            .execute(&mut *uow)
            .await?;
        s.revoking
            .grants_of(&mut uow, e.user_id, Reason::AccessRevoked)
            .await?;
        let event = v1::AssistedAccountExpired {
            user_id: e.user_id.to_string(),
            organization_id: e.organization_id.to_string(),
            created_by_agent_id: e.created_by_agent_id.to_string(),
        };
        uow.emit(e.organization_id, e.user_id, &event).await?;
        let entry = Entry::new("assisted_account_expired").org(Some(e.organization_id));
        uow.audit(entry.user(e.user_id)).await?;
    }
    for d in &due {
        let expires = d.expires_at.to_string();
        let reminder = mail::claim_reminder(&d.email, &d.company_name, &s.app_url, &expires);
        s.mail.after_commit(&mut uow, reminder);
    }
    notify_admins(&mut uow, s, &expired).await?;
    uow.commit().await?;
    Ok((due.len(), expired.len()))
}

/// The platform admins' addresses: active agent logins holding `platform_admin` — by the role
/// set human-agent published, else by the role the login was made with.
async fn platform_admins(conn: &mut kit::sqlx::PgConnection) -> Result<Vec<String>, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT u.email FROM users u LEFT JOIN agent_roles r ON r.agent_id = u.agent_id \
         WHERE u.user_type = 'agent' AND u.account_status IN ('active', 'claimed') \
           AND CASE WHEN r.agent_id IS NULL THEN u.role = 'platform_admin' \
                    ELSE r.is_active AND 'platform_admin' = ANY(r.roles) END \
         ORDER BY u.email",
    )
    .fetch_all(conn)
    .await?)
}

/// Mails each platform admin the accounts that just expired, once the step has committed.
async fn notify_admins(uow: &mut Uow, s: &AppState, expired: &[Expired]) -> Result<(), Problem> {
    if expired.is_empty() {
        return Ok(());
    }
    let lines: Vec<(String, String, String)> = expired
        .iter()
        .map(|e| {
            (
                e.company_name.clone(),
                e.email.clone(),
                e.created_by_agent_id.to_string(),
            )
        })
        .collect();
    let admins = platform_admins(uow).await?;
    for admin in &admins {
        let notice = mail::accounts_expired(admin, &lines, &s.app_url);
        s.mail.after_commit(uow, notice);
    }
    let meta = serde_json::json!({"expired": expired.len(), "admins_notified": admins.len()});
    uow.audit(Entry::new("assisted_expiry_admins_notified").meta(meta))
        .await
}
