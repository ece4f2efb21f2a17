//! The console's view of the control plane: the [`Backend`] trait, which the appliance
//! implements once per LiveView connection over its service layer, bound to the signed-in
//! user's browser session. Every method authenticates that session again and goes through the
//! same services (and so the same `authz` checks) as the REST API; the console never sees the
//! store. Errors carry the API's error code and message, which the pages show as they are.
//!
//! Methods take owned arguments and return boxed futures so that the trait is object-safe
//! (`Arc<dyn Backend>` is a prop of the root component) without an extra macro crate.

use std::future::Future;
use std::pin::Pin;

use acorn_proto::agent::{Resource, ResourceKey};
use acorn_proto::authz::Role;
use acorn_proto::clusters::UpdateCluster;
use acorn_proto::clusters::{ClusterView, ClusterWithKey, RegisterCluster};
use acorn_proto::evals::{EvalDetail, EvalView, StartEval};
use acorn_proto::findings::FindingView;
use acorn_proto::gateway::{
    CreateMcpServer, McpRefresh, McpServerView, McpToolMode, ModelCatalog, ProviderView,
    PutProvider,
};
use acorn_proto::identity::{
    AuditChainView, AuditView, CreateInvitation, CreateToken, InvitationView, Me, MemberView, Page,
    TokenView, WorkspaceView,
};
use acorn_proto::runs::{
    ApprovalView, Decision, PostMessage, RunEvent, RunSettings, RunSettingsView, RunView,
    SearchResponse, SessionDetail, SessionView,
};
use acorn_proto::webhooks::{
    CreateReceiver, CreateSubscription, DeliveryQueued, DeliveryView, EventTypeView,
    ReceiverCreated, ReceiverView, SecretRotated, SubscriptionCreated, SubscriptionView,
    UpdateSubscription,
};

/// A future returned by the backend.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T, UiError>> + Send + 'a>>;

/// A stream of a run's events: replayed from the store, then live, in order, ending after the
/// run's last event.
pub type RunEvents = Pin<Box<dyn futures_util::Stream<Item = RunEvent> + Send>>;

/// Ticks whenever a run starts, changes state or ends anywhere on the appliance. A tick carries
/// nothing: a page that follows it reads what it shows again through the services, so it never
/// learns about runs its user may not read.
pub type RunActivity = Pin<Box<dyn futures_util::Stream<Item = ()> + Send>>;

/// A refusal or failure, as the API would have answered it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct UiError {
    /// The API error code (`forbidden`, `session_expired`, …).
    pub code: String,
    /// The API's message, shown to the user as it is.
    pub message: String,
}

impl UiError {
    /// A new error.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        UiError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The session is gone: the page sends the browser to the sign-in page.
    pub fn is_signed_out(&self) -> bool {
        matches!(self.code.as_str(), "session_expired" | "unauthenticated")
    }
}

/// Filters of the search page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchQuery {
    pub q: String,
    pub workspace_id: Option<String>,
    pub cluster_id: Option<String>,
    /// A run state name (`completed`, `failed`, …).
    pub state: Option<String>,
    pub limit: usize,
    /// Start of the time range (inclusive), as the API takes it: unix seconds, an RFC 3339
    /// time or a date (`2026-11-27`, UTC).
    pub from: Option<String>,
    /// End of the time range (exclusive); a date includes its whole day.
    pub to: Option<String>,
}

/// Filters of the audit page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// A category name (`auth`, `membership`, `cluster`, …).
    pub category: Option<String>,
    pub cursor: Option<String>,
    /// Records at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Records before this RFC 3339 time.
    pub until: Option<String>,
}

/// Filters of a cluster's resource browser.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceFilter {
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub limit: usize,
}

/// The control plane as the signed-in user may use it. See the module docs.
pub trait Backend: Send + Sync + 'static {
    /// Who is signed in and their workspaces.
    fn me(&self) -> BoxFut<'_, Me>;
    /// Creates a workspace (appliance administrators).
    fn create_workspace(&self, name: String) -> BoxFut<'_, WorkspaceView>;
    /// One workspace with the caller's permissions.
    fn workspace(&self, ws: String) -> BoxFut<'_, WorkspaceView>;
    /// Renames the workspace or changes whether tools may read pod logs in it.
    fn update_workspace(
        &self,
        ws: String,
        name: Option<String>,
        logs_allowed: Option<bool>,
    ) -> BoxFut<'_, WorkspaceView>;

    fn clusters(&self, ws: String) -> BoxFut<'_, Vec<ClusterView>>;
    fn cluster(&self, ws: String, cluster: String) -> BoxFut<'_, ClusterView>;
    fn register_cluster(&self, ws: String, body: RegisterCluster) -> BoxFut<'_, ClusterWithKey>;
    fn resources(
        &self,
        ws: String,
        cluster: String,
        filter: ResourceFilter,
    ) -> BoxFut<'_, Vec<Resource>>;
    fn resource(&self, ws: String, cluster: String, key: ResourceKey) -> BoxFut<'_, Resource>;
    /// Open and recent findings of the workspace, or of one cluster.
    fn findings(&self, ws: String, cluster: Option<String>) -> BoxFut<'_, Vec<FindingView>>;

    fn sessions(&self, ws: String) -> BoxFut<'_, Vec<SessionView>>;
    fn create_session(
        &self,
        ws: String,
        cluster: String,
        title: Option<String>,
    ) -> BoxFut<'_, SessionView>;
    fn session(&self, ws: String, session: String) -> BoxFut<'_, SessionDetail>;
    /// Posts a question: starts a run.
    fn post_message(&self, ws: String, session: String, body: PostMessage) -> BoxFut<'_, RunView>;
    fn run(&self, ws: String, run: String) -> BoxFut<'_, RunView>;
    /// The run's events after `after` (all when `None`), then live ones until the run ends.
    fn follow_run(&self, ws: String, run: String, after: Option<u64>) -> BoxFut<'_, RunEvents>;
    fn approvals(&self, ws: String, run: String) -> BoxFut<'_, Vec<ApprovalView>>;
    fn decide(
        &self,
        ws: String,
        run: String,
        approval: String,
        decision: Decision,
        comment: Option<String>,
    ) -> BoxFut<'_, ApprovalView>;
    fn cancel_run(&self, ws: String, run: String) -> BoxFut<'_, RunView>;
    fn run_settings(&self, ws: String) -> BoxFut<'_, RunSettingsView>;
    fn set_run_settings(&self, ws: String, body: RunSettings) -> BoxFut<'_, RunSettingsView>;

    /// Run search over every workspace the caller may read; also says whether the index is
    /// rebuilding.
    fn search(&self, query: SearchQuery) -> BoxFut<'_, SearchResponse>;

    fn members(&self, ws: String) -> BoxFut<'_, Vec<MemberView>>;
    fn set_role(&self, ws: String, user: String, role: Role) -> BoxFut<'_, MemberView>;
    fn remove_member(&self, ws: String, user: String) -> BoxFut<'_, ()>;
    fn invitations(&self, ws: String) -> BoxFut<'_, Vec<InvitationView>>;
    fn invite(&self, ws: String, body: CreateInvitation) -> BoxFut<'_, InvitationView>;
    fn revoke_invitation(&self, ws: String, invitation: String) -> BoxFut<'_, ()>;

    fn tokens(&self, ws: String) -> BoxFut<'_, Vec<TokenView>>;
    fn create_token(&self, ws: String, body: CreateToken) -> BoxFut<'_, TokenView>;
    fn revoke_token(&self, ws: String, token: String) -> BoxFut<'_, ()>;

    fn audit(&self, ws: String, filter: AuditFilter) -> BoxFut<'_, Page<AuditView>>;

    fn providers(&self, ws: String) -> BoxFut<'_, Vec<ProviderView>>;
    fn put_provider(&self, ws: String, name: String, body: PutProvider)
    -> BoxFut<'_, ProviderView>;
    fn models(&self, ws: String, provider: String) -> BoxFut<'_, ModelCatalog>;

    fn mcp_servers(&self, ws: String) -> BoxFut<'_, Vec<McpServerView>>;
    fn create_mcp_server(&self, ws: String, body: CreateMcpServer) -> BoxFut<'_, McpServerView>;
    fn refresh_mcp_server(&self, ws: String, server: String) -> BoxFut<'_, McpRefresh>;
    fn set_mcp_tool_mode(
        &self,
        ws: String,
        server: String,
        tool: String,
        mode: McpToolMode,
    ) -> BoxFut<'_, McpServerView>;

    // ---- admin pages (webhooks, cluster settings, provider removal) ----------------------

    /// Every webhook event type with its description (`GET /api/v1/webhooks/event-types`).
    fn webhook_event_types(&self) -> BoxFut<'_, Vec<EventTypeView>>;
    fn webhooks(&self, ws: String) -> BoxFut<'_, Vec<SubscriptionView>>;
    /// Creates a subscription; the answer carries its signing secret, shown once.
    fn create_webhook(
        &self,
        ws: String,
        body: CreateSubscription,
    ) -> BoxFut<'_, SubscriptionCreated>;
    fn update_webhook(
        &self,
        ws: String,
        id: String,
        body: UpdateSubscription,
    ) -> BoxFut<'_, SubscriptionView>;
    fn delete_webhook(&self, ws: String, id: String) -> BoxFut<'_, ()>;
    /// A new signing secret (shown once); the previous one keeps signing for
    /// `overlap_seconds` (the configured default when `None`).
    fn rotate_webhook_secret(
        &self,
        ws: String,
        id: String,
        overlap_seconds: Option<u64>,
    ) -> BoxFut<'_, SecretRotated>;
    /// Queues a `webhook.test` delivery to this subscription.
    fn test_webhook(&self, ws: String, id: String) -> BoxFut<'_, DeliveryQueued>;
    /// The `limit` (1–500) newest deliveries of a subscription.
    fn webhook_deliveries(
        &self,
        ws: String,
        id: String,
        limit: usize,
    ) -> BoxFut<'_, Page<DeliveryView>>;
    fn redeliver_webhook(
        &self,
        ws: String,
        id: String,
        delivery: String,
    ) -> BoxFut<'_, DeliveryQueued>;
    fn alert_receivers(&self, ws: String) -> BoxFut<'_, Vec<ReceiverView>>;
    /// Creates a receiver; the answer carries its token or secret, shown once.
    fn create_alert_receiver(
        &self,
        ws: String,
        body: CreateReceiver,
    ) -> BoxFut<'_, ReceiverCreated>;
    fn delete_alert_receiver(&self, ws: String, id: String) -> BoxFut<'_, ()>;

    /// Changes a cluster's settings (`PATCH …/clusters/{id}`).
    fn update_cluster(
        &self,
        ws: String,
        cluster: String,
        body: UpdateCluster,
    ) -> BoxFut<'_, ClusterView>;
    /// A new agent key with new install instructions (shown once); the previous keys stop
    /// working after `overlap_seconds` (the service's default when `None`, 0 = at once).
    fn rotate_agent_key(
        &self,
        ws: String,
        cluster: String,
        overlap_seconds: Option<u64>,
    ) -> BoxFut<'_, ClusterWithKey>;
    /// Deletes a cluster (its agent is disconnected and its keys stop working).
    fn delete_cluster(&self, ws: String, cluster: String) -> BoxFut<'_, ()>;
    /// Deletes a workspace provider and its key.
    fn delete_provider(&self, ws: String, name: String) -> BoxFut<'_, ()>;

    // Model evaluations (`providers.manage`).
    fn evals(&self, ws: String) -> BoxFut<'_, Vec<EvalView>>;
    fn eval(&self, ws: String, eval: String) -> BoxFut<'_, EvalDetail>;
    fn start_eval(&self, ws: String, body: StartEval) -> BoxFut<'_, EvalView>;
    fn delete_eval(&self, ws: String, eval: String) -> BoxFut<'_, ()>;

    /// Checks the workspace's audit hash chain (`GET …/audit/verify`).
    fn verify_audit(&self, ws: String) -> BoxFut<'_, AuditChainView>;
    /// Follows run activity (see [`RunActivity`]); pages re-read their sessions on each tick.
    fn run_activity(&self) -> RunActivity;
}
