//! One run, from `queued` to its end: the orchestration loop.
//!
//! ```text
//! start ─▶ model call (streamed; text coalesced into model.delta events)
//!            │ no tool calls ─▶ run.completed (answer + the tool results it rests on)
//!            ▼ tool calls
//!          plan each call: invalid JSON / unknown tool / loop guard ─▶ told to the model
//!                          read ─▶ executed, independent reads in parallel
//!                          write (read-write run) ─▶ dry run ─▶ approval ─▶ executed once
//!            └─▶ results (redacted by the gateway, cut to a budget with a note) ─▶ next step
//! ```
//!
//! Every limit is checked before the work it bounds; reaching one ends the run `failed` with a
//! final message that names it (`timed_out` for the runtime). Cancellation and the runtime
//! deadline drop this future wherever it is: the model stream and tool calls are dropped with
//! it (the hub then tells the agent to cancel its calls).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use acorn_proto::ErrorCode;
use acorn_proto::agent::{RunMode, ToolOutcome};
use acorn_proto::authz::Action;
use acorn_proto::gateway::CatalogTool;
use acorn_proto::runs::{ApprovalState, ApprovalView, RunError, RunEventKind, RunState, RunUsage};
use acorn_store::{
    Actor, ActorKind, AuditDraft, AuditResult, Category, NewEvent, Operation, RunChange, RunRecord,
    StoreError,
};

use super::{Engine, LiveRun, context};
use crate::gateway::chat::{Assembler, ChatEvent};
use crate::gateway::jwt::RunTokenRequest;
use crate::gateway::providers::Provider;
use crate::gateway::{GatewayError, manage};
use crate::util;

/// Text deltas are coalesced into one `model.delta` event per this much time or size.
const DELTA_INTERVAL: Duration = Duration::from_millis(100);
const DELTA_BYTES: usize = 1024;
/// Output tokens asked for per model call at most (the run's budget bounds the total).
const MAX_TOKENS_PER_CALL: u64 = 4096;
/// A run token is renewed when it has less than this left.
const TOKEN_RENEW_BEFORE: i64 = 60;

/// How a run ends.
enum End {
    Answer {
        text: String,
        evidence: Vec<u64>,
    },
    Limit {
        limit: &'static str,
        value: String,
    },
    Failed {
        code: String,
        message: String,
    },
    TimedOut,
    /// Someone else ended it (cancelled): nothing more to write.
    Gone,
}

impl End {
    fn failed(code: ErrorCode, message: impl Into<String>) -> End {
        End::Failed {
            code: code.as_str().to_owned(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for End {
    fn from(e: StoreError) -> End {
        match e {
            StoreError::RunFinished { .. } => End::Gone,
            other => {
                tracing::error!(error = %other, "run could not be recorded");
                End::failed(
                    ErrorCode::StoreUnavailable,
                    "the store failed while recording the run; the appliance log says why",
                )
            }
        }
    }
}

impl From<GatewayError> for End {
    fn from(e: GatewayError) -> End {
        match e.code {
            ErrorCode::BudgetExhausted | ErrorCode::BudgetExceeded => End::Limit {
                limit: "max_output_tokens",
                value: e.message,
            },
            code => End::Failed {
                code: code.as_str().to_owned(),
                message: e.message,
            },
        }
    }
}

/// Executes one queued run to its end.
pub(super) async fn execute(engine: &Arc<Engine>, run_id: &str) {
    let live = engine.live_run(run_id);
    let mut cancel = live.cancel.subscribe();
    let run = match engine.store.run_record(run_id) {
        Ok(Some(r)) if r.state == RunState::Queued => r,
        Ok(_) => return,
        Err(e) => {
            tracing::error!(error = %e, run = run_id, "cannot read a queued run");
            return;
        }
    };
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(run.limits.max_runtime_seconds);
    let mut driver = Driver::new(Arc::clone(engine), live, run);
    let end = tokio::select! {
        end = driver.drive() => end,
        _ = cancel.wait_for(|c| *c) => End::Gone,
        _ = tokio::time::sleep_until(deadline) => End::TimedOut,
    };
    driver.finish(end).await;
}

/// A tool call the model asked for, as planned.
struct Call {
    id: String,
    name: String,
    raw_arguments: String,
    arguments: Option<Value>,
    class: Option<String>,
}

/// The model's message for one call, and the event data of its result.
struct Outcome {
    content: String,
    data: Value,
    ok: bool,
}

struct Driver {
    engine: Arc<Engine>,
    live: Arc<LiveRun>,
    run: RunRecord,
    usage: RunUsage,
    token: String,
    token_exp: i64,
    messages: Vec<Value>,
    tools: Vec<CatalogTool>,
    identical: HashMap<String, u32>,
    evidence: Vec<u64>,
    provider: Option<Arc<Provider>>,
    requests: u32,
}

impl Driver {
    fn new(engine: Arc<Engine>, live: Arc<LiveRun>, run: RunRecord) -> Driver {
        Driver {
            engine,
            live,
            usage: run.usage,
            run,
            token: String::new(),
            token_exp: 0,
            messages: Vec::new(),
            tools: Vec::new(),
            identical: HashMap::new(),
            evidence: Vec::new(),
            provider: None,
            requests: 0,
        }
    }

    async fn event(&mut self, kind: RunEventKind, data: Value) -> Result<Vec<u64>, End> {
        self.events(vec![(kind, data)]).await
    }

    /// Appends events (with the current usage); returns their sequence numbers.
    async fn events(&mut self, events: Vec<(RunEventKind, Value)>) -> Result<Vec<u64>, End> {
        let now = util::now_ms();
        let events = events
            .into_iter()
            .map(|(kind, data)| NewEvent {
                kind,
                at_ms: now,
                data,
            })
            .collect();
        let change = RunChange {
            usage: Some(self.usage),
            ..RunChange::default()
        };
        let (run, stored) = self
            .engine
            .store
            .update_run(&self.run.id, change, events)
            .await?;
        self.engine.publish(&stored);
        self.run = run;
        Ok(stored.iter().map(|e| e.seq).collect())
    }

    async fn drive(&mut self) -> End {
        match self.drive_inner().await {
            Ok(end) | Err(end) => end,
        }
    }

    async fn drive_inner(&mut self) -> Result<End, End> {
        let started = RunChange {
            state: Some(RunState::Running),
            started_at: Some(util::now_unix()),
            expect: vec![RunState::Queued],
            ..RunChange::default()
        };
        self.run = self
            .engine
            .commit(
                &self.run.id,
                started,
                vec![new_event(RunEventKind::RunStarted, json!({}))],
            )
            .await?;
        self.prepare()?;
        loop {
            if let Some(end) = self.limit_before_step() {
                return Ok(end);
            }
            let (text, calls) = self.model_step().await?;
            if calls.is_empty() {
                let text = if text.trim().is_empty() {
                    "(the model returned an empty answer)".to_owned()
                } else {
                    text
                };
                return Ok(End::Answer {
                    text,
                    evidence: self.evidence.clone(),
                });
            }
            if let Some(end) = self.tool_step(calls).await? {
                return Ok(end);
            }
        }
    }

    /// Cluster link, tools, provider, token, first messages.
    fn prepare(&mut self) -> Result<(), End> {
        let engine = Arc::clone(&self.engine);
        let run = self.run.clone();
        if engine.control.hub.live(&run.cluster_id).is_none() {
            return Err(End::failed(
                ErrorCode::AgentDisconnected,
                "the cluster's agent is not connected; check the acorn-agent pod and its logs",
            ));
        }
        self.tools = manage::tool_catalog(
            &engine.gateway,
            &run.workspace_id,
            Some(&run.cluster_id),
            run.mode,
        )?;
        self.provider = Some(
            engine
                .gateway
                .resolve_provider(&run.workspace_id, &run.provider)?,
        );
        self.renew_token()?;
        let run = &run;
        let cluster = engine
            .store
            .cluster(&run.workspace_id, &run.cluster_id)?
            .ok_or_else(|| End::failed(ErrorCode::NotFound, "the run's cluster was deleted"))?;
        let mut messages = vec![json!({
            "role": "system",
            "content": context::system_prompt(&engine.store, &cluster, run.mode == RunMode::ReadWrite),
        })];
        for earlier in engine.store.runs_of_session(&run.session_id)? {
            if earlier.id == run.id {
                continue;
            }
            if let (RunState::Completed, Some(answer)) = (earlier.state, &earlier.answer) {
                messages.push(json!({"role": "user", "content": earlier.question}));
                messages.push(json!({"role": "assistant", "content": answer}));
            }
        }
        messages.push(json!({"role": "user", "content": run.question}));
        self.messages = messages;
        Ok(())
    }

    fn renew_token(&mut self) -> Result<(), End> {
        if self.token_exp - util::now_unix() > TOKEN_RENEW_BEFORE {
            return Ok(());
        }
        let run = &self.run;
        let (token, claims) = self.engine.gateway.tokens.issue(RunTokenRequest {
            workspace: run.workspace_id.clone(),
            cluster: run.cluster_id.clone(),
            session: run.session_id.clone(),
            run: run.id.clone(),
            provider: run.provider.clone(),
            model: run.model.clone(),
            tools: self.tools.iter().map(|t| t.name.clone()).collect(),
            mode: run.mode,
            output_budget: run.limits.max_output_tokens,
            ttl: None,
        })?;
        self.token = token;
        self.token_exp = claims.exp as i64;
        Ok(())
    }

    fn request_id(&mut self) -> String {
        self.requests += 1;
        format!("{}-{}", self.run.id, self.requests)
    }

    fn limit_before_step(&self) -> Option<End> {
        let l = &self.run.limits;
        if self.usage.steps >= l.max_steps {
            return Some(End::Limit {
                limit: "max_steps",
                value: l.max_steps.to_string(),
            });
        }
        if self.usage.cost >= l.max_cost {
            return Some(End::Limit {
                limit: "max_cost",
                value: format!("{:.4}", l.max_cost),
            });
        }
        if self.usage.output_tokens >= l.max_output_tokens {
            return Some(End::Limit {
                limit: "max_output_tokens",
                value: l.max_output_tokens.to_string(),
            });
        }
        None
    }

    /// The context budget: the run's limit, or the model's window when smaller, minus the
    /// answer's room.
    fn context_budget(&self, max_tokens: u64) -> u64 {
        let window = self
            .provider
            .as_ref()
            .and_then(|p| p.model(&self.run.model))
            .and_then(|m| m.context_window)
            .unwrap_or(u64::MAX);
        let context = self.run.limits.max_context_tokens.min(window);
        // Room for the answer, but never more than a quarter of the window.
        context.saturating_sub(max_tokens.min(context / 4))
    }

    /// One model call: streams text into `model.delta` events; returns the text and the calls.
    async fn model_step(&mut self) -> Result<(String, Vec<Call>), End> {
        self.renew_token()?;
        let step = self.usage.steps + 1;
        let remaining = self.run.limits.max_output_tokens - self.usage.output_tokens;
        let max_tokens = remaining.min(MAX_TOKENS_PER_CALL);
        let budget = self.context_budget(max_tokens);
        let before = context::tokens_of(&self.messages);
        let elided = context::trim(&mut self.messages, budget);
        if !elided.is_empty() {
            let after = context::tokens_of(&self.messages);
            self.event(
                RunEventKind::ContextTrimmed,
                json!({"elided_messages": elided, "tokens_before": before, "tokens_after": after}),
            )
            .await?;
        }
        if context::tokens_of(&self.messages) > budget {
            return Err(End::Limit {
                limit: "max_context_tokens",
                value: self.run.limits.max_context_tokens.to_string(),
            });
        }
        let mut body = json!({
            "model": self.run.model,
            "messages": self.messages,
            "stream": true,
            "max_tokens": max_tokens,
        });
        if !self.tools.is_empty() {
            body["tools"] = Value::Array(
                self.tools
                    .iter()
                    .map(|t| {
                        json!({"type": "function", "function": {
                            "name": t.name, "description": t.description,
                            "parameters": t.input_schema}})
                    })
                    .collect(),
            );
        }
        let request_id = self.request_id();
        let gateway = Arc::clone(&self.engine.gateway);
        let mut stream = gateway.chat(Some(&self.token), &body, &request_id).await?;
        let mut assembled = Assembler::default();
        let mut pending = String::new();
        let mut last_flush = Instant::now();
        let mut failure = None;
        loop {
            // Text waiting to be flushed is flushed on time even when the model pauses.
            let item = if pending.is_empty() {
                stream.events.recv().await
            } else {
                let left = DELTA_INTERVAL.saturating_sub(last_flush.elapsed());
                match tokio::time::timeout(left, stream.events.recv()).await {
                    Ok(item) => item,
                    Err(_) => {
                        let text = std::mem::take(&mut pending);
                        self.event(
                            RunEventKind::ModelDelta,
                            json!({"step": step, "text": text}),
                        )
                        .await?;
                        last_flush = Instant::now();
                        continue;
                    }
                }
            };
            let Some(item) = item else { break };
            match item {
                Ok(event) => {
                    assembled.push(&event);
                    if let ChatEvent::TextDelta(t) = &event {
                        pending.push_str(t);
                        if pending.len() >= DELTA_BYTES || last_flush.elapsed() >= DELTA_INTERVAL {
                            let text = std::mem::take(&mut pending);
                            self.event(
                                RunEventKind::ModelDelta,
                                json!({"step": step, "text": text}),
                            )
                            .await?;
                            last_flush = Instant::now();
                        }
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(stream);
        if !pending.is_empty() {
            self.event(
                RunEventKind::ModelDelta,
                json!({"step": step, "text": pending}),
            )
            .await?;
        }
        let (input, output) = assembled
            .usage
            .unwrap_or((0, assembled.output_tokens_counted()));
        self.usage.steps = step;
        self.usage.input_tokens += input;
        self.usage.output_tokens += output;
        self.usage.cost += crate::gateway::providers::cost(
            self.provider
                .as_ref()
                .and_then(|p| p.model(&self.run.model)),
            input,
            output,
        );
        if let Some(e) = failure {
            return Err(e.into());
        }
        let calls: Vec<Call> = assembled
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, (id, name, args))| self.plan(step, i, id, name, args))
            .collect();
        self.event(
            RunEventKind::ModelMessage,
            json!({
                "step": step,
                "text": assembled.text,
                "tool_calls": calls.iter().map(|c| json!({
                    "id": c.id, "name": c.name, "arguments": c.raw_arguments})).collect::<Vec<_>>(),
            }),
        )
        .await?;
        if !calls.is_empty() {
            self.messages.push(json!({
                "role": "assistant",
                "content": if assembled.text.is_empty() { Value::Null } else { json!(assembled.text) },
                "tool_calls": calls.iter().map(|c| json!({
                    "id": c.id, "type": "function",
                    "function": {"name": c.name, "arguments": c.raw_arguments}})).collect::<Vec<_>>(),
            }));
        }
        Ok((assembled.text, calls))
    }

    fn plan(&self, step: u32, index: usize, id: &str, name: &str, args: &str) -> Call {
        let id = if id.is_empty() {
            format!("call_{step}_{index}")
        } else {
            id.to_owned()
        };
        let raw = if args.trim().is_empty() { "{}" } else { args };
        let arguments = serde_json::from_str::<Value>(raw)
            .ok()
            .filter(Value::is_object);
        Call {
            id,
            name: name.to_owned(),
            raw_arguments: raw.to_owned(),
            arguments,
            class: self
                .tools
                .iter()
                .find(|t| t.name == name)
                .map(|t| t.class.clone()),
        }
    }

    /// Executes (or refuses) the calls of one model turn and appends their results.
    async fn tool_step(&mut self, calls: Vec<Call>) -> Result<Option<End>, End> {
        let step = self.usage.steps;
        let mut outcomes: Vec<Option<Outcome>> = (0..calls.len()).map(|_| None).collect();
        let mut reads = Vec::new();
        let mut writes = Vec::new();
        for (i, call) in calls.iter().enumerate() {
            if let Some(refusal) = self.refusal(call) {
                outcomes[i] = Some(refusal);
                continue;
            }
            let dry_run =
                call.arguments.as_ref().and_then(|a| a.get("dry_run")) == Some(&json!(true));
            match call.class.as_deref() {
                Some("write") if !dry_run => writes.push(i),
                _ => reads.push(i),
            }
        }
        // Refused calls: recorded and told to the model, executing nothing.
        let mut call_events = Vec::new();
        for (i, call) in calls.iter().enumerate() {
            if outcomes[i].is_some() || reads.contains(&i) {
                call_events.push((RunEventKind::ToolCall, call_event(step, call)));
            }
        }
        let planned = reads.len() + writes.len();
        if self.usage.tool_calls as usize + planned > self.run.limits.max_tool_calls as usize {
            return Ok(Some(End::Limit {
                limit: "max_tool_calls",
                value: self.run.limits.max_tool_calls.to_string(),
            }));
        }
        self.events(call_events).await?;
        // Independent reads run in parallel.
        let results = futures_util::future::join_all(reads.iter().map(|&i| {
            self.execute_call(&calls[i], calls[i].arguments.clone().unwrap_or_default())
        }))
        .await;
        for (&i, outcome) in reads.iter().zip(results) {
            outcomes[i] = Some(outcome);
        }
        self.usage.tool_calls += reads.len() as u32;
        let mut result_events = Vec::new();
        for (i, call) in calls.iter().enumerate() {
            if let Some(o) = &outcomes[i] {
                result_events.push((RunEventKind::ToolResult, result_event(step, call, o)));
            }
        }
        let seqs = self.events(result_events).await?;
        let mut seq_iter = seqs.into_iter();
        for o in outcomes.iter().flatten() {
            if let Some(seq) = seq_iter.next()
                && o.ok
            {
                self.evidence.push(seq);
            }
        }
        // Writes, one at a time, each behind an approval.
        for &i in &writes {
            let outcome = self.write_with_approval(step, &calls[i]).await?;
            self.usage.tool_calls += 1;
            let seqs = self
                .events(vec![(
                    RunEventKind::ToolResult,
                    result_event(step, &calls[i], &outcome),
                )])
                .await?;
            if outcome.ok {
                self.evidence.extend(seqs);
            }
            outcomes[i] = Some(outcome);
        }
        for (call, outcome) in calls.iter().zip(outcomes) {
            let content = outcome.map_or_else(String::new, |o| o.content);
            self.messages
                .push(json!({"role": "tool", "tool_call_id": call.id, "content": content}));
        }
        Ok(None)
    }

    /// Why a call is not executed at all: bad arguments, unknown tool, loop guard.
    fn refusal(&mut self, call: &Call) -> Option<Outcome> {
        let Some(arguments) = &call.arguments else {
            self.usage.invalid_tool_calls += 1;
            return Some(refused(
                "invalid_arguments",
                format!(
                    "the arguments of {} are not a valid JSON object: {}. Call it again with a JSON object that matches its schema.",
                    call.name,
                    util_truncate(&call.raw_arguments, 200)
                ),
            ));
        };
        if call.class.is_none() {
            self.usage.invalid_tool_calls += 1;
            let names: Vec<&str> = self.tools.iter().map(|t| t.name.as_str()).collect();
            return Some(refused(
                "tool_unknown",
                format!(
                    "there is no tool named {:?} in this run; the tools are: {}",
                    call.name,
                    names.join(", ")
                ),
            ));
        }
        let key = format!("{}\u{0}{}", call.name, arguments);
        let count = self.identical.entry(key).or_insert(0);
        if *count >= self.run.limits.max_identical_tool_calls {
            self.usage.loop_guard_hits += 1;
            return Some(refused(
                "loop_guard",
                format!(
                    "not executed: {} was already called {} times with exactly these arguments (the run's limit); its result is above. Use it, or call with different arguments.",
                    call.name, count
                ),
            ));
        }
        *count += 1;
        None
    }

    async fn execute_call(&self, call: &Call, arguments: Value) -> Outcome {
        let started = Instant::now();
        let request_id = format!("{}-tool-{}", self.run.id, call.id);
        let timeout = self.engine.config.tool_timeout + Duration::from_secs(5);
        let answer = tokio::time::timeout(
            timeout,
            self.engine
                .gateway
                .call_tool(Some(&self.token), &call.name, arguments, &request_id),
        )
        .await;
        let budget = self.engine.config.tool_result_budget_bytes;
        let ms = started.elapsed().as_millis() as u64;
        match answer {
            Ok(Ok(response)) => match response.outcome {
                ToolOutcome::Ok(out) => {
                    let (content, note) = cut(&out.content, budget);
                    let mut data = json!({
                        "ok": true, "content": content, "truncated": out.truncated || note.is_some(),
                        "redactions": out.redactions, "duration_ms": ms,
                    });
                    let mut for_model = content;
                    if let Some(note) = note {
                        data["note"] = json!(note);
                        for_model.push_str("\n\n");
                        for_model.push_str(&note);
                    }
                    Outcome {
                        content: for_model,
                        data,
                        ok: true,
                    }
                }
                ToolOutcome::Error(e) => failed_outcome(e.code.as_str(), &e.message, ms),
            },
            Ok(Err(e)) => failed_outcome(e.code.as_str(), &e.message, ms),
            Err(_) => failed_outcome(
                "tool_timeout",
                &format!("the tool did not answer within {} s", timeout.as_secs()),
                ms,
            ),
        }
    }

    /// Dry run, approval record, wait for the decision, then execute once (or not).
    async fn write_with_approval(&mut self, step: u32, call: &Call) -> Result<Outcome, End> {
        let mut arguments = call.arguments.clone().unwrap_or_default();
        let builtin = !call.name.starts_with(acorn_proto::gateway::MCP_TOOL_PREFIX);
        let diff = if builtin {
            arguments["dry_run"] = json!(true);
            let dry = self.execute_call(call, arguments.clone()).await;
            arguments["dry_run"] = json!(false);
            if !dry.ok {
                // The change cannot be made as asked: tell the model, ask nobody.
                self.events(vec![(RunEventKind::ToolCall, call_event(step, call))])
                    .await?;
                return Ok(dry);
            }
            dry.content
        } else {
            "(this MCP tool has no dry run: the call above is exactly what will be executed)"
                .to_owned()
        };
        let now = util::now_unix();
        let approval = ApprovalView {
            id: acorn_store::new_id("apr_")?,
            workspace_id: self.run.workspace_id.clone(),
            run_id: self.run.id.clone(),
            session_id: self.run.session_id.clone(),
            cluster_id: self.run.cluster_id.clone(),
            tool: call.name.clone(),
            arguments: arguments.clone(),
            diff: diff.clone(),
            state: ApprovalState::Pending,
            requested_at: now,
            expires_at: now + self.engine.config.approval_timeout.as_secs() as i64,
            decided_by: None,
            decided_at: None,
            comment: None,
        };
        let at = util::now_ms();
        let events = vec![
            NewEvent {
                kind: RunEventKind::ToolCall,
                at_ms: at,
                data: call_event(step, call),
            },
            NewEvent {
                kind: RunEventKind::ApprovalRequested,
                at_ms: at,
                data: json!({
                    "approval_id": approval.id, "call_id": call.id, "tool": call.name,
                    "arguments": arguments, "diff": diff, "expires_at": approval.expires_at,
                }),
            },
        ];
        let (run, stored) = self
            .engine
            .store
            .request_approval(approval.clone(), events)
            .await?;
        self.engine.publish(&stored);
        self.run = run;
        let decided = self.wait_for_decision(&approval).await?;
        match decided.state {
            ApprovalState::Approved => match self.recheck_write() {
                Ok(()) => Ok(self.execute_call(call, arguments).await),
                Err(why) => Ok(refused("approval_not_executed", why)),
            },
            ApprovalState::Rejected => Ok(refused(
                "approval_rejected",
                format!(
                    "an operator rejected this action; it was not executed{}",
                    decided
                        .comment
                        .map(|c| format!(". Their comment: {c}"))
                        .unwrap_or_default()
                ),
            )),
            _ => Ok(refused(
                "approval_expired",
                format!(
                    "nobody approved this action within {} s; it was not executed",
                    self.engine.config.approval_timeout.as_secs()
                ),
            )),
        }
    }

    async fn wait_for_decision(&mut self, approval: &ApprovalView) -> Result<ApprovalView, End> {
        loop {
            if let Some(a) = self.engine.store.approval(&approval.run_id, &approval.id)?
                && a.state != ApprovalState::Pending
            {
                if let Some(run) = self.engine.store.run_record(&self.run.id)? {
                    self.run = run;
                }
                return Ok(a);
            }
            let wait = (approval.expires_at - util::now_unix()).max(0) as u64;
            tokio::select! {
                _ = self.live.approval.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(wait)) => {
                    self.expire(approval).await?;
                }
            }
        }
    }

    /// Nobody decided in time: the appliance records the expiry as the decision (audited).
    async fn expire(&mut self, approval: &ApprovalView) -> Result<(), End> {
        let now = util::now_unix();
        let audit = AuditDraft {
            workspace_id: Some(self.run.workspace_id.clone()),
            actor: Actor {
                kind: ActorKind::System,
                id: "engine".into(),
                display: "execution engine".into(),
            },
            action: "approval.expired".into(),
            target: Some(approval.id.clone()),
            result: AuditResult::Success,
            source_ip: None,
            request_id: None,
            operation: Operation::Write,
            category: Category::Approval,
            metadata: [
                ("run".to_owned(), self.run.id.clone()),
                ("tool".to_owned(), approval.tool.clone()),
            ]
            .into_iter()
            .collect(),
            at: now,
        };
        let event = new_event(
            RunEventKind::ApprovalDecided,
            json!({"approval_id": approval.id, "decision": "expired", "decided_by": null}),
        );
        match self
            .engine
            .store
            .decide_approval(
                &self.run.id,
                &approval.id,
                ApprovalState::Expired,
                None,
                None,
                now,
                event,
                Some(audit),
            )
            .await
        {
            Ok((_, run, stored)) => {
                self.engine.publish(&stored);
                self.run = run;
                Ok(())
            }
            Err(StoreError::ApprovalDecided { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Authorization is checked again when an approved write executes: the run's author must
    /// still be allowed read-write runs, and the cluster must still allow writes.
    fn recheck_write(&self) -> Result<(), String> {
        let store = &self.engine.store;
        let run = &self.run;
        let allowed = store
            .membership(&run.workspace_id, &run.created_by)
            .ok()
            .flatten()
            .is_some_and(|m| m.role.allows(Action::RunsCreateReadWrite));
        if !allowed {
            return Err(
                "not executed: the run's author may no longer start read-write runs".into(),
            );
        }
        let writes = store
            .cluster(&run.workspace_id, &run.cluster_id)
            .ok()
            .flatten()
            .is_some_and(|c| c.write_allowed);
        if !writes {
            return Err("not executed: the cluster no longer allows write actions".into());
        }
        Ok(())
    }

    /// The last write of the run.
    async fn finish(&mut self, end: End) {
        let now = util::now_unix();
        let mut change = RunChange {
            ended_at: Some(now),
            usage: Some(self.usage),
            ..RunChange::default()
        };
        let mut events = Vec::new();
        match end {
            End::Gone => return,
            End::Answer { text, evidence } => {
                change.state = Some(RunState::Completed);
                change.answer = Some(text.clone());
                change.evidence = Some(evidence.clone());
                events.push(new_event(
                    RunEventKind::RunCompleted,
                    json!({"answer": text, "evidence": evidence}),
                ));
            }
            End::Limit { limit, value } => {
                let message = format!(
                    "The run stopped because it reached its {limit} limit ({value}) before the \
                     model gave an answer. The tool results above are kept; ask again with a \
                     narrower question or a higher limit."
                );
                change.state = Some(RunState::Failed);
                change.answer = Some(message.clone());
                change.error = Some(RunError {
                    code: ErrorCode::RunLimitReached.as_str().into(),
                    message: message.clone(),
                });
                events.push(new_event(
                    RunEventKind::RunLimitReached,
                    json!({"limit": limit, "value": value}),
                ));
                events.push(new_event(
                    RunEventKind::RunFailed,
                    json!({"code": ErrorCode::RunLimitReached.as_str(), "message": message}),
                ));
            }
            End::TimedOut => {
                let secs = self.run.limits.max_runtime_seconds;
                let message = format!(
                    "The run stopped because it ran longer than its max_runtime_seconds limit \
                     ({secs} s)."
                );
                change.state = Some(RunState::TimedOut);
                change.answer = Some(message.clone());
                change.error = Some(RunError {
                    code: ErrorCode::RunTimedOut.as_str().into(),
                    message: message.clone(),
                });
                events.push(new_event(
                    RunEventKind::RunLimitReached,
                    json!({"limit": "max_runtime_seconds", "value": secs.to_string()}),
                ));
                events.push(new_event(
                    RunEventKind::RunFailed,
                    json!({"code": ErrorCode::RunTimedOut.as_str(), "message": message}),
                ));
            }
            End::Failed { code, message } => {
                change.state = Some(RunState::Failed);
                change.error = Some(RunError {
                    code: code.clone(),
                    message: message.clone(),
                });
                events.push(new_event(
                    RunEventKind::RunFailed,
                    json!({"code": code, "message": message}),
                ));
            }
        }
        match self.engine.commit(&self.run.id, change, events).await {
            Ok(_) | Err(StoreError::RunFinished { .. }) => {}
            Err(e) => {
                tracing::error!(error = %e, run = %self.run.id, "cannot record the end of a run")
            }
        }
    }
}

fn new_event(kind: RunEventKind, data: Value) -> NewEvent {
    NewEvent {
        kind,
        at_ms: util::now_ms(),
        data,
    }
}

fn call_event(step: u32, call: &Call) -> Value {
    json!({
        "step": step,
        "call_id": call.id,
        "tool": call.name,
        "arguments": call.arguments.clone().unwrap_or_else(|| json!(call.raw_arguments)),
        "class": call.class,
    })
}

fn result_event(step: u32, call: &Call, outcome: &Outcome) -> Value {
    let mut data = outcome.data.clone();
    data["step"] = json!(step);
    data["call_id"] = json!(call.id);
    data["tool"] = json!(call.name);
    data
}

fn refused(code: &str, message: String) -> Outcome {
    Outcome {
        content: format!("error {code}: {message}"),
        data: json!({"ok": false, "error": {"code": code, "message": message}, "duration_ms": 0}),
        ok: false,
    }
}

fn failed_outcome(code: &str, message: &str, ms: u64) -> Outcome {
    Outcome {
        content: format!("error {code}: {message}"),
        data: json!({"ok": false, "error": {"code": code, "message": message}, "duration_ms": ms}),
        ok: false,
    }
}

/// Cuts `text` to `budget` bytes at a character boundary; the note says what was cut.
fn cut(text: &str, budget: usize) -> (String, Option<String>) {
    if text.len() <= budget {
        return (text.to_owned(), None);
    }
    let mut end = budget;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let note = format!(
        "[truncated by Acorn: {end} of {} bytes shown; ask for less (one namespace, a label \
         selector, fewer log lines) to see the rest]",
        text.len()
    );
    (text[..end].to_owned(), Some(note))
}

fn util_truncate(s: &str, max: usize) -> String {
    cut(s, max).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_respects_char_boundaries_and_says_so() {
        let (text, note) = cut("ééé", 3);
        assert_eq!(text, "é");
        assert!(note.unwrap().contains("2 of 6 bytes"));
        assert_eq!(cut("short", 10), ("short".to_owned(), None));
    }
}
