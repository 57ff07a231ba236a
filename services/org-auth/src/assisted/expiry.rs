//! The reminder and expiry of unclaimed assisted accounts, a periodic job (`Job::every`,
//! `ORG_AUTH_EXPIRY_SWEEP_SECS`).
use kit::{Origin, Problem, Timestamp, contracts::events::v1, revocation::Reason};
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
}

/// Reminds clients 7 days before their assisted account expires, and at expiry locks the
/// account and publishes `assisted_account_expired` (platform admins are notified through it).
/// Each step is idempotent (`reminder_sent_at`, `expired_at`); reminders are mailed once the
/// step has committed. Returns how many were reminded and expired.
pub(crate) async fn sweep(s: &AppState) -> Result<(usize, usize), Problem> {
    let mut uow = s.db.system().await?.from(&Origin::system());
    let due: Vec<Due> = sqlx::query_as(
        "UPDATE assisted_accounts a SET reminder_sent_at = now() FROM users u \
         WHERE u.id = a.user_id AND a.claimed_at IS NULL AND a.expired_at IS NULL AND a.reminder_sent_at IS NULL \
         AND a.expires_at <= now() + interval '7 days' AND a.expires_at > now() \
         RETURNING u.email, a.company_name, a.expires_at",
    )
    .fetch_all(&mut *uow)
    .await?;
    let expired: Vec<Expired> = sqlx::query_as(
        "UPDATE assisted_accounts SET expired_at = now() WHERE claimed_at IS NULL AND expired_at IS NULL \
         AND expires_at <= now() RETURNING user_id, organization_id, created_by_agent_id",
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
    uow.commit().await?;
    Ok((due.len(), expired.len()))
}
