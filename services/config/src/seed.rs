//! The platform's defaults shipped in the repository (`defaults/<namespace>/<key>.yaml`, with
//! `schemas/<namespace>.json`), embedded in the binary and loaded by `fleet migrate`: a schema
//! is registered when its namespace has none, a document becomes version 1 of its default
//! layer when that layer does not exist yet. Nothing already present is changed, so a rerun
//! (every upgrade runs `fleet migrate`) keeps what platform admins changed since.
use config_client::{Layer, schema::Schema};
use kit::{Db, service::BoxFuture, sqlx::PgPool, store::Scope};
use serde_json::Value;

use crate::{rows, slot::Slot, yaml};

/// `(namespace, schema JSON)`.
pub const SCHEMAS: &[(&str, &str)] = &[
    ("agents", include_str!("../schemas/agents.json")),
    (
        "demo.templates",
        include_str!("../schemas/demo.templates.json"),
    ),
    ("demo.themes", include_str!("../schemas/demo.themes.json")),
    (
        "nda.templates",
        include_str!("../schemas/nda.templates.json"),
    ),
    (
        "pricing.rules",
        include_str!("../schemas/pricing.rules.json"),
    ),
    (
        "proposal.templates",
        include_str!("../schemas/proposal.templates.json"),
    ),
    (
        "research.sources",
        include_str!("../schemas/research.sources.json"),
    ),
];

/// `(namespace, key, YAML)`.
pub const DEFAULTS: &[(&str, &str, &str)] = &[
    (
        "agents",
        "sales-assistant",
        include_str!("../defaults/agents/sales-assistant.yaml"),
    ),
    (
        "demo.templates",
        "general",
        include_str!("../defaults/demo.templates/general.yaml"),
    ),
    (
        "demo.themes",
        "dark",
        include_str!("../defaults/demo.themes/dark.yaml"),
    ),
    (
        "demo.themes",
        "default",
        include_str!("../defaults/demo.themes/default.yaml"),
    ),
    (
        "nda.templates",
        "mutual",
        include_str!("../defaults/nda.templates/mutual.yaml"),
    ),
    (
        "pricing.rules",
        "standard",
        include_str!("../defaults/pricing.rules/standard.yaml"),
    ),
    (
        "proposal.templates",
        "standard",
        include_str!("../defaults/proposal.templates/standard.yaml"),
    ),
    (
        "research.sources",
        "priorities",
        include_str!("../defaults/research.sources/priorities.yaml"),
    ),
];

/// The shipped schemas (`namespace`, schema) and defaults (`namespace`, `key`, value).
pub type Shipped = (
    Vec<(&'static str, Value)>,
    Vec<(&'static str, &'static str, Value)>,
);

/// Parses and checks every shipped file: `Err` names the file and what is wrong.
pub fn parsed() -> anyhow::Result<Shipped> {
    let mut schemas = Vec::new();
    for (ns, text) in SCHEMAS {
        let v: Value =
            serde_json::from_str(text).map_err(|e| anyhow::anyhow!("schemas/{ns}.json: {e}"))?;
        Schema::compile(&v).map_err(|e| anyhow::anyhow!("schemas/{ns}.json: {e}"))?;
        schemas.push((*ns, v));
    }
    let mut docs = Vec::new();
    for (ns, key, text) in DEFAULTS {
        let value =
            yaml::parse_yaml(text).map_err(|e| anyhow::anyhow!("defaults/{ns}/{key}.yaml: {e}"))?;
        let schema = schemas
            .iter()
            .find(|(n, _)| n == ns)
            .ok_or_else(|| anyhow::anyhow!("defaults/{ns}/{key}.yaml: no schemas/{ns}.json"))?;
        let violations = Schema::compile(&schema.1)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .check(&value);
        if let Some(v) = violations.first() {
            anyhow::bail!(
                "defaults/{ns}/{key}.yaml at {} ({}): {}",
                v.path,
                v.rule,
                v.message
            );
        }
        docs.push((*ns, *key, value));
    }
    Ok((schemas, docs))
}

/// The seed hook `fleet migrate` runs (owner connection).
pub fn run(pool: PgPool) -> BoxFuture<anyhow::Result<()>> {
    Box::pin(async move {
        let (schemas, docs) = parsed()?;
        let db = Db::new(pool, crate::SERVICE.name);
        // The platform's own work: its layers have no organisation.
        let mut uow = db
            .begin(Scope::system())
            .await
            .map_err(|p| anyhow::anyhow!("{p:?}"))?;
        for (ns, schema) in schemas {
            sqlx::query(
                "INSERT INTO schemas (namespace, schema) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(ns)
            .bind(schema)
            .execute(&mut *uow)
            .await?;
        }
        let slot = Slot {
            layer: Layer::Default,
            scope: String::new(),
            organization_id: None,
        };
        for (ns, key, value) in docs {
            let exists = rows::current(&mut uow, ns, key, &slot)
                .await
                .map_err(|p| anyhow::anyhow!("{p:?}"))?
                .is_some();
            if exists {
                continue;
            }
            rows::write(
                &mut uow,
                rows::NewVersion {
                    namespace: ns,
                    key,
                    slot: &slot,
                    value,
                    format: "yaml",
                    message: Some("shipped default".into()),
                    restored_from: None,
                    author: None,
                },
            )
            .await
            .map_err(|p| anyhow::anyhow!("seeding {ns}/{key}: {p:?}"))?;
        }
        uow.commit().await.map_err(|p| anyhow::anyhow!("{p:?}"))?;
        Ok(())
    })
}
