//! Which layer of a document a request addresses, and who may write it: platform admins the
//! platform's layers (default, tier), an organisation's admins its own tenant and environment
//! layers (platform admins any organisation's). Another tenant's layer is not found, never
//! forbidden, as every id of another tenant.
use config_client::Layer;
use kit::{Problem, auth::Principal};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{names, problems};

/// A layer of a document: its layer, scope (tier or environment name) and organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub layer: Layer,
    pub scope: String,
    pub organization_id: Option<Uuid>,
}

/// How a request names the layer (query string of reads, fields of writes).
#[derive(Debug, Clone, Deserialize, IntoParams, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotQuery {
    /// `default`, `tier`, `tenant` (the default for organisation users) or `environment`.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    pub layer: Option<Layer>,
    /// The tier (tier layer) or environment (environment layer).
    #[serde(default)]
    pub scope: Option<String>,
    /// Platform agents: the organisation of a tenant or environment layer.
    #[serde(default)]
    pub organization_id: Option<Uuid>,
}

impl SlotQuery {
    /// The slot for `p`: clients address their own organisation's layers; agents name one.
    pub fn resolve(&self, p: &Principal) -> Result<Slot, Problem> {
        let layer = self.layer.unwrap_or(if p.is_agent() {
            Layer::Default
        } else {
            Layer::Tenant
        });
        let scope = match (&self.scope, layer.is_scoped()) {
            (Some(s), true) => names::scope(s)?,
            (None, true) => {
                return Err(Problem::invalid(
                    "scope",
                    format!("the {} layer needs a scope", layer.as_str()),
                ));
            }
            (Some(_), false) => {
                return Err(Problem::invalid(
                    "scope",
                    format!("the {} layer has no scope", layer.as_str()),
                ));
            }
            (None, false) => String::new(),
        };
        let organization_id = if layer.is_platform() {
            if self.organization_id.is_some() {
                return Err(Problem::invalid(
                    "organization_id",
                    "the platform's layers belong to no organisation",
                ));
            }
            None
        } else if p.is_agent() {
            Some(self.organization_id.or(p.organization_id).ok_or_else(|| {
                Problem::invalid("organization_id", "name the organisation of this layer")
            })?)
        } else {
            // A client's own organisation, whatever the query says: another one's id reaches
            // nothing (RLS would hide it anyway).
            match self.organization_id {
                Some(o) if Some(o) != p.organization_id => {
                    return Err(Problem::not_found("configuration layer"));
                }
                _ => Some(p.require_org()?),
            }
        };
        Ok(Slot {
            layer,
            scope,
            organization_id,
        })
    }
}

/// 403 unless `p` may write `slot`.
pub fn may_write(p: &Principal, slot: &Slot) -> Result<(), Problem> {
    if p.is_platform_admin() {
        return Ok(());
    }
    if slot.layer.is_platform() {
        return Err(problems::LAYER_FORBIDDEN.with(format!(
            "layer: the {} layer is the platform's; only platform admins write it",
            slot.layer.as_str()
        )));
    }
    let own = !p.is_agent() && slot.organization_id == p.organization_id;
    if own && matches!(p.role.as_str(), "admin" | "owner") {
        Ok(())
    } else {
        Err(problems::LAYER_FORBIDDEN.with(format!(
            "layer: only the organisation's admins write its {} layer",
            slot.layer.as_str()
        )))
    }
}

/// 403 unless `p` is a platform admin (schemas, flags).
pub fn require_platform_admin(p: &Principal, what: &str) -> Result<(), Problem> {
    if p.is_platform_admin() {
        Ok(())
    } else {
        Err(Problem::forbidden(format!(
            "only platform admins change {what}"
        )))
    }
}

impl Slot {
    /// `namespace/key@layer[:scope]`, for audit entries.
    pub fn describe(&self, ns: &str, key: &str) -> String {
        if self.scope.is_empty() {
            format!("{ns}/{key}@{}", self.layer.as_str())
        } else {
            format!("{ns}/{key}@{}:{}", self.layer.as_str(), self.scope)
        }
    }
}
