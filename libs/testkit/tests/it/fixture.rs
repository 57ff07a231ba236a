//! Fixture services on the sample's `things` table: one that keeps tenants apart, and one with
//! a route that leaks another tenant's row and one that tells whether it exists.
use kit::{
    Json, Parts, Problem, ServiceDef,
    auth::Principal,
    axum::{
        extract::{Path, State},
        http::StatusCode,
    },
    service::BoxFuture,
    sqlx,
    store::{self, Scope},
    utoipa, utoipa_axum,
};
use serde::Deserialize;
use testkit::sample::{NewThing, SERVICE as SAMPLE, Thing};
use uuid::Uuid;

/// Create, read and rename things; every query under the caller's tenant.
pub static HONEST: ServiceDef = ServiceDef {
    name: "honest-things",
    build: honest,
    ..SAMPLE
};

/// [`HONEST`] plus `GET /api/v1/things/{id}/leaky` (reads across tenants and answers the row)
/// and `GET /api/v1/things/{id}/exists` (403 for another tenant's row, 404 for none).
pub static LEAKY: ServiceDef = ServiceDef {
    name: "leaky-things",
    build: leaky,
    ..SAMPLE
};

#[derive(Clone)]
struct St {
    db: store::PgPool,
}

type Answer<T> = Result<Json<T>, Problem>;

/// Create a thing in the caller's organisation.
#[utoipa::path(post, path = "/api/v1/things", request_body = NewThing,
    responses((status = 201, body = Thing)))]
async fn create(
    State(s): State<St>,
    p: Principal,
    Json(new): Json<NewThing>,
) -> Result<(StatusCode, Json<Thing>), Problem> {
    let org = p.require_org()?;
    let id = Uuid::new_v4();
    let mut tx = store::tenant_tx(&s.db, org).await?;
    sqlx::query("INSERT INTO things (id, organization_id, name, quantity) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(org)
        .bind(&new.name)
        .bind(new.quantity)
        .execute(&mut *tx)
        .await?;
    tx.commit().await.map_err(Problem::from)?;
    Ok((
        StatusCode::CREATED,
        Json(Thing {
            id,
            name: new.name,
            quantity: new.quantity,
        }),
    ))
}

async fn load(tx: &mut store::Tx, id: Uuid) -> Result<Option<Thing>, Problem> {
    let row: Option<(Uuid, String, i32)> =
        sqlx::query_as("SELECT id, name, quantity FROM things WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(id, name, quantity)| Thing { id, name, quantity }))
}

/// Read one thing of the caller's organisation.
#[utoipa::path(get, path = "/api/v1/things/{id}", params(("id" = Uuid, Path)),
    responses((status = 200, body = Thing), (status = 404, body = kit::ProblemBody)))]
async fn read(State(s): State<St>, p: Principal, Path(id): Path<Uuid>) -> Answer<Thing> {
    let mut tx = store::tenant_tx(&s.db, p.require_org()?).await?;
    Ok(Json(
        load(&mut tx, id)
            .await?
            .ok_or_else(|| Problem::not_found("thing"))?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

/// Rename one thing of the caller's organisation (the body is checked first).
#[utoipa::path(patch, path = "/api/v1/things/{id}", params(("id" = Uuid, Path)), request_body = Rename,
    responses((status = 200, body = Thing), (status = 404, body = kit::ProblemBody)))]
async fn rename(
    State(s): State<St>,
    p: Principal,
    Path(id): Path<Uuid>,
    Json(r): Json<Rename>,
) -> Answer<Thing> {
    let mut tx = store::tenant_tx(&s.db, p.require_org()?).await?;
    let row: Option<(Uuid, String, i32)> =
        sqlx::query_as("UPDATE things SET name = $2 WHERE id = $1 RETURNING id, name, quantity")
            .bind(id)
            .bind(&r.name)
            .fetch_optional(&mut *tx)
            .await?;
    let (id, name, quantity) = row.ok_or_else(|| Problem::not_found("thing"))?;
    tx.commit().await.map_err(Problem::from)?;
    Ok(Json(Thing { id, name, quantity }))
}

/// Deliberately wrong: reads across tenants and answers any organisation's thing.
#[utoipa::path(get, path = "/api/v1/things/{id}/leaky", params(("id" = Uuid, Path)),
    responses((status = 200, body = Thing)))]
async fn leaky_read(State(s): State<St>, p: Principal, Path(id): Path<Uuid>) -> Answer<Thing> {
    p.require_org()?;
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    Ok(Json(
        load(&mut tx, id)
            .await?
            .ok_or_else(|| Problem::not_found("thing"))?,
    ))
}

/// Deliberately wrong: 403 for another organisation's thing, 404 when there is none.
#[utoipa::path(get, path = "/api/v1/things/{id}/exists", params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn exists(State(s): State<St>, p: Principal, Path(id): Path<Uuid>) -> Result<(), Problem> {
    let org = p.require_org()?;
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let owner: Option<Uuid> =
        sqlx::query_scalar("SELECT organization_id FROM things WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match owner {
        Some(o) if o == org => Ok(()),
        Some(_) => Err(Problem::forbidden("not yours")),
        None => Err(Problem::not_found("thing")),
    }
}

fn routes() -> utoipa_axum::router::OpenApiRouter<St> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(create))
        .routes(utoipa_axum::routes!(read, rename))
}

fn honest(ctx: kit::Ctx) -> BoxFuture<anyhow::Result<Parts>> {
    Box::pin(async move { Ok(Parts::new(routes().with_state(St { db: ctx.db }))) })
}

fn leaky(ctx: kit::Ctx) -> BoxFuture<anyhow::Result<Parts>> {
    Box::pin(async move {
        let router = routes()
            .routes(utoipa_axum::routes!(leaky_read))
            .routes(utoipa_axum::routes!(exists))
            .with_state(St { db: ctx.db });
        Ok(Parts::new(router))
    })
}

/// A fixture service with two tenants: A's token, and B's thing (with a name of its own).
pub struct Tenants {
    pub t: testkit::Svc,
    pub a: String,
    pub b: String,
    pub b_thing: Uuid,
    pub b_name: String,
}

pub async fn tenants(def: &'static ServiceDef) -> anyhow::Result<Tenants> {
    let t = testkit::Svc::start(def).await?;
    let a = t.tokens.client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    let b = t.tokens.client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    let b_name = testkit::unique("secret-of-b");
    let thing = t
        .post("/api/v1/things")
        .bearer(&b)
        .json(serde_json::json!({"name": b_name, "quantity": 3}))
        .expect(201)
        .await;
    let b_thing = thing["id"].as_str().unwrap_or_default().parse()?;
    Ok(Tenants {
        t,
        a,
        b,
        b_thing,
        b_name,
    })
}
