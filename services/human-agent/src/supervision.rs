//! The AI supervision feed (spec §0.5, endpoint 11): alerts about AI agents from
//! `monitoring_events` and conversation counts from `conversation_events`, for supervisors.
use axum::extract::{Query, State};
use kit::{
    Json, Problem,
    auth::Principal,
    contracts::events::v1,
    events::{Envelope, Handler, HandlerError},
    store::{self, Scope},
};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{AppState, rfc3339};

fn when(v: &str) -> OffsetDateTime {
    OffsetDateTime::parse(v, &Rfc3339).unwrap_or_else(|_| OffsetDateTime::now_utc())
}

fn uuid(field: &str, v: &str) -> Result<Uuid, HandlerError> {
    v.parse()
        .map_err(|_| HandlerError::failed(format!("{field} is not a UUID")))
}

/// Records alerts and conversation activity as they arrive (exactly once per event).
pub struct Feed;

#[async_trait::async_trait]
impl Handler for Feed {
    async fn handle(&self, tx: &mut store::Tx, e: &Envelope) -> Result<(), HandlerError> {
        store::set_scope(tx, Scope::system()).await?;
        match e.event_type.as_str() {
            "ai_alert_raised" => {
                let a: v1::AiAlertRaised = e.decode()?;
                if !matches!(a.severity.as_str(), "critical" | "warning" | "info") {
                    return Err(HandlerError::failed(format!(
                        "unknown severity {:?}",
                        a.severity
                    )));
                }
                sqlx::query(
                    "INSERT INTO ai_alerts (alert_id, organization_id, severity, ai_agent_type, service, client_id, organization_name, \
                     issue, recommended_action, detected_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (alert_id) DO NOTHING",
                )
                .bind(uuid("alert_id", &a.alert_id)?)
                .bind(uuid("organization_id", &a.organization_id)?)
                .bind(&a.severity)
                .bind(&a.ai_agent_type)
                .bind(&a.service)
                .bind(a.client_id.parse::<Uuid>().ok())
                .bind(&a.organization_name)
                .bind(&a.issue)
                .bind(&a.recommended_action)
                .bind(when(&a.detected_at))
                .execute(&mut **tx)
                .await?;
            }
            "ai_alert_resolved" => {
                let a: v1::AiAlertResolved = e.decode()?;
                sqlx::query("UPDATE ai_alerts SET resolved_at = $2 WHERE alert_id = $1")
                    .bind(uuid("alert_id", &a.alert_id)?)
                    .bind(when(&a.timestamp))
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
                .bind(when(&c.timestamp))
                .execute(&mut **tx)
                .await?;
            }
            "conversation_escalated" => {
                let c: v1::ConversationEscalated = e.decode()?;
                sqlx::query(
                    "UPDATE ai_conversations SET escalated_at = $2 WHERE conversation_id = $1",
                )
                .bind(uuid("conversation_id", &c.conversation_id)?)
                .bind(when(&c.timestamp))
                .execute(&mut **tx)
                .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// `last_1h`, `last_24h` (default) or `last_7d`.
    pub time_range: Option<String>,
    /// Comma-separated: `critical`, `warning`, `info`.
    pub alert_level: Option<String>,
    /// Comma-separated services, e.g. `agent_orchestration,voice_agent`.
    pub service: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    pub total_ai_conversations: i64,
    pub requiring_attention: i64,
    pub escalated_to_human: i64,
    pub quality_issues: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Alert {
    pub alert_id: Uuid,
    pub severity: String,
    pub ai_agent_type: String,
    pub service: String,
    pub client_id: Option<Uuid>,
    pub organization_id: Uuid,
    pub organization_name: Option<String>,
    pub issue: String,
    pub detected_at: String,
    pub recommended_action: Option<String>,
    pub resolved: bool,
}

#[derive(Debug, Serialize, ToSchema)]
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

fn csv(
    field: &str,
    v: Option<&str>,
    allowed: Option<&[&str]>,
) -> Result<Option<Vec<String>>, Problem> {
    let Some(v) = v else { return Ok(None) };
    let items: Vec<String> = v
        .split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect();
    for i in &items {
        let ok = match allowed {
            Some(a) => a.contains(&i.as_str()),
            None => i.len() <= 64 && i.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        };
        if !ok {
            return Err(Problem::invalid(field, format!("unknown value {i:?}")));
        }
    }
    Ok(Some(items))
}

/// Alerts and counts about the AI agents, for supervisors (`ai_supervisor`) and platform admins.
#[utoipa::path(get, path = "/api/v1/agents/supervision/ai-activity", tag = "supervision", security(("bearer" = [])),
    params(FeedQuery), responses((status = 200, body = Supervision), (status = 403, body = kit::ProblemBody)))]
pub async fn ai_activity(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<FeedQuery>,
) -> Result<Json<Supervision>, Problem> {
    let supervisor = p
        .agent
        .as_ref()
        .is_some_and(|a| a.all_roles.iter().any(|r| r == "ai_supervisor"));
    if !supervisor && !p.is_platform_admin() {
        return Err(Problem::forbidden("for AI supervisors"));
    }
    let range = match q.time_range.as_deref().unwrap_or("last_24h") {
        "last_1h" => Duration::hours(1),
        "last_24h" => Duration::hours(24),
        "last_7d" => Duration::days(7),
        _ => {
            return Err(Problem::invalid(
                "time_range",
                "must be last_1h, last_24h or last_7d",
            ));
        }
    };
    let levels = csv(
        "alert_level",
        q.alert_level.as_deref(),
        Some(&["critical", "warning", "info"]),
    )?;
    let services = csv("service", q.service.as_deref(), None)?;
    let since = OffsetDateTime::now_utc() - range;
    let mut tx = store::begin(&s.db, Scope::agent(None)).await?;
    let filter = "detected_at >= $1 AND ($2::text[] IS NULL OR severity = ANY($2)) AND ($3::text[] IS NULL OR service = ANY($3))";
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT alert_id, severity, ai_agent_type, service, client_id, organization_id, organization_name, issue, detected_at, \
         recommended_action, resolved_at IS NOT NULL FROM ai_alerts WHERE {filter} \
         ORDER BY (severity = 'critical') DESC, detected_at DESC LIMIT 200"
    )))
    .bind(since)
    .bind(&levels)
    .bind(&services)
    .fetch_all(&mut *tx)
    .await?;
    let top = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT issue, count(*) FROM ai_alerts WHERE {filter} GROUP BY issue ORDER BY count(*) DESC, issue LIMIT 10"
    )))
    .bind(since)
    .bind(&levels)
    .bind(&services)
    .fetch_all(&mut *tx)
    .await?;
    let counts = sqlx::query(
        "SELECT (SELECT count(*) FROM ai_conversations WHERE started_at >= $1 AND ($2::text[] IS NULL OR service = ANY($2))), \
                (SELECT count(*) FROM ai_conversations WHERE escalated_at >= $1 AND ($2::text[] IS NULL OR service = ANY($2))), \
                (SELECT count(*) FROM ai_alerts WHERE detected_at >= $1 AND resolved_at IS NULL AND severity IN ('critical', 'warning') \
                 AND ($2::text[] IS NULL OR service = ANY($2))), \
                (SELECT count(*) FROM ai_alerts WHERE detected_at >= $1 AND ($2::text[] IS NULL OR service = ANY($2)))",
    )
    .bind(since)
    .bind(&services)
    .fetch_one(&mut *tx)
    .await?;
    Ok(Json(Supervision {
        supervision_dashboard: Dashboard {
            total_ai_conversations: counts.get(0),
            escalated_to_human: counts.get(1),
            requiring_attention: counts.get(2),
            quality_issues: counts.get(3),
        },
        alerts: rows
            .iter()
            .map(|r| Alert {
                alert_id: r.get(0),
                severity: r.get(1),
                ai_agent_type: r.get(2),
                service: r.get(3),
                client_id: r.get(4),
                organization_id: r.get(5),
                organization_name: r.get(6),
                issue: r.get(7),
                detected_at: rfc3339(r.get(8)),
                recommended_action: r.get(9),
                resolved: r.get(10),
            })
            .collect(),
        top_issues: top
            .iter()
            .map(|r| TopIssue {
                issue: r.get(0),
                occurrences: r.get(1),
            })
            .collect(),
    }))
}
