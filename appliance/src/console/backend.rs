//! [`acorn_ui::Backend`] over the control plane's services, as one browser session.
//!
//! Each call authenticates the session cookie again (an expired or revoked session fails the
//! next action with `session_expired`, which the console turns into a trip to the sign-in
//! page) and then calls the same service function the REST route would, with the same
//! [`Caller`]: authorization is the services' `authz` checks, never decided here.

use std::sync::Arc;

use acorn_proto::agent::{Resource, ResourceKey};
use acorn_proto::authz::{Action, Role};
use acorn_proto::clusters::{ClusterView, ClusterWithKey, RegisterCluster};
use acorn_proto::clusters::{RotateAgentKey, UpdateCluster};
use acorn_proto::evals::{EvalDetail, EvalView, StartEval};
use acorn_proto::findings::FindingView;
use acorn_proto::gateway::{
    CreateMcpServer, McpRefresh, McpServerView, McpToolMode, ModelCatalog, ProviderView,
    PutProvider,
};
use acorn_proto::identity::{
    AuditChainView, AuditView, CreateInvitation, CreateToken, CreateWorkspace, InvitationView, Me,
    MemberView, Page, SetRole, TokenView, UpdateWorkspace, WorkspaceView,
};
use acorn_proto::runs::{
    ApprovalView, CreateSession, DecideApproval, Decision, PostMessage, RunSettings,
    RunSettingsView, RunView, SearchResponse, SessionDetail, SessionView,
};
use acorn_proto::webhooks::{
    CreateReceiver, CreateSubscription, DeliveryQueued, DeliveryView, EventTypeView,
    ReceiverCreated, ReceiverView, RotateSecret, SecretRotated, SubscriptionCreated,
    SubscriptionView, UpdateSubscription,
};
use acorn_ui::backend::{AuditFilter, BoxFut, ResourceFilter, RunActivity, RunEvents, SearchQuery};
use acorn_ui::{Backend, UiError};

use crate::control::auth::{Caller, RequestMeta, authenticate_session};
use crate::control::error::ApiError;
use crate::control::routes::AppState;
use crate::control::{audit, clusters, runs, search, tokens, workspaces};
use crate::eval::service;
use crate::gateway::manage;
use crate::webhooks::api as wh;

/// The control plane as one signed-in browser session.
pub struct SessionBackend {
    pub state: AppState,
    /// The session cookie's value (the secret; only its hash is stored).
    pub cookie: String,
    pub meta: RequestMeta,
}

fn ui(e: ApiError) -> UiError {
    UiError::new(e.code.as_str(), e.message)
}

fn bad(name: &str, value: &str) -> UiError {
    UiError::new(
        "invalid_parameter",
        format!("{name}: `{value}` is not a valid value"),
    )
}

/// A snake_case name of a serde enum (`completed`, `membership`) as the enum.
fn parse_name<T: serde::de::DeserializeOwned>(name: &str, value: &str) -> Result<T, UiError> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| bad(name, value))
}

impl SessionBackend {
    async fn caller(&self) -> Result<Caller, UiError> {
        authenticate_session(&self.state.control, &self.cookie, self.meta.clone())
            .await
            .map_err(ui)
    }
}

macro_rules! call {
    ($self:ident, |$caller:ident| $body:expr) => {
        Box::pin(async move {
            let $caller = $self.caller().await?;
            let $caller = &$caller;
            $body.await.map_err(ui)
        })
    };
}

impl Backend for SessionBackend {
    fn me(&self) -> BoxFut<'_, Me> {
        Box::pin(async move {
            let caller = self.caller().await?;
            Ok(Me {
                user: workspaces::user_view(&caller.user),
                csrf_token: None,
                workspaces: workspaces::list(&self.state.control, &caller).map_err(ui)?,
            })
        })
    }

    fn create_workspace(&self, name: String) -> BoxFut<'_, WorkspaceView> {
        call!(self, |c| workspaces::create(
            &self.state.control,
            c,
            CreateWorkspace { name }
        ))
    }

    fn workspace(&self, ws: String) -> BoxFut<'_, WorkspaceView> {
        call!(self, |c| workspaces::get(&self.state.control, c, &ws))
    }

    fn update_workspace(
        &self,
        ws: String,
        name: Option<String>,
        logs_allowed: Option<bool>,
    ) -> BoxFut<'_, WorkspaceView> {
        let body = UpdateWorkspace { name, logs_allowed };
        call!(self, |c| workspaces::update(
            &self.state.control,
            c,
            &ws,
            body
        ))
    }

    fn clusters(&self, ws: String) -> BoxFut<'_, Vec<ClusterView>> {
        call!(self, |c| clusters::list(&self.state.control, c, &ws))
    }

    fn cluster(&self, ws: String, cluster: String) -> BoxFut<'_, ClusterView> {
        call!(self, |c| clusters::get(
            &self.state.control,
            c,
            &ws,
            &cluster
        ))
    }

    fn register_cluster(&self, ws: String, body: RegisterCluster) -> BoxFut<'_, ClusterWithKey> {
        call!(self, |c| clusters::register(
            &self.state.control,
            c,
            &ws,
            body
        ))
    }

    fn resources(
        &self,
        ws: String,
        cluster: String,
        filter: ResourceFilter,
    ) -> BoxFut<'_, Vec<Resource>> {
        let query = clusters::ObjectQuery {
            kind: filter.kind,
            namespace: filter.namespace,
            after: None,
            limit: filter.limit.clamp(1, 1000),
        };
        call!(self, |c| clusters::objects(
            &self.state.control,
            c,
            &ws,
            &cluster,
            query
        ))
    }

    fn resource(&self, ws: String, cluster: String, key: ResourceKey) -> BoxFut<'_, Resource> {
        call!(self, |c| clusters::object(
            &self.state.control,
            c,
            &ws,
            &cluster,
            &key
        ))
    }

    fn findings(&self, ws: String, cluster: Option<String>) -> BoxFut<'_, Vec<FindingView>> {
        Box::pin(async move {
            let caller = self.caller().await?;
            let q = crate::findings::api::FindingsQuery {
                limit: Some(100),
                ..Default::default()
            };
            let list = crate::findings::api::list(
                &self.state.control,
                &caller,
                &ws,
                cluster.as_deref(),
                &q,
            )
            .await
            .map_err(ui)?;
            Ok(list.into_iter().map(|(_, f)| f).collect())
        })
    }

    fn sessions(&self, ws: String) -> BoxFut<'_, Vec<SessionView>> {
        call!(self, |c| runs::list_sessions(
            &self.state.engine,
            c,
            &ws,
            None
        ))
    }

    fn create_session(
        &self,
        ws: String,
        cluster: String,
        title: Option<String>,
    ) -> BoxFut<'_, SessionView> {
        let body = CreateSession {
            cluster_id: cluster,
            title,
        };
        call!(self, |c| runs::create_session(
            &self.state.engine,
            c,
            &ws,
            body
        ))
    }

    fn session(&self, ws: String, session: String) -> BoxFut<'_, SessionDetail> {
        call!(self, |c| runs::get_session(
            &self.state.engine,
            c,
            &ws,
            &session
        ))
    }

    fn post_message(&self, ws: String, session: String, body: PostMessage) -> BoxFut<'_, RunView> {
        call!(self, |c| runs::post_message(
            &self.state.engine,
            c,
            &ws,
            &session,
            body
        ))
    }

    fn run(&self, ws: String, run: String) -> BoxFut<'_, RunView> {
        call!(self, |c| runs::get_run(&self.state.engine, c, &ws, &run))
    }

    fn follow_run(&self, ws: String, run: String, after: Option<u64>) -> BoxFut<'_, RunEvents> {
        Box::pin(async move {
            let caller = self.caller().await?;
            let engine = Arc::clone(&self.state.engine);
            let (_, record) = runs::find_run(&engine, &caller, &ws, &run, Action::RunsRead)
                .await
                .map_err(ui)?;
            let stream = crate::control::routes::workspaces::runs::follow(engine, &record, after);
            Ok(Box::pin(stream) as RunEvents)
        })
    }

    fn approvals(&self, ws: String, run: String) -> BoxFut<'_, Vec<ApprovalView>> {
        call!(self, |c| runs::list_approvals(
            &self.state.engine,
            c,
            &ws,
            &run
        ))
    }

    fn decide(
        &self,
        ws: String,
        run: String,
        approval: String,
        decision: Decision,
        comment: Option<String>,
    ) -> BoxFut<'_, ApprovalView> {
        let body = DecideApproval { decision, comment };
        call!(self, |c| runs::decide(
            &self.state.engine,
            c,
            &ws,
            &run,
            &approval,
            body
        ))
    }

    fn cancel_run(&self, ws: String, run: String) -> BoxFut<'_, RunView> {
        call!(self, |c| runs::cancel_run(&self.state.engine, c, &ws, &run))
    }

    fn run_settings(&self, ws: String) -> BoxFut<'_, RunSettingsView> {
        call!(self, |c| runs::run_settings(&self.state.engine, c, &ws))
    }

    fn set_run_settings(&self, ws: String, body: RunSettings) -> BoxFut<'_, RunSettingsView> {
        call!(self, |c| runs::set_run_settings(
            &self.state.engine,
            c,
            &ws,
            body
        ))
    }

    fn search(&self, query: SearchQuery) -> BoxFut<'_, SearchResponse> {
        Box::pin(async move {
            let caller = self.caller().await?;
            let state = match query.state.as_deref() {
                Some(s) => Some(parse_name("state", s)?),
                None => None,
            };
            let params = search::SearchParams {
                q: query.q,
                workspace_id: query.workspace_id,
                cluster_id: query.cluster_id,
                state,
                from: query.from,
                to: query.to,
                limit: Some(query.limit.clamp(1, 100)),
                offset: None,
            };
            search::search(&self.state.search, &caller, params)
                .await
                .map_err(ui)
        })
    }

    fn members(&self, ws: String) -> BoxFut<'_, Vec<MemberView>> {
        call!(self, |c| workspaces::members(&self.state.control, c, &ws))
    }

    fn set_role(&self, ws: String, user: String, role: Role) -> BoxFut<'_, MemberView> {
        call!(self, |c| workspaces::set_role(
            &self.state.control,
            c,
            &ws,
            &user,
            SetRole { role }
        ))
    }

    fn remove_member(&self, ws: String, user: String) -> BoxFut<'_, ()> {
        call!(self, |c| workspaces::remove(
            &self.state.control,
            c,
            &ws,
            &user
        ))
    }

    fn invitations(&self, ws: String) -> BoxFut<'_, Vec<InvitationView>> {
        call!(self, |c| workspaces::invitations(
            &self.state.control,
            c,
            &ws
        ))
    }

    fn invite(&self, ws: String, body: CreateInvitation) -> BoxFut<'_, InvitationView> {
        call!(self, |c| workspaces::invite(
            &self.state.control,
            c,
            &ws,
            body
        ))
    }

    fn revoke_invitation(&self, ws: String, invitation: String) -> BoxFut<'_, ()> {
        call!(self, |c| workspaces::revoke_invitation(
            &self.state.control,
            c,
            &ws,
            &invitation
        ))
    }

    fn tokens(&self, ws: String) -> BoxFut<'_, Vec<TokenView>> {
        call!(self, |c| tokens::list(&self.state.control, c, &ws))
    }

    fn create_token(&self, ws: String, body: CreateToken) -> BoxFut<'_, TokenView> {
        call!(self, |c| tokens::create(&self.state.control, c, &ws, body))
    }

    fn revoke_token(&self, ws: String, token: String) -> BoxFut<'_, ()> {
        call!(self, |c| tokens::revoke(
            &self.state.control,
            c,
            &ws,
            &token
        ))
    }

    fn audit(&self, ws: String, filter: AuditFilter) -> BoxFut<'_, Page<AuditView>> {
        Box::pin(async move {
            let caller = self.caller().await?;
            let category = match filter.category.as_deref() {
                Some(c) => Some(parse_name("category", c)?),
                None => None,
            };
            let query = audit::AuditQuery {
                actor: filter.actor,
                category,
                since: filter.since,
                until: filter.until,
                cursor: filter.cursor,
                limit: Some(50),
            };
            audit::list(&self.state.control, &caller, &ws, query)
                .await
                .map_err(ui)
        })
    }

    fn providers(&self, ws: String) -> BoxFut<'_, Vec<ProviderView>> {
        call!(self, |c| manage::list_providers(
            &self.state.control,
            &self.state.gateway,
            c,
            &ws
        ))
    }

    fn put_provider(
        &self,
        ws: String,
        name: String,
        body: PutProvider,
    ) -> BoxFut<'_, ProviderView> {
        call!(self, |c| manage::put_provider(
            &self.state.control,
            &self.state.gateway,
            c,
            &ws,
            &name,
            body
        ))
    }

    fn models(&self, ws: String, provider: String) -> BoxFut<'_, ModelCatalog> {
        call!(self, |c| manage::catalog(
            &self.state.control,
            &self.state.gateway,
            c,
            &ws,
            &provider
        ))
    }

    fn mcp_servers(&self, ws: String) -> BoxFut<'_, Vec<McpServerView>> {
        call!(self, |c| manage::list_mcp_servers(
            &self.state.control,
            &self.state.gateway,
            c,
            &ws
        ))
    }

    fn create_mcp_server(&self, ws: String, body: CreateMcpServer) -> BoxFut<'_, McpServerView> {
        call!(self, |c| manage::create_mcp_server(
            &self.state.control,
            &self.state.gateway,
            c,
            &ws,
            body
        ))
    }

    fn refresh_mcp_server(&self, ws: String, server: String) -> BoxFut<'_, McpRefresh> {
        call!(self, |c| manage::refresh_mcp_server(
            &self.state.control,
            &self.state.gateway,
            c,
            &ws,
            &server
        ))
    }

    fn set_mcp_tool_mode(
        &self,
        ws: String,
        server: String,
        tool: String,
        mode: McpToolMode,
    ) -> BoxFut<'_, McpServerView> {
        call!(self, |c| manage::set_mcp_tool_mode(
            &self.state.control,
            &self.state.gateway,
            c,
            &ws,
            &server,
            &tool,
            mode
        ))
    }

    fn webhook_event_types(&self) -> BoxFut<'_, Vec<EventTypeView>> {
        Box::pin(async move {
            // Public in the API too, but the console still wants a live session.
            self.caller().await?;
            Ok(wh::event_types())
        })
    }

    fn webhooks(&self, ws: String) -> BoxFut<'_, Vec<SubscriptionView>> {
        call!(self, |c| wh::list(
            &self.state.control,
            &self.state.webhooks,
            c,
            &ws
        ))
    }

    fn create_webhook(
        &self,
        ws: String,
        body: CreateSubscription,
    ) -> BoxFut<'_, SubscriptionCreated> {
        call!(self, |c| wh::create(
            &self.state.control,
            &self.state.webhooks,
            c,
            &ws,
            body
        ))
    }

    fn update_webhook(
        &self,
        ws: String,
        id: String,
        body: UpdateSubscription,
    ) -> BoxFut<'_, SubscriptionView> {
        call!(self, |c| wh::update(
            &self.state.control,
            &self.state.webhooks,
            c,
            &ws,
            &id,
            body
        ))
    }

    fn delete_webhook(&self, ws: String, id: String) -> BoxFut<'_, ()> {
        call!(self, |c| wh::delete(
            &self.state.control,
            &self.state.webhooks,
            c,
            &ws,
            &id
        ))
    }

    fn rotate_webhook_secret(
        &self,
        ws: String,
        id: String,
        overlap_seconds: Option<u64>,
    ) -> BoxFut<'_, SecretRotated> {
        call!(self, |c| wh::rotate_secret(
            &self.state.control,
            &self.state.webhooks,
            c,
            &ws,
            &id,
            RotateSecret { overlap_seconds }
        ))
    }

    fn test_webhook(&self, ws: String, id: String) -> BoxFut<'_, DeliveryQueued> {
        call!(self, |c| wh::test(
            &self.state.control,
            &self.state.webhooks,
            c,
            &ws,
            &id
        ))
    }

    fn webhook_deliveries(
        &self,
        ws: String,
        id: String,
        limit: usize,
    ) -> BoxFut<'_, Page<DeliveryView>> {
        call!(self, |c| wh::deliveries(
            &self.state.control,
            &self.state.webhooks,
            c,
            &ws,
            &id,
            None,
            Some(limit)
        ))
    }

    fn redeliver_webhook(
        &self,
        ws: String,
        id: String,
        delivery: String,
    ) -> BoxFut<'_, DeliveryQueued> {
        call!(self, |c| wh::redeliver(
            &self.state.control,
            &self.state.webhooks,
            c,
            &ws,
            &id,
            &delivery
        ))
    }

    fn alert_receivers(&self, ws: String) -> BoxFut<'_, Vec<ReceiverView>> {
        call!(self, |c| wh::list_receivers(
            &self.state.control,
            &self.state.webhooks,
            c,
            &ws
        ))
    }

    fn create_alert_receiver(
        &self,
        ws: String,
        body: CreateReceiver,
    ) -> BoxFut<'_, ReceiverCreated> {
        call!(self, |c| wh::create_receiver(
            &self.state.control,
            &self.state.webhooks,
            c,
            &ws,
            body
        ))
    }

    fn delete_alert_receiver(&self, ws: String, id: String) -> BoxFut<'_, ()> {
        call!(self, |c| wh::delete_receiver(
            &self.state.control,
            &self.state.webhooks,
            c,
            &ws,
            &id
        ))
    }

    fn update_cluster(
        &self,
        ws: String,
        cluster: String,
        body: UpdateCluster,
    ) -> BoxFut<'_, ClusterView> {
        call!(self, |c| clusters::update(
            &self.state.control,
            c,
            &ws,
            &cluster,
            body
        ))
    }

    fn rotate_agent_key(
        &self,
        ws: String,
        cluster: String,
        overlap_seconds: Option<u64>,
    ) -> BoxFut<'_, ClusterWithKey> {
        call!(self, |c| clusters::rotate_key(
            &self.state.control,
            c,
            &ws,
            &cluster,
            RotateAgentKey { overlap_seconds }
        ))
    }

    fn delete_cluster(&self, ws: String, cluster: String) -> BoxFut<'_, ()> {
        call!(self, |c| clusters::delete(
            &self.state.control,
            c,
            &ws,
            &cluster
        ))
    }

    fn delete_provider(&self, ws: String, name: String) -> BoxFut<'_, ()> {
        call!(self, |c| manage::delete_provider(
            &self.state.control,
            &self.state.gateway,
            c,
            &ws,
            &name
        ))
    }

    fn evals(&self, ws: String) -> BoxFut<'_, Vec<EvalView>> {
        call!(self, |c| service::list(
            &self.state.control,
            &self.state.evals,
            c,
            &ws
        ))
    }

    fn eval(&self, ws: String, eval: String) -> BoxFut<'_, EvalDetail> {
        call!(self, |c| service::get(
            &self.state.control,
            &self.state.evals,
            c,
            &ws,
            &eval
        ))
    }

    fn start_eval(&self, ws: String, body: StartEval) -> BoxFut<'_, EvalView> {
        call!(self, |c| service::start(
            &self.state.control,
            &self.state.evals,
            c,
            &ws,
            body
        ))
    }

    fn delete_eval(&self, ws: String, eval: String) -> BoxFut<'_, ()> {
        call!(self, |c| service::delete(
            &self.state.control,
            &self.state.evals,
            c,
            &ws,
            &eval
        ))
    }

    fn verify_audit(&self, ws: String) -> BoxFut<'_, AuditChainView> {
        call!(self, |c| audit::verify(&self.state.control, c, &ws))
    }

    fn run_activity(&self) -> RunActivity {
        // Ticks only: what changed is read again through the services by the page.
        let rx = self.state.console.run_activity();
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.changed().await.ok()?;
            Some(((), rx))
        }))
    }
}
