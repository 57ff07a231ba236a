//! The OpenAPI document a service publishes (`/openapi.json`, `fleet openapi`): what utoipa
//! generates from the handlers, finished by the kit so that it describes every answer the
//! service can give.
//!
//! - Every error answer is `application/problem+json` ([`problem::ProblemBody`]): a response
//!   documented with that body, or an error response documented without a body, is described
//!   with that content type (utoipa labels every body `application/json`).
//! - The answers the kit gives for any operation are documented on each one: 400, 413, 415 and
//!   422 where a JSON body or query string is read, 400 and 404 where a path parameter is, 401
//!   and 403 where a bearer token is required, 401 for internal endpoints (tag `internal`), 408
//!   (timeout), 500 and 503 everywhere. 405 belongs to the methods a path does not have, which
//!   have no operation to document it on.
//! - Parameters of an `IntoParams` type without `#[into_params(parameter_in = Query)]` come out
//!   of utoipa as required *path* parameters; one whose name is not in the path template is a
//!   query parameter and is moved there, optional (utoipa forced `required` for the path).
//! - `ProblemBody` (and `FieldError`) are in `components/schemas`, and the `bearer` security
//!   scheme operations refer to is defined.
//! - The problem catalogue — the kit's common types ([`problem::COMMON`]) and the service's own
//!   — is listed at the root as `x-problem-types` (`type` URI, status, title, when), its URIs as
//!   the `examples` of `ProblemBody.type`, and each error response names the types of its status.
//!
//! Longer than most modules: the finishing of a document is one pass over it, kept together so
//! each rule sees the others' results; nearly half is its unit tests.
use serde_json::{Map, Value, json};
use utoipa::{PartialSchema, ToSchema};

use problem::{ProblemBody, ProblemType};

/// The schema name of the problem body in `components/schemas`.
pub const PROBLEM_SCHEMA: &str = "ProblemBody";
const PROBLEM_REF: &str = "#/components/schemas/ProblemBody";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// The security scheme name the services' operations use for user tokens.
const BEARER: &str = "bearer";
/// How an error response's description names the problem types of its status.
const PROBLEM_TYPES_NOTE: &str = "problem types:";

/// The published document of a service built from its routes' OpenAPI.
pub fn document(
    openapi: utoipa::openapi::OpenApi,
    service: &str,
    summary: &str,
    problems: &[ProblemType],
) -> Value {
    let mut doc = serde_json::to_value(openapi).unwrap_or_else(|_| json!({}));
    finish(&mut doc, service, summary, problems);
    doc
}

/// The catalogue of a service: the kit's common types, then its own (a slug once).
pub fn catalogue(problems: &[ProblemType]) -> Vec<ProblemType> {
    let mut all: Vec<ProblemType> = Vec::new();
    for p in problem::COMMON.iter().chain(problems) {
        if !all.iter().any(|a| a.slug == p.slug) {
            all.push(*p);
        }
    }
    all
}

/// Finishes a generated document in place (see the module documentation). Idempotent.
pub fn finish(doc: &mut Value, service: &str, summary: &str, problems: &[ProblemType]) {
    let catalogue = catalogue(problems);
    if !doc.is_object() {
        *doc = json!({});
    }
    let root = doc.as_object_mut().expect("an object");
    root.entry("openapi").or_insert_with(|| json!("3.1.0"));
    root.insert(
        "info".into(),
        json!({
            "title": format!("{service} API"),
            "version": env!("CARGO_PKG_VERSION"),
            "description": summary,
        }),
    );
    let mut uses_bearer = false;
    for (path, item) in object(root, "paths").iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let template = template_params(path);
        for method in METHODS {
            if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                uses_bearer |= finish_operation(op, &template, &catalogue);
            }
        }
    }
    let components = object(root, "components");
    let schemas = object(components, "schemas");
    if !schemas.contains_key(PROBLEM_SCHEMA) {
        let mut nested = Vec::new();
        <ProblemBody as ToSchema>::schemas(&mut nested);
        for (name, schema) in nested {
            if let Ok(v) = serde_json::to_value(schema) {
                schemas.entry(name).or_insert(v);
            }
        }
        if let Ok(v) = serde_json::to_value(ProblemBody::schema()) {
            schemas.insert(PROBLEM_SCHEMA.into(), v);
        }
    }
    if let Some(type_) = schemas
        .get_mut(PROBLEM_SCHEMA)
        .and_then(|s| s.get_mut("properties"))
        .and_then(|p| p.get_mut("type"))
        .and_then(Value::as_object_mut)
    {
        type_.insert(
            "examples".into(),
            catalogue.iter().map(|p| json!(p.uri())).collect(),
        );
        type_
            .entry("description")
            .or_insert_with(|| json!("A URI of the catalogue in `x-problem-types`."));
    }
    root.insert(
        "x-problem-types".into(),
        catalogue
            .iter()
            .map(|p| {
                json!({
                    "type": p.uri(), "status": p.status, "title": p.title,
                    "description": p.description,
                })
            })
            .collect(),
    );
    let components = object(root, "components");
    if uses_bearer {
        object(components, "securitySchemes")
            .entry(BEARER)
            .or_insert_with(|| {
                json!({
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token from org-auth (RS256, verified against its JWKS).",
                })
            });
    }
}

/// `map[key]` as an object, made one when absent or something else.
fn object<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut().expect("an object")
}

/// The names in a path template: `/a/{id}/b/{other}` → `id`, `other`.
fn template_params(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

/// Finishes one operation; whether it requires the bearer scheme.
fn finish_operation(
    op: &mut Map<String, Value>,
    template: &[String],
    catalogue: &[ProblemType],
) -> bool {
    let params = op
        .entry("parameters")
        .or_insert_with(|| json!([]))
        .as_array_mut();
    let (mut path_params, mut other_params) = (false, false);
    if let Some(params) = params {
        for p in params.iter_mut() {
            let Some(p) = p.as_object_mut() else { continue };
            let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
            if p.get("in").and_then(Value::as_str) == Some("path")
                && !template.iter().any(|t| t == name)
            {
                p.insert("in".into(), json!("query"));
                p.insert("required".into(), json!(false));
            }
        }
        for name in template {
            let declared = params.iter().any(|p| {
                p.get("in").and_then(Value::as_str) == Some("path")
                    && p.get("name").and_then(Value::as_str) == Some(name)
            });
            if !declared {
                params.push(json!({
                    "name": name, "in": "path", "required": true,
                    "schema": {"type": "string"},
                }));
            }
        }
        for p in params.iter() {
            match p.get("in").and_then(Value::as_str) {
                Some("path") => path_params = true,
                Some(_) => other_params = true,
                None => {}
            }
        }
        if params.is_empty() {
            op.remove("parameters");
        }
    }
    let body = op.contains_key("requestBody");
    let bearer = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|reqs| {
            reqs.iter()
                .any(|r| r.as_object().is_some_and(|r| r.contains_key(BEARER)))
        });
    let internal = op
        .get("tags")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t == "internal"));

    let responses = object(op, "responses");
    for (status, response) in responses.iter_mut() {
        finish_response(status, response, catalogue);
    }
    let mut generic: Vec<u16> = Vec::new();
    if body || path_params || other_params {
        generic.push(400);
    }
    if bearer || internal {
        generic.push(401);
    }
    if bearer {
        generic.push(403);
    }
    if path_params {
        generic.push(404);
    }
    generic.push(408);
    if body {
        generic.extend([413, 415]);
    }
    if body || other_params {
        generic.push(422);
    }
    generic.extend([500, 503]);
    for status in generic {
        responses
            .entry(status.to_string())
            .or_insert_with(|| problem_response(status, catalogue));
    }
    bearer
}

/// An error answer as the kit gives it.
fn problem_response(status: u16, catalogue: &[ProblemType]) -> Value {
    let mut r = json!({"description": reason(status)});
    finish_response(&status.to_string(), &mut r, catalogue);
    r
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

fn is_problem_schema(schema: &Value) -> bool {
    schema.get("$ref").and_then(Value::as_str) == Some(PROBLEM_REF)
}

/// A response whose body is the problem body is `application/problem+json`; an error response
/// without a body gets one (the kit answers every error with it).
fn finish_response(status: &str, response: &mut Value, catalogue: &[ProblemType]) {
    let Some(r) = response.as_object_mut() else {
        return;
    };
    if r.contains_key("$ref") {
        return;
    }
    let code: Option<u16> = status.parse().ok();
    let error = code.is_some_and(|c| c >= 400) || matches!(status, "4XX" | "5XX");
    let description = r.get("description").and_then(Value::as_str);
    if description.is_none_or(str::is_empty)
        && let Some(c) = code
    {
        r.insert("description".into(), json!(reason(c)));
    }
    let content = object(r, "content");
    let problem_types: Vec<String> = content
        .iter()
        .filter(|(media, m)| {
            media.as_str() != problem::CONTENT_TYPE
                && m.get("schema").is_some_and(is_problem_schema)
        })
        .map(|(media, _)| media.clone())
        .collect();
    for media in problem_types {
        if let Some(m) = content.remove(&media) {
            content.entry(problem::CONTENT_TYPE).or_insert(m);
        }
    }
    if content.is_empty() {
        if error {
            content.insert(
                problem::CONTENT_TYPE.into(),
                json!({"schema": {"$ref": PROBLEM_REF}}),
            );
        } else {
            r.remove("content");
        }
    }
    let problem_body = r
        .get("content")
        .and_then(|c| c.get(problem::CONTENT_TYPE))
        .is_some();
    if problem_body && let Some(c) = code {
        let slugs: Vec<String> = catalogue
            .iter()
            .filter(|p| p.status == c)
            .map(|p| format!("`{}`", p.slug))
            .collect();
        let text = r
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !slugs.is_empty() && !text.contains(PROBLEM_TYPES_NOTE) {
            let text = format!("{text} ({PROBLEM_TYPES_NOTE} {})", slugs.join(", "));
            r.insert("description".into(), json!(text));
        }
    }
    let headers = match code {
        Some(401) => Some((
            "WWW-Authenticate",
            "`Bearer` when a token is missing or refused",
        )),
        Some(429) => Some(("Retry-After", "Seconds to wait before retrying")),
        _ => None,
    };
    if let Some((name, description)) = headers {
        object(r, "headers")
            .entry(name)
            .or_insert_with(|| json!({"description": description, "schema": {"type": "string"}}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated() -> Value {
        json!({
            "openapi": "3.1.0",
            "info": {"title": "utoipa-axum", "version": "0.3.0"},
            "paths": {
                "/api/v1/things": {
                    "post": {
                        "tags": ["things"],
                        "security": [{"bearer": []}],
                        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewThing"}}}, "required": true},
                        "responses": {
                            "201": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                            "409": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProblemBody"}}}},
                            "429": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProblemBody"}}}}
                        }
                    },
                    "get": {
                        "tags": ["things"],
                        "security": [{"bearer": []}],
                        "parameters": [
                            {"name": "status", "in": "path", "required": true, "schema": {"type": ["string", "null"]}},
                            {"name": "limit", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}
                        ],
                        "responses": {"200": {"description": ""}}
                    }
                },
                "/api/v1/things/{id}/permissions": {
                    "get": {
                        "tags": ["internal"],
                        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                        "responses": {
                            "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}},
                            "404": {"description": "gone"}
                        }
                    }
                },
                "/.well-known/jwks.json": {
                    "get": {"responses": {"200": {"description": "", "content": {"application/json": {"schema": {"type": "object"}}}}}}
                },
                "/api/v1/oauth/{provider}/authorize": {
                    "get": {"responses": {"302": {"description": "redirect"}}}
                }
            },
            "components": {"schemas": {"NewThing": {"type": "object"}, "Thing": {"type": "object"}}}
        })
    }

    const THING_ARCHIVED: ProblemType = ProblemType::new(
        409,
        "thing-archived",
        "Thing Archived",
        "An archived thing cannot change.",
    );

    fn finished() -> Value {
        let mut doc = generated();
        finish(
            &mut doc,
            "things",
            "Things and more things",
            &[THING_ARCHIVED],
        );
        doc
    }

    fn statuses(op: &Value) -> Vec<String> {
        let mut s: Vec<String> = op["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .cloned()
            .collect();
        s.sort();
        s
    }

    #[test]
    fn problem_bodies_are_problem_json() {
        let doc = finished();
        let post = &doc["paths"]["/api/v1/things"]["post"];
        for status in ["409", "429"] {
            let content = post["responses"][status]["content"]
                .as_object()
                .expect("content");
            assert_eq!(
                content.keys().collect::<Vec<_>>(),
                ["application/problem+json"],
                "{status}"
            );
            assert_eq!(
                content["application/problem+json"]["schema"]["$ref"],
                PROBLEM_REF
            );
            let description = post["responses"][status]["description"]
                .as_str()
                .expect("present");
            assert!(
                description.starts_with(reason(status.parse().expect("present"))),
                "{description}"
            );
        }
        // Success bodies keep their type.
        assert!(post["responses"]["201"]["content"]["application/json"].is_object());
        assert!(post["responses"]["429"]["headers"]["Retry-After"].is_object());
        // An error documented without a body has the problem body.
        let internal = &doc["paths"]["/api/v1/things/{id}/permissions"]["get"];
        assert_eq!(
            internal["responses"]["404"]["content"]["application/problem+json"]["schema"]["$ref"],
            PROBLEM_REF
        );
        assert_eq!(
            internal["responses"]["404"]["description"],
            "gone (problem types: `not-found`)"
        );
    }

    #[test]
    fn the_kits_answers_are_documented() {
        let doc = finished();
        let paths = &doc["paths"];
        assert_eq!(
            statuses(&paths["/api/v1/things"]["post"]),
            [
                "201", "400", "401", "403", "408", "409", "413", "415", "422", "429", "500", "503"
            ]
        );
        assert_eq!(
            statuses(&paths["/api/v1/things"]["get"]),
            ["200", "400", "401", "403", "408", "422", "500", "503"]
        );
        assert_eq!(
            statuses(&paths["/api/v1/things/{id}/permissions"]["get"]),
            ["200", "400", "401", "404", "408", "500", "503"]
        );
        assert_eq!(
            statuses(&paths["/.well-known/jwks.json"]["get"]),
            ["200", "408", "500", "503"]
        );
        for (_, item) in paths.as_object().expect("present") {
            for (_, op) in item.as_object().expect("present") {
                for (status, r) in op["responses"].as_object().expect("present") {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert_eq!(
                            r["content"]["application/problem+json"]["schema"]["$ref"], PROBLEM_REF,
                            "{status}"
                        );
                        assert!(r["content"].get("application/json").is_none());
                        assert!(!r["description"].as_str().expect("present").is_empty());
                    }
                }
            }
        }
        // A redirect without a body stays without one.
        let redirect = &paths["/api/v1/oauth/{provider}/authorize"]["get"]["responses"]["302"];
        assert!(redirect.get("content").is_none());
    }

    #[test]
    fn schemas_security_and_info_are_completed() {
        let doc = finished();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas[PROBLEM_SCHEMA]["type"], "object");
        assert!(schemas[PROBLEM_SCHEMA]["properties"]["detail"].is_object());
        assert!(
            schemas["FieldError"].is_object(),
            "nested schemas come along"
        );
        assert!(schemas["NewThing"].is_object(), "the service's own stay");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert_eq!(doc["info"]["title"], "things API");
        assert_eq!(doc["info"]["description"], "Things and more things");
        // Operations keep exactly the security they declared (public ones none).
        assert!(
            doc["paths"]["/.well-known/jwks.json"]["get"]
                .get("security")
                .is_none()
        );
        // A document without bearer operations gets no scheme.
        let mut bare = json!({"paths": {}});
        finish(&mut bare, "planned", "Not yet", &[]);
        assert!(bare["components"].get("securitySchemes").is_none());
        assert!(bare["components"]["schemas"][PROBLEM_SCHEMA].is_object());
    }

    #[test]
    fn query_parameters_leave_the_path() {
        let doc = finished();
        let get = &doc["paths"]["/api/v1/things"]["get"];
        for p in get["parameters"].as_array().expect("present") {
            assert_eq!(p["in"], "query", "{p}");
            assert_eq!(p["required"], false, "{p}");
        }
        let internal = &doc["paths"]["/api/v1/things/{id}/permissions"]["get"];
        assert_eq!(internal["parameters"][0]["in"], "path");
        assert_eq!(internal["parameters"][0]["required"], true);
        // A template name nobody declared is declared as a string.
        let oauth = &doc["paths"]["/api/v1/oauth/{provider}/authorize"]["get"];
        assert_eq!(oauth["parameters"][0]["name"], "provider");
        assert_eq!(oauth["parameters"][0]["in"], "path");
        assert!(
            doc["paths"]["/.well-known/jwks.json"]["get"]
                .get("parameters")
                .is_none()
        );
    }

    #[test]
    fn finishing_twice_changes_nothing() {
        let once = finished();
        let mut twice = once.clone();
        finish(
            &mut twice,
            "things",
            "Things and more things",
            &[THING_ARCHIVED],
        );
        assert_eq!(once, twice);
    }

    #[test]
    fn a_utoipa_document_goes_through_the_same_steps() {
        let openapi = utoipa::openapi::OpenApiBuilder::new()
            .paths(utoipa::openapi::Paths::new())
            .build();
        let doc = document(openapi, "org-auth", "Identity", &[]);
        assert_eq!(doc["info"]["title"], "org-auth API");
        assert!(doc["components"]["schemas"][PROBLEM_SCHEMA].is_object());
    }

    #[test]
    fn the_problem_catalogue_is_listed() {
        let doc = finished();
        let types = doc["x-problem-types"].as_array().expect("x-problem-types");
        let uris: Vec<&str> = types.iter().filter_map(|t| t["type"].as_str()).collect();
        assert!(
            uris.contains(&"https://workflow.dev/problems/not-found"),
            "the kit's"
        );
        assert!(
            uris.contains(&"https://workflow.dev/problems/thing-archived"),
            "the service's"
        );
        assert_eq!(uris.len(), problem::COMMON.len() + 1);
        let archived = types
            .iter()
            .find(|t| t["type"] == "https://workflow.dev/problems/thing-archived")
            .expect("present");
        assert_eq!(archived["status"], 409);
        assert_eq!(archived["title"], "Thing Archived");
        assert_eq!(
            doc["components"]["schemas"][PROBLEM_SCHEMA]["properties"]["type"]["examples"]
                .as_array()
                .map(Vec::len),
            Some(uris.len())
        );
        // Each error response names the types of its status.
        let conflict = doc["paths"]["/api/v1/things"]["post"]["responses"]["409"]["description"]
            .as_str()
            .expect("present");
        assert_eq!(
            conflict,
            "Conflict (problem types: `conflict`, `thing-archived`)"
        );
        // A service repeating a common type does not list it twice.
        assert_eq!(
            catalogue(&[problem::COMMON[0]]).len(),
            problem::COMMON.len()
        );
    }
}
