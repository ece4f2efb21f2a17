//! The OpenAPI 3.1 document, generated from the route table: every route appears with its
//! method, path parameters, summary, security and `x-acorn-access` (who may call it, the same
//! value the authorization-matrix test reads). Error responses reference the error body schema.

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::table::{Access, table_paths};

/// The document (built once).
pub fn document() -> Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build).clone()
}

fn build() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, access, summary) in table_paths() {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let (access_name, security) = match access {
            Access::Public => ("public".to_owned(), json!([])),
            Access::SignedIn => (
                "signed_in".to_owned(),
                json!([{ "session": [] }, { "token": [] }]),
            ),
            Access::ApplianceAdmin => ("appliance_admin".to_owned(), json!([{ "session": [] }])),
            Access::AgentKey => ("agent_key".to_owned(), json!([{ "agent_key": [] }])),
            Access::RunToken => ("run_token".to_owned(), json!([{ "run_token": [] }])),
            Access::ReceiverToken => (
                "receiver_token".to_owned(),
                json!([{ "receiver_token": [] }]),
            ),
            Access::WebhookSignature => (
                "webhook_signature".to_owned(),
                json!([{ "webhook_signature": [] }]),
            ),
            Access::Workspace(action) => (
                format!("workspace:{}", action.as_str()),
                json!([{ "session": [] }, { "token": [] }]),
            ),
        };
        let operation_id = format!(
            "{}_{}",
            method.as_str().to_lowercase(),
            path.trim_start_matches('/')
                .replace(['/', '{', '}', '.'], "_")
        );
        entry[method.as_str().to_lowercase()] = json!({
            "summary": summary,
            "operationId": operation_id,
            "parameters": params,
            "security": security,
            "x-acorn-access": access_name,
            "responses": {
                "2XX": { "description": "Success" },
                "default": { "$ref": "#/components/responses/Error" }
            }
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Acorn appliance API", "version": crate::VERSION },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": crate::control::auth::SESSION_COOKIE,
                             "description": "State-changing requests also need the x-csrf-token header." },
                "token": { "type": "http", "scheme": "bearer", "description": "API token (acorn_…)" },
                "agent_key": { "type": "apiKey", "in": "header", "name": acorn_proto::agent::AGENT_KEY_HEADER,
                               "description": "A cluster's agent key (acorn_agent_…), agent tunnel only" },
                "run_token": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "Run JWT signed by the control plane (gateway runtime API only)" },
                "receiver_token": { "type": "http", "scheme": "bearer", "description": "An alert receiver's token (acr_…), Alertmanager receiver only" },
                "webhook_signature": { "type": "apiKey", "in": "header", "name": "webhook-signature",
                                       "description": "Standard Webhooks signature (with webhook-id and webhook-timestamp) made with a signed receiver's secret" }
            },
            "responses": {
                "Error": { "description": "An error from the table at /docs/errors",
                           "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "message", "type", "link"],
                    "properties": {
                        "code": { "type": "string", "enum": acorn_proto::ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>() },
                        "message": { "type": "string" },
                        "type": { "type": "string", "enum": ["invalid_request", "auth", "system", "internal"] },
                        "link": { "type": "string" }
                    }
                }
            }
        }
    })
}
