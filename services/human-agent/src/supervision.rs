//! The AI supervision feed (spec §0.5, endpoint 11): alerts about AI agents from
//! `monitoring_events` and conversation counts from `conversation_events`, for supervisors.
use axum::extract::State;
use kit::{
    Json, Problem, Query, Timestamp,
    auth::Principal,
    contracts::events::v1,
    events::{Envelope, Handler, HandlerError},
    sqlx::PgConnection,
    store::{self, Scope, Tx},
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    rules::{Role, ServiceNames, Severities, Severity, TimeRange},
    state::AppState,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ai_activity))
}

/// An event's time; now when it cannot be read.
fn when(v: &str) -> Timestamp {
    Timestamp::parse(v).unwrap_or_else(Timestamp::now)
}

fn uuid(field: &str, v: &str) -> Result<Uuid, HandlerError> {
    v.parse()
        .map_err(|_| HandlerError::failed(format!("{field} is not a UUID")))
}

/// Records alerts and conversation activity as they arrive (exactly once per event).
pub struct Feed;

#[async_trait::async_trait]
impl Handler for Feed {
    async fn handle(&self, tx: &mut Tx, e: &Envelope) -> Result<(), HandlerError> {
        store::set_scope(tx, Scope::system()).await?;
        match e.event_type.as_str() {
            "ai_alert_raised" => raised(tx, &e.decode()?).await?,
            "ai_alert_resolved" => {
                let a: v1::AiAlertResolved = e.decode()?;
                sqlx::query("UPDATE ai_alerts SET resolved_at = $2 WHERE alert_id = $1")
                    .bind(uuid("alert_id", &a.alert_id)?)
                    .bind(when(&e.occurred_at))
                    .execute(&mut **tx)
                    .await?;
            }
            "conversation_started" => {
                let c: v1::ConversationStarted = e.decode()?;
                sqlx::query(
                    "INSERT INTO ai_conversations (conversation_id, organization_id, ai_agent_type, service, started_at) \
                     VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING",
                )
                .bind(uuid("conversation_id", &c.conversation_id)?)
                .bind(uuid("organization_id", &c.organization_id)?)
                .bind(&c.ai_agent_type)
                .bind(&c.service)
                .bind(when(&e.occurred_at))
                .execute(&mut **tx)
                .await?;
            }
            "conversation_escalated" => {
                let c: v1::ConversationEscalated = e.decode()?;
                sqlx::query(
                    "UPDATE ai_conversations SET escalated_at = $2 WHERE conversation_id = $1",
                )
                .bind(uuid("conversation_id", &c.conversation_id)?)
                .bind(when(&e.occurred_at))
                .execute(&mut **tx)
                .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

async fn raised(conn: &mut PgConnection, a: &v1::AiAlertRaised) -> Result<(), HandlerError> {
    let severity = Severity::parse(&a.severity)
        .ok_or_else(|| HandlerError::failed(format!("unknown severity {:?}", a.severity)))?;
    sqlx::query(
        "INSERT INTO ai_alerts (alert_id, organization_id, severity, ai_agent_type, service, client_id, organization_name, \
         issue, recommended_action, detected_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (alert_id) DO NOTHING",
    )
    .bind(uuid("alert_id", &a.alert_id)?)
    .bind(uuid("organization_id", &a.organization_id)?)
    .bind(severity)
    .bind(&a.ai_agent_type)
    .bind(&a.service)
    .bind(a.client_id.parse::<Uuid>().ok())
    .bind(&a.organization_name)
    .bind(&a.issue)
    .bind(&a.recommended_action)
    .bind(when(&a.detected_at))
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// `last_1h`, `last_24h` (default) or `last_7d`.
    #[serde(default)]
    #[param(inline)]
    pub time_range: TimeRange,
    /// Comma-separated: `critical`, `warning`, `info`.
    #[param(value_type = Option<String>)]
    pub alert_level: Option<Severities>,
    /// Comma-separated services, e.g. `agent_orchestration,voice_agent`.
    #[param(value_type = Option<String>)]
    pub service: Option<ServiceNames>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Dashboard {
    pub total_ai_conversations: i64,
    pub requiring_attention: i64,
    pub escalated_to_human: i64,
    pub quality_issues: i64,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Alert {
    pub alert_id: Uuid,
    pub severity: Severity,
    pub ai_agent_type: String,
    pub service: String,
    pub client_id: Option<Uuid>,
    pub organization_id: Uuid,
    pub organization_name: Option<String>,
    pub issue: String,
    pub detected_at: Timestamp,
    pub recommended_action: Option<String>,
    pub resolved: bool,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct TopIssue {
    pub issue: String,
    pub occurrences: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Supervision {
    pub supervision_dashboard: Dashboard,
    pub alerts: Vec<Alert>,
    pub top_issues: Vec<TopIssue>,
}

/// Which alerts and conversations the feed counts.
struct Filter<'a> {
    since: Timestamp,
    levels: Option<&'a [String]>,
    services: Option<&'a [String]>,
}

/// The alerts of the filter: since `$1`, of the levels `$2` and services `$3` (all when null).
macro_rules! alerts_in {
    () => {
        "detected_at >= $1 AND ($2::text[] IS NULL OR severity = ANY($2)) AND ($3::text[] IS NULL OR service = ANY($3))"
    };
}

async fn alerts(conn: &mut PgConnection, f: &Filter<'_>) -> Result<Vec<Alert>, Problem> {
    Ok(sqlx::query_as(concat!(
        "SELECT alert_id, severity, ai_agent_type, service, client_id, organization_id, organization_name, issue, detected_at, \
         recommended_action, resolved_at IS NOT NULL AS resolved FROM ai_alerts WHERE ",
        alerts_in!(),
        " ORDER BY (severity = 'critical') DESC, detected_at DESC LIMIT 200"
    ))
    .bind(f.since)
    .bind(f.levels)
    .bind(f.services)
    .fetch_all(conn)
    .await?)
}

async fn top_issues(conn: &mut PgConnection, f: &Filter<'_>) -> Result<Vec<TopIssue>, Problem> {
    Ok(sqlx::query_as(concat!(
        "SELECT issue, count(*) AS occurrences FROM ai_alerts WHERE ",
        alerts_in!(),
        " GROUP BY issue ORDER BY count(*) DESC, issue LIMIT 10"
    ))
    .bind(f.since)
    .bind(f.levels)
    .bind(f.services)
    .fetch_all(conn)
    .await?)
}

/// The counts, by service only (not by alert level).
async fn dashboard(conn: &mut PgConnection, f: &Filter<'_>) -> Result<Dashboard, Problem> {
    Ok(sqlx::query_as(
        "SELECT (SELECT count(*) FROM ai_conversations WHERE started_at >= $1 AND ($2::text[] IS NULL OR service = ANY($2))) \
                  AS total_ai_conversations, \
                (SELECT count(*) FROM ai_conversations WHERE escalated_at >= $1 AND ($2::text[] IS NULL OR service = ANY($2))) \
                  AS escalated_to_human, \
                (SELECT count(*) FROM ai_alerts WHERE detected_at >= $1 AND resolved_at IS NULL AND severity IN ('critical', 'warning') \
                 AND ($2::text[] IS NULL OR service = ANY($2))) AS requiring_attention, \
                (SELECT count(*) FROM ai_alerts WHERE detected_at >= $1 AND ($2::text[] IS NULL OR service = ANY($2))) \
                  AS quality_issues",
    )
    .bind(f.since)
    .bind(f.services)
    .fetch_one(conn)
    .await?)
}

/// Whether `p` may read the feed: AI supervisors and platform admins.
fn supervises(p: &Principal) -> bool {
    let supervisor = p
        .agent
        .as_ref()
        .is_some_and(|a| a.all_roles.iter().any(|r| r == Role::AiSupervisor.as_str()));
    supervisor || p.is_platform_admin()
}

/// Alerts and counts about the AI agents, for supervisors (`ai_supervisor`) and platform admins.
#[utoipa::path(get, path = "/api/v1/agents/supervision/ai-activity", tag = "supervision", security(("bearer" = [])),
    params(FeedQuery), responses((status = 200, body = Supervision), (status = 403, body = kit::ProblemBody)))]
pub async fn ai_activity(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<FeedQuery>,
) -> Result<Json<Supervision>, Problem> {
    if !supervises(&p) {
        return Err(Problem::forbidden("for AI supervisors"));
    }
    let f = Filter {
        since: Timestamp::now() - q.time_range.span(),
        levels: q.alert_level.as_ref().map(Severities::as_slice),
        services: q.service.as_ref().map(ServiceNames::as_slice),
    };
    let mut uow = s.db.begin_for(&p).await?;
    let alerts = alerts(&mut uow, &f).await?;
    let top_issues = top_issues(&mut uow, &f).await?;
    let supervision_dashboard = dashboard(&mut uow, &f).await?;
    Ok(Json(Supervision {
        supervision_dashboard,
        alerts,
        top_issues,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::query_refusal;

    #[tokio::test]
    async fn bad_filters_are_refused_naming_the_field_as_before() {
        assert_eq!(
            query_refusal::<FeedQuery>("time_range=forever").await,
            "time_range: must be last_1h, last_24h or last_7d"
        );
        assert_eq!(
            query_refusal::<FeedQuery>("alert_level=critical,panic").await,
            "alert_level: unknown value \"panic\""
        );
        assert_eq!(
            query_refusal::<FeedQuery>("service=a;b").await,
            "service: unknown value \"a;b\""
        );
    }
}
