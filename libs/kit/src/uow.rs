//! A unit of work per request: one value that holds the RLS-scoped transaction, on which a
//! handler emits events (written to the outbox), records audit entries and registers effects
//! to run after the commit (mail, cache invalidation). The state change, its events and its
//! audit rows commit together or not at all; the after-commit effects run only once the commit
//! succeeded.
//!
//! ```ignore
//! let mut uow = s.db.begin_for(&p).await?.from(&origin);
//! sqlx::query("UPDATE …").execute(&mut *uow).await?;
//! uow.emit(org, id, &v1::MemberRemoved { … }).await?;
//! uow.audit(Entry::new("member_removed").resource("user", id)).await?;
//! uow.after_commit(async move { cache.forget(id).await });
//! uow.commit().await?;
//! ```
use std::{
    future::Future,
    ops::{Deref, DerefMut},
    pin::Pin,
};

use auth::Principal;
use axum::extract::FromRequestParts;
use contracts::events::Event;
use problem::Problem;
use sqlx::PgConnection;
use store::{PgPool, PrincipalType, Scope, Tx, outbox};
use uuid::Uuid;

use crate::http::{ClientIp, UserAgent};

/// Where a request came from: the client's address and user agent (for audit records).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: String,
    pub user_agent: Option<String>,
}

impl Origin {
    /// Work the service does on its own (jobs, consumers).
    pub fn system() -> Self {
        Origin {
            ip: "system".into(),
            user_agent: None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let UserAgent(user_agent) = UserAgent::from_request_parts(parts, state).await?;
        Ok(Origin { ip, user_agent })
    }
}

/// Who acts in a unit of work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actor {
    /// The user (client or agent login) the request authenticates as.
    pub user_id: Option<Uuid>,
    /// The agent profile, when the user is a platform agent.
    pub agent_id: Option<Uuid>,
    /// The user actually acting when the token is delegated (RFC 8693 `act`).
    pub act: Option<Uuid>,
}

impl Actor {
    pub fn of(p: &Principal) -> Self {
        Actor {
            user_id: Some(p.user_id),
            agent_id: p.agent.as_ref().map(|a| a.agent_id),
            act: p.act,
        }
    }
}

/// What an audit entry is written with, besides its own fields.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub actor: Actor,
    pub origin: Origin,
    pub scope: Scope,
}

/// A service's audit entry: it knows its own table. Written by [`Uow::audit`] in the unit's
/// transaction.
pub trait Audit: Send {
    fn write<'a>(
        self,
        conn: &'a mut PgConnection,
        ctx: &'a AuditContext,
    ) -> impl Future<Output = Result<(), Problem>> + Send + 'a;
}

type Effect = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A service's database: its pool and its name as the source of the events it emits.
#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
    source: &'static str,
}

impl Db {
    pub fn new(pool: PgPool, source: &'static str) -> Self {
        Db { pool, source }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn source(&self) -> &'static str {
        self.source
    }

    /// A unit of work in `scope`.
    pub async fn begin(&self, scope: Scope) -> Result<Uow, Problem> {
        let tx = store::begin(&self.pool, scope).await?;
        Ok(self.unit(tx, scope))
    }

    /// A read-only unit of work in `scope` (`BEGIN READ ONLY`): what a GET runs in. It takes
    /// no locks for writing and flushes nothing at commit; a write attempted in it fails.
    pub async fn read(&self, scope: Scope) -> Result<Uow, Problem> {
        let tx = store::begin_read(&self.pool, scope).await?;
        Ok(self.unit(tx, scope))
    }

    /// [`Db::read`] in the caller's scope, as [`Db::begin_for`] chooses it.
    pub async fn read_for(&self, p: &Principal) -> Result<Uow, Problem> {
        Ok(self.read(Self::scope_of(p)).await?.by(p))
    }

    fn unit(&self, tx: Tx, scope: Scope) -> Uow {
        Uow {
            tx,
            source: self.source,
            ctx: AuditContext {
                actor: Actor::default(),
                origin: Origin::system(),
                scope,
            },
            effects: Vec::new(),
        }
    }

    /// A unit of work for the caller: a client sees its own organisation only (no
    /// organisation in the token: nothing tenant-scoped is visible); an agent works across
    /// the organisations it serves, in its token's organisation context if any.
    pub async fn begin_for(&self, p: &Principal) -> Result<Uow, Problem> {
        Ok(self.begin(Self::scope_of(p)).await?.by(p))
    }

    fn scope_of(p: &Principal) -> Scope {
        if p.is_agent() {
            Scope::agent(p.organization_id)
        } else {
            Scope {
                organization_id: p.organization_id,
                principal: PrincipalType::Client,
            }
        }
    }

    /// The service's own work, across tenants (jobs, consumers, and requests whose
    /// authorisation is checked in the handler before any tenant row is read).
    pub async fn system(&self) -> Result<Uow, Problem> {
        self.begin(Scope::system()).await
    }
}

/// One request's (or job step's) transaction with its events, audit entries and after-commit
/// effects. Dropped without [`Uow::commit`], it rolls back and runs no effect.
pub struct Uow {
    tx: Tx,
    source: &'static str,
    ctx: AuditContext,
    effects: Vec<Effect>,
}

impl Uow {
    /// Records `p` as the actor of what follows.
    pub fn by(mut self, p: &Principal) -> Self {
        self.ctx.actor = Actor::of(p);
        self
    }

    /// Records an explicit actor.
    pub fn by_actor(mut self, actor: Actor) -> Self {
        self.ctx.actor = actor;
        self
    }

    /// Records where the request came from.
    pub fn from(mut self, origin: &Origin) -> Self {
        self.ctx.origin = origin.clone();
        self
    }

    pub fn scope(&self) -> Scope {
        self.ctx.scope
    }

    pub fn actor(&self) -> Actor {
        self.ctx.actor
    }

    pub fn origin(&self) -> &Origin {
        &self.ctx.origin
    }

    /// Narrows or changes the RLS context (e.g. once the tenant of a system step is known).
    pub async fn set_scope(&mut self, scope: Scope) -> Result<(), Problem> {
        store::set_scope(&mut self.tx, scope).await?;
        self.ctx.scope = scope;
        Ok(())
    }

    /// The transaction, for helpers written against `store::Tx`.
    pub fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// Writes `event` about `subject` in organisation `org` to the outbox; it is published
    /// after the commit (source, id, time, trace context and key filled in). Returns its id.
    pub async fn emit<E: Event>(
        &mut self,
        org: Uuid,
        subject: impl ToString,
        event: &E,
    ) -> Result<Uuid, Problem> {
        Ok(outbox::publish(&mut self.tx, self.source, org, subject, event).await?)
    }

    /// [`Uow::emit`] in the unit's own organisation.
    pub async fn emit_here<E: Event>(
        &mut self,
        subject: impl ToString,
        event: &E,
    ) -> Result<Uuid, Problem> {
        let org = self.ctx.scope.organization_id.ok_or_else(|| {
            Problem::internal("an event emitted without an organisation in scope")
        })?;
        self.emit(org, subject, event).await
    }

    /// Writes an audit entry with the unit's actor, origin and scope.
    pub async fn audit<A: Audit>(&mut self, entry: A) -> Result<(), Problem> {
        entry.write(&mut self.tx, &self.ctx).await
    }

    /// Runs `effect` once the commit has succeeded (mail, cache invalidation). Effects run in
    /// the order registered; they are not run when the unit rolls back or the commit fails.
    pub fn after_commit(&mut self, effect: impl Future<Output = ()> + Send + 'static) {
        self.effects.push(Box::pin(effect));
    }

    /// Commits the state change with its events and audit rows, then runs the effects.
    pub async fn commit(self) -> Result<(), Problem> {
        let Uow { tx, effects, .. } = self;
        tx.commit().await.map_err(Problem::from)?;
        for e in effects {
            e.await;
        }
        Ok(())
    }

    /// Rolls back explicitly (dropping does the same).
    pub async fn rollback(self) -> Result<(), Problem> {
        self.tx.rollback().await.map_err(Problem::from)
    }
}

impl Deref for Uow {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for Uow {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

/// What domain code shared by request handlers and event consumers writes through: queries on
/// the connection (`.execute(&mut *w)`), events and audit entries. A request's [`Uow`] is one; a
/// consumer's transaction, taken with [`Db::within`], is the other.
pub trait Work: DerefMut<Target = PgConnection> + Send {
    /// Writes `event` to the outbox, as [`Uow::emit`].
    fn emit<E: Event>(
        &mut self,
        org: Uuid,
        subject: impl ToString + Send,
        event: &E,
    ) -> impl Future<Output = Result<Uuid, Problem>> + Send;

    /// Writes an audit entry, as [`Uow::audit`].
    fn audit<A: Audit>(&mut self, entry: A) -> impl Future<Output = Result<(), Problem>> + Send;
}

impl Work for Uow {
    fn emit<E: Event>(
        &mut self,
        org: Uuid,
        subject: impl ToString + Send,
        event: &E,
    ) -> impl Future<Output = Result<Uuid, Problem>> + Send {
        Uow::emit(self, org, subject, event)
    }

    fn audit<A: Audit>(&mut self, entry: A) -> impl Future<Output = Result<(), Problem>> + Send {
        Uow::audit(self, entry)
    }
}

/// A unit of work in a transaction its caller owns and commits — an event consumer's, whose
/// effect commits with the record of the handled event. Events and audit entries as in a
/// [`Uow`] (system actor and origin); no after-commit effects.
pub struct Within<'t> {
    tx: &'t mut Tx,
    source: &'static str,
    ctx: AuditContext,
}

impl Db {
    /// `tx` (a consumer's transaction) as a unit of work in `scope`, which is set on it now. A
    /// failure is the store's, so a consumer keeps telling a database outage from a bad event.
    pub async fn within<'t>(
        &self,
        tx: &'t mut Tx,
        scope: Scope,
    ) -> Result<Within<'t>, store::StoreError> {
        store::set_scope(tx, scope).await?;
        Ok(Within {
            tx,
            source: self.source,
            ctx: AuditContext {
                actor: Actor::default(),
                origin: Origin::system(),
                scope,
            },
        })
    }
}

impl Work for Within<'_> {
    async fn emit<E: Event>(
        &mut self,
        org: Uuid,
        subject: impl ToString + Send,
        event: &E,
    ) -> Result<Uuid, Problem> {
        Ok(outbox::publish(self.tx, self.source, org, subject, event).await?)
    }

    fn audit<A: Audit>(&mut self, entry: A) -> impl Future<Output = Result<(), Problem>> + Send {
        entry.write(self.tx, &self.ctx)
    }
}

impl Deref for Within<'_> {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.tx
    }
}

impl DerefMut for Within<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.tx
    }
}
