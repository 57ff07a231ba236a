//! The local copy: documents indexed by namespace and key, flags by key, schemas compiled. It
//! is immutable; a change builds a new one and publishes it on a watch channel, so readers
//! never wait on a writer and a flag evaluation is a map lookup and a hash.
use std::{collections::HashMap, sync::Arc};

use crate::{
    flags::{Context, Evaluation, Reason},
    layers::{self, Layer, Merged, Source},
    schema::{Schema, Violation},
    snapshot::{DocumentLayer, FlagEntry, Snapshot, Update},
};

/// Which layers apply: the organisation, its tier and its environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub organization_id: Option<String>,
    pub tier: Option<String>,
    pub environment: Option<String>,
}

/// A validated, indexed snapshot.
#[derive(Debug, Default)]
pub struct Copy {
    snapshot: Snapshot,
    documents: HashMap<(String, String), Vec<usize>>,
    flags: HashMap<String, usize>,
    schemas: HashMap<String, Arc<Schema>>,
}

/// Why a snapshot or an update was refused (the copy keeps what it had).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("schema of {namespace} does not compile: {reason}")]
    Schema { namespace: String, reason: String },
    #[error("{namespace}/{key} ({layer:?}) breaks its schema: {violations:?}")]
    Invalid {
        namespace: String,
        key: String,
        layer: Layer,
        violations: Vec<Violation>,
    },
}

impl Copy {
    /// Indexes and checks `snapshot`: every schema compiles and every document layer, merged
    /// over the default layer, conforms to its namespace's schema.
    pub fn build(snapshot: Snapshot) -> Result<Copy, Refused> {
        let mut schemas = HashMap::new();
        for (ns, s) in &snapshot.schemas {
            let compiled = Schema::compile(s).map_err(|reason| Refused::Schema {
                namespace: ns.clone(),
                reason,
            })?;
            schemas.insert(ns.clone(), Arc::new(compiled));
        }
        let mut copy = Copy {
            snapshot,
            schemas,
            ..Copy::default()
        };
        copy.reindex();
        for d in &copy.snapshot.documents {
            copy.check(d)?;
        }
        Ok(copy)
    }

    fn reindex(&mut self) {
        self.documents.clear();
        for (i, d) in self.snapshot.documents.iter().enumerate() {
            self.documents
                .entry((d.namespace.clone(), d.key.clone()))
                .or_default()
                .push(i);
        }
        self.flags = (self.snapshot.flags.iter().enumerate())
            .map(|(i, f)| (f.key.clone(), i))
            .collect();
    }

    fn check(&self, d: &DocumentLayer) -> Result<(), Refused> {
        let Some(schema) = self.schemas.get(&d.namespace) else {
            return Ok(());
        };
        let merged = if d.layer == Layer::Default {
            d.value.clone()
        } else {
            let base = self.layer_doc(&d.namespace, &d.key, |x| x.layer == Layer::Default);
            let base = base.map(|b| (source(b), &b.value));
            layers::merge(base.into_iter().chain([(source(d), &d.value)])).value
        };
        let violations = schema.check(&merged);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(Refused::Invalid {
                namespace: d.namespace.clone(),
                key: d.key.clone(),
                layer: d.layer,
                violations,
            })
        }
    }

    /// The version the copy holds of what `update` replaces (a document layer or a flag);
    /// `None` when it holds none.
    pub fn held(&self, update: &Update) -> Option<i32> {
        match update {
            Update::Document { document: d } => self.layer_version(
                &d.namespace,
                &d.key,
                d.layer,
                &d.scope,
                d.organization_id.as_deref(),
            ),
            Update::Flag { flag } => self.flag(&flag.key).map(|f| f.version),
            Update::Schema { namespace, .. } => self.schema_revision(namespace),
        }
    }

    /// The revision of the schema the copy holds for `namespace`; `None` when it holds none
    /// (or one from before schemas carried a revision).
    pub fn schema_revision(&self, namespace: &str) -> Option<i32> {
        self.snapshot.schema_revisions.get(namespace).copied()
    }

    /// The version the copy holds of one layer of a document.
    pub fn layer_version(
        &self,
        ns: &str,
        key: &str,
        layer: Layer,
        scope: &str,
        organization_id: Option<&str>,
    ) -> Option<i32> {
        self.layer_doc(ns, key, |x| {
            x.layer == layer && x.scope == scope && x.organization_id.as_deref() == organization_id
        })
        .map(|x| x.version)
    }

    /// Whether `update` is no newer than what the copy holds (applying it would go back).
    pub fn is_stale(&self, update: &Update) -> bool {
        let offered = match update {
            Update::Document { document } => document.version,
            Update::Flag { flag } => flag.version,
            // A change logged before schemas carried a revision is never taken for stale.
            Update::Schema { revision: 0, .. } => return false,
            Update::Schema { revision, .. } => *revision,
        };
        self.held(update).is_some_and(|held| held >= offered)
    }

    /// The copy with `update` applied, or why it is refused. The revision never goes back:
    /// an update applied late keeps the copy at the highest revision it has seen.
    pub fn with(&self, update: Update, revision: i64) -> Result<Copy, Refused> {
        let mut snapshot = self.snapshot.clone();
        snapshot.revision = snapshot.revision.max(revision);
        match update {
            Update::Document { document } => {
                snapshot.documents.retain(|d| !d.same_slot(&document));
                snapshot.documents.push(document);
            }
            Update::Flag { flag } => {
                snapshot.flags.retain(|f| f.key != flag.key);
                snapshot.flags.push(flag);
            }
            Update::Schema {
                namespace,
                schema,
                revision: of_schema,
            } => {
                if of_schema > 0 {
                    snapshot
                        .schema_revisions
                        .insert(namespace.clone(), of_schema);
                }
                snapshot.schemas.insert(namespace, schema);
            }
        }
        Copy::build(snapshot)
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn revision(&self) -> i64 {
        self.snapshot.revision
    }

    fn layer_doc(
        &self,
        ns: &str,
        key: &str,
        pick: impl Fn(&DocumentLayer) -> bool,
    ) -> Option<&DocumentLayer> {
        let idx = self.documents.get(&(ns.to_string(), key.to_string()))?;
        idx.iter()
            .map(|i| &self.snapshot.documents[*i])
            .find(|d| pick(d))
    }

    /// A document merged over the layers that apply to `target`, with its sources; `None`
    /// when no layer of it exists.
    pub fn effective(&self, ns: &str, key: &str, target: &Target) -> Option<Merged> {
        let idx = self.documents.get(&(ns.to_string(), key.to_string()))?;
        let mut found: Vec<&DocumentLayer> = idx
            .iter()
            .map(|i| &self.snapshot.documents[*i])
            .filter(|d| applies(d, target))
            .collect();
        if found.is_empty() {
            return None;
        }
        found.sort_by_key(|d| d.layer);
        Some(layers::merge(
            found.into_iter().map(|d| (source(d), &d.value)),
        ))
    }

    /// Evaluates flag `key` for `ctx` (unknown flag: off, reason `error`).
    pub fn evaluate(&self, key: &str, ctx: &Context) -> Evaluation {
        match self.flag(key) {
            Some(f) => f.definition.evaluate(key, ctx),
            None => Evaluation::off(Reason::Error),
        }
    }

    pub fn flag(&self, key: &str) -> Option<&FlagEntry> {
        self.flags.get(key).map(|i| &self.snapshot.flags[*i])
    }
}

fn source(d: &DocumentLayer) -> Source {
    Source {
        layer: d.layer,
        scope: d.scope.clone(),
        version: d.version,
    }
}

/// Whether layer `d` applies to `target`.
pub fn applies(d: &DocumentLayer, t: &Target) -> bool {
    match d.layer {
        Layer::Default => true,
        Layer::Tier => t.tier.as_deref() == Some(d.scope.as_str()),
        Layer::Tenant => d.organization_id.is_some() && d.organization_id == t.organization_id,
        Layer::Environment => {
            d.organization_id.is_some()
                && d.organization_id == t.organization_id
                && t.environment.as_deref() == Some(d.scope.as_str())
        }
    }
}
