//! Gateway operations on the local socket, for the operator at the machine:
//! `acorn gateway issue-run-token` (sign a run JWT for tests and external engines, until the
//! execution engine issues them itself; audited in the workspace's chain),
//! `acorn gateway rotate-signing-key` and `acorn secrets rotate-kek`. They need the running
//! server (it holds the store and the key-encryption key).

use std::path::{Path, PathBuf};
use std::time::Duration;

use acorn_proto::gateway::{GatewayLocalRequest, GatewayLocalResponse};
use acorn_proto::ops::{LocalRequest, LocalResponse};
use acorn_store::{Actor, ActorKind, AuditDraft, AuditResult, Category, Operation};

use super::Gateway;
use super::jwt::RunTokenRequest;
use super::secrets::system_draft;
use crate::util;

fn operator_draft(workspace: Option<&str>, action: &str, target: Option<String>) -> AuditDraft {
    AuditDraft {
        workspace_id: workspace.map(str::to_owned),
        actor: Actor {
            kind: ActorKind::System,
            id: "local-socket".into(),
            display: "operator at the machine (acorn CLI)".into(),
        },
        action: action.to_owned(),
        target,
        result: AuditResult::Success,
        source_ip: None,
        request_id: None,
        operation: Operation::Write,
        category: Category::Run,
        metadata: Default::default(),
        at: util::now_unix(),
    }
}

/// Serves one gateway request of the local socket.
pub async fn handle(gw: &Gateway, request: GatewayLocalRequest) -> Result<LocalResponse, String> {
    let answer = match request {
        GatewayLocalRequest::IssueRunToken {
            workspace,
            cluster,
            session,
            run,
            provider,
            model,
            tools,
            mode,
            output_budget,
            ttl_secs,
        } => {
            if gw
                .store
                .workspace(&workspace)
                .map_err(|e| e.to_string())?
                .is_none()
            {
                return Err(format!("no workspace {workspace}"));
            }
            let run = match run {
                Some(r) => r,
                None => format!("run_{}", hex::encode(crate::tls::pki::random_bytes::<8>())),
            };
            let (token, claims) = gw
                .tokens
                .issue(RunTokenRequest {
                    workspace: workspace.clone(),
                    cluster,
                    session,
                    run: run.clone(),
                    provider: provider.clone(),
                    model: model.clone(),
                    tools,
                    mode,
                    output_budget,
                    ttl: ttl_secs.map(Duration::from_secs),
                })
                .map_err(|e| e.message)?;
            let mut draft = operator_draft(Some(&workspace), "gateway.run_token_issued", Some(run));
            draft.metadata.insert("provider".into(), provider);
            draft.metadata.insert("model".into(), model);
            draft
                .metadata
                .insert("output_budget".into(), output_budget.to_string());
            draft
                .metadata
                .insert("expires".into(), claims.exp.to_string());
            gw.store
                .append_audit(draft)
                .await
                .map_err(|e| e.to_string())?;
            GatewayLocalResponse::RunToken {
                token,
                claims: Box::new(claims),
            }
        }
        GatewayLocalRequest::RotateSigningKey => {
            let kid = gw
                .tokens
                .rotate(
                    &gw.secrets,
                    operator_draft(None, "gateway.signing_key_rotated", None),
                )
                .await
                .map_err(|e| e.to_string())?;
            GatewayLocalResponse::SigningKeyRotated { kid }
        }
        GatewayLocalRequest::RotateKek { new_kek_file } => {
            let path = new_kek_file.map(PathBuf::from);
            if path.as_ref().is_some_and(|p| !p.is_absolute()) {
                return Err("--new-kek-file must be an absolute path".into());
            }
            let (kek_id, rewrapped, source) = gw
                .secrets
                .rotate(path.as_deref(), system_draft("secrets.kek_rotated"))
                .await
                .map_err(|e| e.to_string())?;
            GatewayLocalResponse::KekRotated {
                kek_id,
                rewrapped,
                source,
            }
        }
    };
    Ok(LocalResponse::Gateway(answer))
}

/// Sends a gateway request to the running server and prints the answer.
pub async fn cli(state_dir: &Path, request: GatewayLocalRequest, json: bool) -> anyhow::Result<()> {
    let answer = crate::local_socket::request(state_dir, &LocalRequest::Gateway(request))
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no acorn server is running on {}: gateway and secrets verbs need the running server",
                state_dir.display()
            )
        })?;
    match answer {
        LocalResponse::Gateway(g) if json => println!("{}", serde_json::to_string_pretty(&g)?),
        LocalResponse::Gateway(GatewayLocalResponse::RunToken { token, claims }) => {
            println!("{token}");
            eprintln!(
                "run {} in workspace {}: provider {}, model {}, {} tools, {} output tokens, expires at {}",
                claims.run,
                claims.workspace,
                claims.provider,
                claims.model,
                claims.tools.len(),
                claims.output_budget,
                util::rfc3339(claims.exp as i64)
            );
        }
        LocalResponse::Gateway(GatewayLocalResponse::SigningKeyRotated { kid }) => {
            println!(
                "new run-token signing key {kid}; older keys verify until their tokens expire"
            );
        }
        LocalResponse::Gateway(GatewayLocalResponse::KekRotated {
            kek_id,
            rewrapped,
            source,
        }) => {
            println!(
                "key-encryption key is now {kek_id} ({source}); {rewrapped} secrets re-wrapped"
            );
            if source == "file" {
                println!(
                    "point gateway.kek_file (or the acorn-kek credential) at the new file before the next restart"
                );
            }
        }
        LocalResponse::Error { message } => anyhow::bail!("{message}"),
        other => anyhow::bail!("unexpected answer: {other:?}"),
    }
    Ok(())
}
