//! The one integration-test binary (every file in `tests/` of a crate would be a separate, slow
//! binary; here there is one, with a module tree). Tests boot the real binaries through
//! [`harness`]; add a module below rather than a new test binary.
//!
//! Layout:
//! - `harness/`: builds and boots `acorn` (and the other binaries) on temp dirs and ephemeral ports.
//! - `appliance/`: the appliance core: first start, TLS, config, backup and restore.
//! - `identity/`: sign-in, sessions, workspaces, members, tokens, audit, the authorization matrix.
//! - `gateway/`: the LLM gateway with scripted providers, the openai Python client, a Python MCP server.
//! - `kubesim/`: the Kubernetes API simulator through kube-rs, kubectl and raw HTTP.
//! - `cluster_link/`: registration, the real agent against the simulator, tools, hostile input.
//! - `packaging/`: the air-gap bundle and install.sh, upgrades from every earlier schema, backup rotation.
//! - `runs/`: sessions and runs end to end (engine, approvals, SSE, limits, crashes) with a scripted model.
//! - `findings/`: the findings service and API, lifecycle, `acorn analyze`, auto-triage.
//! - `eval/`: `acorn eval` grading scripted models on the scenario library.
//! - `webhooks/`: signed deliveries verified by the reference library, the outbox across kill -9,
//!   retries, auto-disable, egress refusals; Alertmanager and signed webhooks starting runs.
//! - `console/`: the management console in a real browser (chromium + playwright-core).

mod appliance;
mod cluster_link;
mod console;
mod eval;
mod findings;
mod gateway;
mod harness;
mod identity;
mod kubesim;
mod packaging;
mod runs;
mod webhooks;
