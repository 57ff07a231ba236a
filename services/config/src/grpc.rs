//! The gRPC API for peers (`workflow.config.v1.Config`): one layer's document, the effective
//! view, flag evaluation and the Watch stream the config clients follow. Behind the internal
//! service credential; the service's own scope (peers act for every tenant).
use std::{collections::VecDeque, pin::Pin, time::Duration};

use config_client::{Context, FlagDef, Layer, Update, layers};
use futures::Stream;
use kit::{
    Problem,
    contracts::workflow::config::v1::{
        Document, Effective, EvaluateFlagsRequest, EvaluateFlagsResponse, GetEffectiveRequest,
        GetRequest, WatchEvent, WatchRequest, config_server::Config, watch_event::Body,
    },
    store::Scope,
};
use serde_json::Value;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{AppState, changes, names, rows, slot::Slot};

pub struct Api(pub AppState);

/// The methods every service's config client uses.
const READS: &[&str] = &[
    "/workflow.config.v1.Config/Get",
    "/workflow.config.v1.Config/GetEffective",
    "/workflow.config.v1.Config/EvaluateFlags",
    "/workflow.config.v1.Config/Watch",
];

/// Every service of the fleet reads its configuration and flags here.
pub const CALLERS: &[kit::Grant] = &[
    kit::Grant::grpc("org-auth", READS),
    kit::Grant::grpc("human-agent", READS),
    kit::Grant::grpc("research", READS),
    kit::Grant::grpc("demo", READS),
    kit::Grant::grpc("nda", READS),
    kit::Grant::grpc("pricing", READS),
    kit::Grant::grpc("proposal", READS),
    kit::Grant::grpc("prd", READS),
    kit::Grant::grpc("orchestration", READS),
    kit::Grant::grpc("voice", READS),
    kit::Grant::grpc("monitoring", READS),
    kit::Grant::grpc("analytics", READS),
    kit::Grant::grpc("support", READS),
    kit::Grant::grpc("crm", READS),
    kit::Grant::grpc("manufacturer-catalog", READS),
    kit::Grant::grpc("tenant-provisioning", READS),
    kit::Grant::grpc("feedback", READS),
];

fn org(raw: &str) -> Result<Option<Uuid>, Problem> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| Problem::invalid("organization_id", "must be a UUID"))
}

fn opt(raw: &str) -> Option<&str> {
    (!raw.is_empty()).then_some(raw)
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, Problem> {
    serde_json::to_string(v).map_err(Problem::internal)
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Config for Api {
    async fn get(&self, req: Request<GetRequest>) -> Result<Response<Document>, Status> {
        let r = req.into_inner();
        let (ns, key) = (names::namespace(&r.namespace)?, names::key("key", &r.key)?);
        let layer: Layer = serde_json::from_value(Value::String(r.layer.clone()))
            .map_err(|_| Problem::invalid("layer", "default, tier, tenant or environment"))?;
        let slot = Slot {
            layer,
            scope: r.scope,
            organization_id: org(&r.organization_id)?,
        };
        let mut uow = self.0.db.read(Scope::system()).await?;
        let doc = rows::current(&mut uow, &ns, &key, &slot)
            .await?
            .ok_or_else(|| Problem::not_found("configuration document"))?;
        uow.commit().await?;
        Ok(Response::new(Document {
            namespace: doc.namespace.clone(),
            key: doc.key.clone(),
            layer: layer.as_str().into(),
            scope: doc.scope.clone(),
            organization_id: doc
                .organization_id
                .map(|o| o.to_string())
                .unwrap_or_default(),
            version: doc.version,
            version_id: doc.version_id.to_string(),
            value_json: json(&doc.value)?,
        }))
    }

    async fn get_effective(
        &self,
        req: Request<GetEffectiveRequest>,
    ) -> Result<Response<Effective>, Status> {
        let r = req.into_inner();
        let (ns, key) = (names::namespace(&r.namespace)?, names::key("key", &r.key)?);
        let mut uow = self.0.db.read(Scope::system()).await?;
        let found = rows::applicable(
            &mut uow,
            &ns,
            &key,
            org(&r.organization_id)?,
            opt(&r.tier),
            opt(&r.environment),
        )
        .await?;
        uow.commit().await?;
        if found.is_empty() {
            return Err(Problem::not_found("configuration document").into());
        }
        let merged = layers::merge(found.iter().map(|c| (c.source(), &c.value)));
        Ok(Response::new(Effective {
            value_json: json(&merged.value)?,
            sources_json: json(&merged.sources)?,
        }))
    }

    async fn evaluate_flags(
        &self,
        req: Request<EvaluateFlagsRequest>,
    ) -> Result<Response<EvaluateFlagsResponse>, Status> {
        let r = req.into_inner();
        let ctx: Context = if r.context_json.is_empty() {
            Context::default()
        } else {
            serde_json::from_str(&r.context_json)
                .map_err(|e| Problem::invalid("context_json", e.to_string()))?
        };
        let mut uow = self.0.db.read(Scope::system()).await?;
        let defs: Vec<(String, Value)> = sqlx::query_as(
            "SELECT key, definition FROM flags WHERE cardinality($1::text[]) = 0 OR key = ANY($1)",
        )
        .bind(&r.keys)
        .fetch_all(&mut *uow)
        .await
        .map_err(Problem::from)?;
        uow.commit().await?;
        let mut evaluations = std::collections::HashMap::new();
        for (key, def) in defs {
            let def: FlagDef = serde_json::from_value(def).map_err(Problem::internal)?;
            evaluations.insert(key.clone(), json(&def.evaluate(&key, &ctx))?);
        }
        Ok(Response::new(EvaluateFlagsResponse { evaluations }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        req: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let r = req.into_inner();
        let namespaces = r
            .namespaces
            .iter()
            .map(|n| names::namespace(n))
            .collect::<Result<Vec<_>, _>>()?;
        let (db, mut wake) = (self.0.db.clone(), self.0.hub.subscribe());
        let mut pending: VecDeque<WatchEvent> = VecDeque::new();
        let mut since = r.since_revision.max(0);
        if since == 0 {
            let snap = changes::snapshot(&db, &namespaces).await?;
            since = snap.revision;
            pending.push_back(WatchEvent {
                revision: snap.revision,
                body: Some(Body::SnapshotJson(json(&snap)?)),
            });
        }
        wake.borrow_and_update();
        let stream = futures::stream::unfold(
            (db, wake, namespaces, since, pending),
            |(db, mut wake, ns, mut since, mut pending)| async move {
                loop {
                    if let Some(ev) = pending.pop_front() {
                        return Some((Ok(ev), (db, wake, ns, since, pending)));
                    }
                    match changes::after(&db, since, &ns).await {
                        Ok(batch) if !batch.is_empty() => {
                            for (rev, update) in batch {
                                since = rev;
                                pending.push_back(event(rev, &update));
                            }
                            continue;
                        }
                        Ok(_) => {}
                        Err(p) => {
                            return Some((Err(Status::from(p)), (db, wake, ns, since, pending)));
                        }
                    }
                    // Woken by a commit, or every second as a fallback for a lost notification.
                    if let Ok(Err(_)) =
                        tokio::time::timeout(Duration::from_secs(1), wake.changed()).await
                    {
                        // The hub is gone (the service is stopping): poll slowly until then.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }
}

fn event(revision: i64, update: &Update) -> WatchEvent {
    WatchEvent {
        revision,
        body: Some(Body::UpdateJson(
            serde_json::to_string(update).unwrap_or_default(),
        )),
    }
}
