//! Notes: create, list, read, update — the resource module a new service copies. Each handler
//! parses typed input (invalid fields never reach it), runs one unit of work (scope, queries,
//! event, audit, commit) and answers.
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use kit::{
    Json, Origin, Problem, Query, Timestamp,
    auth::Principal,
    contracts::events::v1,
    input::{Limit, OptText, PageNo, Text},
    store::ConstraintExt,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    AppState,
    audit::Entry,
    problems,
    rules::{self, NoteStatus},
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, update))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Note {
    pub note_id: Uuid,
    pub organization_id: Uuid,
    pub title: String,
    pub body: Option<String>,
    pub status: NoteStatus,
    pub created_by: Option<Uuid>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The columns of a [`Note`], by name (a literal, so queries stay literal SQL).
macro_rules! note_columns {
    () => {
        "id AS note_id, organization_id, title, body, status, created_by, created_at, updated_at"
    };
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    pub title: Text<1, 200>,
    #[serde(default)]
    pub body: OptText<10_000>,
}

/// Create a note in the caller's organisation.
#[utoipa::path(post, path = "/api/v1/notes", tag = "notes", request_body = NewNote,
    security(("bearer" = [])),
    responses((status = 201, body = Note), (status = 409, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
async fn create(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Json(new): Json<NewNote>,
) -> Result<(StatusCode, Json<Note>), Problem> {
    let org = p.require_org()?;
    let mut uow = s.db.begin_for(&p).await?.from(&origin);
    let note: Note = sqlx::query_as(concat!("INSERT INTO notes (id, organization_id, title, body, created_by) VALUES ($1, $2, $3, $4, $5) \
         RETURNING ", note_columns!(), ""))
    .bind(Uuid::now_v7())
    .bind(org)
    .bind(new.title.as_str())
    .bind(new.body.as_deref())
    .bind(p.user_id)
    .fetch_one(&mut *uow)
    .await
    .on_constraint("notes_title_unique", || {
        problems::TITLE_TAKEN.with("a note with this title exists")
    })?;
    uow.emit(
        org,
        note.note_id,
        &v1::NoteCreated {
            note_id: note.note_id.to_string(),
            organization_id: org.to_string(),
            title: note.title.clone(),
            created_by: p.user_id.to_string(),
        },
    )
    .await?;
    uow.audit(Entry {
        action: "note_created",
        organization_id: org,
        note_id: note.note_id,
    })
    .await?;
    uow.commit().await?;
    Ok((StatusCode::CREATED, Json(note)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only notes of this status.
    #[serde(default)]
    pub status: Option<NoteStatus>,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: PageNo,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Limit<20, 100>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotePage {
    pub notes: Vec<Note>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// The caller's organisation's notes, newest first.
#[utoipa::path(get, path = "/api/v1/notes", tag = "notes", params(ListQuery),
    security(("bearer" = [])), responses((status = 200, body = NotePage)))]
async fn list(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<NotePage>, Problem> {
    p.require_org()?;
    // No organisation filter: the unit's scope is the caller's organisation and RLS binds it.
    let mut uow = s.db.begin_for(&p).await?;
    let notes: Vec<Note> = sqlx::query_as(concat!(
        "SELECT ",
        note_columns!(),
        " FROM notes WHERE ($1::text IS NULL OR status = $1) \
         ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
    ))
    .bind(q.status)
    .bind(q.limit.as_i64())
    .bind(q.page.offset(q.limit.get()))
    .fetch_all(&mut *uow)
    .await?;
    let total: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notes WHERE ($1::text IS NULL OR status = $1)")
            .bind(q.status)
            .fetch_one(&mut *uow)
            .await?;
    uow.commit().await?;
    Ok(Json(NotePage {
        notes,
        total,
        page: q.page.get(),
        per_page: q.limit.get(),
    }))
}

/// One note.
#[utoipa::path(get, path = "/api/v1/notes/{note_id}", tag = "notes",
    params(("note_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Note), (status = 404, body = kit::ProblemBody)))]
async fn read(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<Note>, Problem> {
    p.require_org()?;
    let mut uow = s.db.begin_for(&p).await?;
    let note = load(&mut uow, id).await?;
    uow.commit().await?;
    Ok(Json(note))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteChange {
    #[serde(default)]
    pub title: Option<Text<1, 200>>,
    #[serde(default)]
    pub body: OptText<10_000>,
    #[serde(default)]
    pub status: Option<NoteStatus>,
}

/// Change a note's title, body or status (open ↔ done).
#[utoipa::path(patch, path = "/api/v1/notes/{note_id}", tag = "notes",
    params(("note_id" = Uuid, Path)), request_body = NoteChange, security(("bearer" = [])),
    responses((status = 200, body = Note), (status = 404, body = kit::ProblemBody),
              (status = 409, body = kit::ProblemBody), (status = 422, body = kit::ProblemBody)))]
async fn update(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Path(id): Path<Uuid>,
    Json(change): Json<NoteChange>,
) -> Result<Json<Note>, Problem> {
    let org = p.require_org()?;
    let mut uow = s.db.begin_for(&p).await?.from(&origin);
    // Locked: two concurrent changes of one note apply one after the other, each checking the
    // transition from the status the other left.
    let current = load_for_update(&mut uow, id).await?;
    if current.status == NoteStatus::Archived {
        return Err(problems::NOTE_ARCHIVED.with("this note is archived"));
    }
    if let Some(to) = change.status
        && !rules::may_move(current.status, to)
    {
        return Err(problems::STATUS_TRANSITION.with(format!(
            "status: a note cannot move from {:?} to {:?}",
            current.status, to
        )));
    }
    let note: Note = sqlx::query_as(concat!(
        "UPDATE notes SET title = coalesce($2, title), body = coalesce($3, body), \
         status = coalesce($4, status), updated_at = now() WHERE id = $1 RETURNING ",
        note_columns!(),
        ""
    ))
    .bind(id)
    .bind(change.title.as_deref())
    .bind(change.body.as_deref())
    .bind(change.status)
    .fetch_one(&mut *uow)
    .await
    .on_constraint("notes_title_unique", || {
        problems::TITLE_TAKEN.with("a note with this title exists")
    })?;
    uow.audit(Entry {
        action: "note_updated",
        organization_id: org,
        note_id: id,
    })
    .await?;
    uow.commit().await?;
    Ok(Json(note))
}

async fn load(conn: &mut kit::sqlx::PgConnection, id: Uuid) -> Result<Note, Problem> {
    sqlx::query_as(concat!(
        "SELECT ",
        note_columns!(),
        " FROM notes WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| Problem::not_found("note"))
}

async fn load_for_update(conn: &mut kit::sqlx::PgConnection, id: Uuid) -> Result<Note, Problem> {
    sqlx::query_as(concat!(
        "SELECT ",
        note_columns!(),
        " FROM notes WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| Problem::not_found("note"))
}
