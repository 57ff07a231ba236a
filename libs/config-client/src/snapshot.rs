//! What the config service sends its clients: a snapshot of the watched namespaces and every
//! flag, then updates, each with the revision it brings the copy to.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{flags::FlagDef, layers::Layer};

/// One layer of one document, at its current version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentLayer {
    pub namespace: String,
    pub key: String,
    pub layer: Layer,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub organization_id: Option<String>,
    pub version: i32,
    pub value: Value,
}

impl DocumentLayer {
    /// Whether `other` is the same layer of the same document (another version of it).
    pub fn same_slot(&self, other: &DocumentLayer) -> bool {
        self.namespace == other.namespace
            && self.key == other.key
            && self.layer == other.layer
            && self.scope == other.scope
            && self.organization_id == other.organization_id
    }
}

/// A flag at its current version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagEntry {
    pub key: String,
    pub version: i32,
    pub definition: FlagDef,
}

/// Everything a client holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub revision: i64,
    /// Namespace → its JSON Schema.
    #[serde(default)]
    pub schemas: BTreeMap<String, Value>,
    /// Namespace → the revision of its schema (config counts each namespace's schema writes).
    #[serde(default)]
    pub schema_revisions: BTreeMap<String, i32>,
    #[serde(default)]
    pub documents: Vec<DocumentLayer>,
    #[serde(default)]
    pub flags: Vec<FlagEntry>,
}

impl Snapshot {
    /// Keeps from `held` every schema, document layer and flag newer than this snapshot's version of
    /// it, and the higher revision: a snapshot taken before changes another feed has already
    /// applied does not take them back.
    pub fn keep_newer(&mut self, held: &Snapshot) {
        for d in &held.documents {
            if let Some(mine) = self.documents.iter_mut().find(|x| x.same_slot(d))
                && mine.version < d.version
            {
                *mine = d.clone();
            }
        }
        for (ns, held_revision) in &held.schema_revisions {
            let mine = self.schema_revisions.get(ns).copied().unwrap_or(0);
            if let Some(schema) = held.schemas.get(ns)
                && mine < *held_revision
            {
                self.schemas.insert(ns.clone(), schema.clone());
                self.schema_revisions.insert(ns.clone(), *held_revision);
            }
        }
        for f in &held.flags {
            if let Some(mine) = self.flags.iter_mut().find(|x| x.key == f.key)
                && mine.version < f.version
            {
                *mine = f.clone();
            }
        }
        self.revision = self.revision.max(held.revision);
    }
}

/// One change after a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Update {
    Document {
        document: DocumentLayer,
    },
    Flag {
        flag: FlagEntry,
    },
    Schema {
        namespace: String,
        schema: Value,
        /// The schema's revision (0 in a change logged before schemas carried one).
        #[serde(default)]
        revision: i32,
    },
}

impl Update {
    /// The namespace the update concerns (flags concern every client).
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Update::Document { document } => Some(&document.namespace),
            Update::Schema { namespace, .. } => Some(namespace),
            Update::Flag { .. } => None,
        }
    }
}
