//! A small sample service for the kit's own tests and the benchmarks: tenant-scoped "things"
//! with a unique name per organisation, a handler whose query fails and one that panics.
use kit::{
    Ctx, Json, Parts, Problem, ServiceDef, Status,
    auth::Principal,
    axum::{extract::Path, http::StatusCode},
    service::BoxFuture,
    sqlx,
    store::{self, ConstraintExt},
    utoipa, utoipa_axum,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The sample service.
pub static SERVICE: ServiceDef = ServiceDef {
    name: "things",
    number: "t",
    summary: "a test service",
    status: Status::Built,
    http_port: 0,
    grpc_port: 0,
    database: "things",
    publishes: &[],
    consumes: &[],
    public_prefixes: &["/api/v1/things"],
    migrations: &MIGRATIONS,
    capabilities: kit::Capabilities::NONE,
    problems: &[],
    seed: None,
    callers: SAMPLE_CALLERS,
    build,
};

#[derive(Clone)]
struct State {
    db: store::PgPool,
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewThing {
    pub name: String,
    pub quantity: i32,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Thing {
    pub id: Uuid,
    pub name: String,
    pub quantity: i32,
}

/// Create a thing in the caller's organisation.
#[utoipa::path(post, path = "/api/v1/things", request_body = NewThing,
    responses((status = 201, body = Thing), (status = 409, body = kit::ProblemBody)))]
async fn create(
    kit::axum::extract::State(s): kit::axum::extract::State<State>,
    p: Principal,
    Json(new): Json<NewThing>,
) -> Result<(StatusCode, Json<Thing>), Problem> {
    let org = p.require_org()?;
    if new.name.trim().is_empty() {
        return Err(Problem::invalid("name", "must not be empty"));
    }
    let id = Uuid::new_v4();
    let mut tx = store::tenant_tx(&s.db, org).await?;
    sqlx::query("INSERT INTO things (id, organization_id, name, quantity) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(org)
        .bind(&new.name)
        .bind(new.quantity)
        .execute(&mut *tx)
        .await
        .on_constraint("things_name_unique", || {
            Problem::conflict("a thing with this name exists")
        })?;
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

/// Read one thing.
#[utoipa::path(get, path = "/api/v1/things/{id}", responses((status = 200, body = Thing)))]
async fn read(
    kit::axum::extract::State(s): kit::axum::extract::State<State>,
    p: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<Thing>, Problem> {
    let org = p.require_org()?;
    let mut tx = store::tenant_tx(&s.db, org).await?;
    // No organisation filter on purpose: RLS answers for it.
    let row: Option<(Uuid, String, i32)> =
        sqlx::query_as("SELECT id, name, quantity FROM things WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let (id, name, quantity) = row.ok_or_else(|| Problem::not_found("thing"))?;
    Ok(Json(Thing { id, name, quantity }))
}

/// A handler whose query fails.
#[utoipa::path(get, path = "/api/v1/things-broken", responses((status = 500)))]
async fn broken(
    kit::axum::extract::State(s): kit::axum::extract::State<State>,
) -> Result<String, Problem> {
    sqlx::query("SELECT secret_column FROM no_such_table")
        .execute(&s.db)
        .await?;
    Ok("unreachable".into())
}

/// Who the request acts as, as the kit's extractors see it: the agent's permissions and the
/// client address (what the edge's headers may change when signed).
#[utoipa::path(get, path = "/api/v1/things-whoami", responses((status = 200)))]
async fn whoami(p: Principal, ip: kit::ClientIp) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "permissions": p.agent.map(|a| a.permissions),
        "client_ip": ip.0,
    }))
}

/// An internal route (granted to the caller `reporter` only).
#[utoipa::path(get, path = "/api/v1/things-internal", tag = "internal", responses((status = 200)))]
async fn internal(c: kit::InternalCaller) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "caller": c.caller }))
}

/// Internal callers of the sample: `reporter` may call the internal route and gRPC
/// reflection; `auditor` is known but granted nothing.
pub static SAMPLE_CALLERS: &[kit::Grant] = &[
    kit::Grant {
        caller: "reporter",
        grpc: &["/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"],
        http: &["GET /api/v1/things-internal"],
    },
    kit::Grant::http("auditor", &[]),
];

/// A handler that panics.
#[utoipa::path(get, path = "/api/v1/things-panic", responses((status = 500)))]
async fn panics() -> &'static str {
    let v: Vec<u8> = Vec::new();
    #[allow(clippy::indexing_slicing)]
    let _ = v[3];
    "unreachable"
}

fn build(ctx: Ctx) -> BoxFuture<anyhow::Result<Parts>> {
    Box::pin(async move {
        let router = utoipa_axum::router::OpenApiRouter::new()
            .routes(utoipa_axum::routes!(create))
            .routes(utoipa_axum::routes!(read))
            .routes(utoipa_axum::routes!(broken))
            .routes(utoipa_axum::routes!(panics))
            .routes(utoipa_axum::routes!(whoami))
            .routes(utoipa_axum::routes!(internal))
            .with_state(State { db: ctx.db });
        Ok(Parts::new(router))
    })
}
