//! Leader election over a coordination.k8s.io/v1 Lease, so that with several replicas exactly
//! one connects to the appliance.
//!
//! The elector only uses GET, POST (create; 409 AlreadyExists = someone else won) and PUT with
//! the `resourceVersion` just read (409 Conflict = someone else wrote first). No server-side
//! apply and no unconditional patch: with those two replicas can both believe they won (see
//! `shared/kube-double.md`). Expiry is judged like client-go does, on this replica's monotonic
//! clock: a lease whose `resourceVersion` has not changed for `leaseDurationSeconds` since this
//! replica first saw it is expired, whatever the other replica's wall clock says.
//!
//! Timing (defaults): lease 15 s, renew every 10 s, retry every 2 s. A leader that cannot renew
//! steps down [`LeaseTimings::renew_deadline`] (13 s) after its last successful renewal, before
//! any follower may take over (15 s after it last saw the lease change). A follower takes over
//! at most `lease + 2 × retry` = 19 s after the leader's last renewal, within the 20 s promise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;

use crate::config::LeaderElection;
use crate::health::{Health, Role};

/// Durations of the election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimings {
    /// `leaseDurationSeconds` written into the lease.
    pub lease_duration: Duration,
    /// How often the leader renews.
    pub renew_interval: Duration,
    /// How often a follower (or a leader whose renewal failed) tries again.
    pub retry_interval: Duration,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        LeaseTimings {
            lease_duration: Duration::from_secs(15),
            renew_interval: Duration::from_secs(10),
            retry_interval: Duration::from_secs(2),
        }
    }
}

impl LeaseTimings {
    /// A leader that has not renewed for this long steps down: one retry before any follower
    /// can consider the lease expired.
    pub fn renew_deadline(&self) -> Duration {
        self.lease_duration.saturating_sub(self.retry_interval)
    }

    /// The longest time from the leader's last renewal to a follower's takeover: the follower
    /// sees the renewal at most one retry later, waits the lease duration, and tries again at
    /// most one retry after that.
    pub fn worst_case_failover(&self) -> Duration {
        self.lease_duration + self.retry_interval * 2
    }

    fn lease_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }
}

/// What went wrong talking to the API server (the elector logs it and retries).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The API server answered with an error other than the expected 409s.
    #[error("lease {namespace}/{name}: {source}")]
    Kube {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The client error.
        source: kube::Error,
    },
    /// The request did not finish in time.
    #[error("lease {namespace}/{name}: the API server did not answer in time")]
    Timeout {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
    },
}

/// One replica's elector.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    namespace: String,
    identity: String,
    timings: LeaseTimings,
    /// The lease's resourceVersion as last seen, and when it was first seen (monotonic).
    observed: Option<(String, Instant)>,
    /// Where the role is reported after every round.
    health: Option<Arc<Health>>,
}

fn now_micro() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl Elector {
    /// An elector for `settings` with `timings`.
    pub fn new(client: kube::Client, settings: &LeaderElection, timings: LeaseTimings) -> Elector {
        Elector {
            api: Api::namespaced(client, &settings.lease_namespace),
            name: settings.lease_name.clone(),
            namespace: settings.lease_namespace.clone(),
            identity: settings.identity.clone(),
            timings,
            observed: None,
            health: None,
        }
    }

    /// Reports the role (leader or follower) to `health` after every round.
    pub fn with_health(mut self, health: Arc<Health>) -> Elector {
        self.health = Some(health);
        self
    }

    fn err(&self, source: kube::Error) -> LeaseError {
        LeaseError::Kube {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        }
    }

    /// One round: takes or renews the lease if possible. `Ok(true)` = this replica leads.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaseError> {
        let now = Instant::now();
        let Some(lease) = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.err(e))?
        else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(self.timings.lease_seconds()),
                    acquire_time: Some(now_micro()),
                    renew_time: Some(now_micro()),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created, Instant::now());
                    Ok(true)
                }
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(self.err(e)),
            };
        };
        self.observe(&lease, now);
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let mut next = lease.clone();
        let next_spec = next.spec.get_or_insert_with(LeaseSpec::default);
        if holder == self.identity {
            next_spec.renew_time = Some(now_micro());
            next_spec.lease_duration_seconds = Some(self.timings.lease_seconds());
        } else {
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs)
                .unwrap_or(self.timings.lease_duration);
            let seen_at = self.observed.as_ref().map(|(_, at)| *at).unwrap_or(now);
            let expired = now.saturating_duration_since(seen_at) >= duration;
            if !holder.is_empty() && !expired {
                return Ok(false);
            }
            next_spec.holder_identity = Some(self.identity.clone());
            next_spec.acquire_time = Some(now_micro());
            next_spec.renew_time = Some(now_micro());
            next_spec.lease_duration_seconds = Some(self.timings.lease_seconds());
            next_spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        // `next` carries the resourceVersion just read: the PUT is conditional.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &next)
            .await
        {
            Ok(written) => {
                self.observe(&written, Instant::now());
                Ok(true)
            }
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    fn observe(&mut self, lease: &Lease, at: Instant) {
        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        if self.observed.as_ref().is_none_or(|(seen, _)| *seen != rv) {
            self.observed = Some((rv, at));
        }
    }

    /// Gives the lease up (at shutdown) so that a follower takes over at once.
    pub async fn release(&mut self) -> Result<(), LeaseError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.err(e))?
        else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now_micro());
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Runs the election until `shutdown` flips to true, publishing whether this replica leads
    /// on `leading`. Releases the lease on shutdown if it holds it.
    pub async fn run(mut self, leading: watch::Sender<bool>, mut shutdown: watch::Receiver<bool>) {
        let t = self.timings;
        let mut last_renewal: Option<Instant> = None;
        loop {
            let started = Instant::now();
            // A request may hang; a leader must still step down by its deadline.
            let limit = match last_renewal {
                Some(at) => (at + t.renew_deadline()).saturating_duration_since(started),
                None => t.lease_duration,
            }
            .max(Duration::from_millis(100));
            let round = tokio::time::timeout(limit, self.try_acquire_or_renew()).await;
            let round = round.unwrap_or_else(|_| {
                Err(LeaseError::Timeout {
                    namespace: self.namespace.clone(),
                    name: self.name.clone(),
                })
            });
            let wait = match round {
                Ok(true) => {
                    if last_renewal.is_none() {
                        tracing::info!(lease = %self.name, identity = %self.identity, "acquired the lease: this replica leads");
                    }
                    last_renewal = Some(started);
                    leading.send_if_modified(|l| !std::mem::replace(l, true));
                    t.renew_interval
                }
                Ok(false) => {
                    if last_renewal.take().is_some() {
                        tracing::warn!(lease = %self.name, "another replica holds the lease now: stepping down");
                    }
                    leading.send_if_modified(|l| std::mem::replace(l, false));
                    t.retry_interval
                }
                Err(e) => {
                    tracing::warn!(error = %e, "leader election round failed");
                    if let Some(at) = last_renewal
                        && at.elapsed() >= t.renew_deadline()
                    {
                        tracing::warn!(lease = %self.name, "could not renew the lease in time: stepping down");
                        last_renewal = None;
                        leading.send_if_modified(|l| std::mem::replace(l, false));
                    }
                    t.retry_interval
                }
            };
            if let Some(health) = &self.health {
                health.set_role(if *leading.borrow() {
                    Role::Leader
                } else {
                    Role::Follower
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = async { drop(shutdown.wait_for(|s| *s).await) } => {
                    leading.send_if_modified(|l| std::mem::replace(l, false));
                    if last_renewal.is_some()
                        && let Err(e) = self.release().await
                    {
                        tracing::warn!(error = %e, "could not release the lease");
                    }
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::kubesim;

    fn settings(identity: &str) -> LeaderElection {
        LeaderElection {
            lease_name: "acorn-agent".into(),
            lease_namespace: "default".into(),
            identity: identity.into(),
        }
    }

    fn fast() -> LeaseTimings {
        LeaseTimings {
            lease_duration: Duration::from_secs(3),
            renew_interval: Duration::from_secs(2),
            retry_interval: Duration::from_millis(500),
        }
    }

    #[test]
    fn default_timings_fail_over_within_20_seconds() {
        let t = LeaseTimings::default();
        assert!(t.worst_case_failover() <= Duration::from_secs(20));
        assert!(t.renew_deadline() < t.lease_duration);
        assert!(t.renew_interval < t.renew_deadline());
    }

    struct Replica {
        leading: watch::Receiver<bool>,
        shutdown: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }

    fn spawn(client: &kube::Client, identity: &str) -> Replica {
        let (leading_tx, leading) = watch::channel(false);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let elector = Elector::new(client.clone(), &settings(identity), fast());
        let task = tokio::spawn(elector.run(leading_tx, shutdown_rx));
        Replica {
            leading,
            shutdown,
            task,
        }
    }

    /// Waits until exactly one of the replicas leads, checking that two never lead at once.
    async fn one_leader(replicas: &[&Replica], within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let leaders: Vec<usize> = (0..replicas.len())
                .filter(|i| *replicas[*i].leading.borrow())
                .collect();
            assert!(leaders.len() <= 1, "two leaders at once");
            if let [one] = leaders[..] {
                return one;
            }
            assert!(Instant::now() < deadline, "no leader within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn two_electors_one_leader_and_failover() {
        let (_sim, client) = kubesim(&["healthy"]).await;
        let a = spawn(&client, "agent-a");
        let b = spawn(&client, "agent-b");
        let first = one_leader(&[&a, &b], Duration::from_secs(5)).await;
        // Stays stable (and single) over several renewals.
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            assert_eq!(one_leader(&[&a, &b], Duration::from_secs(1)).await, first);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (leader, follower) = if first == 0 { (a, b) } else { (b, a) };

        // The leader dies without releasing: the follower takes over once the lease expires.
        leader.task.abort();
        let died = Instant::now();
        let mut follower_leading = follower.leading.clone();
        tokio::time::timeout(Duration::from_secs(10), follower_leading.wait_for(|l| *l))
            .await
            .unwrap()
            .unwrap();
        let took = died.elapsed();
        let t = fast();
        assert!(
            took <= t.worst_case_failover() + Duration::from_secs(1),
            "failover took {took:?}"
        );
        assert!(
            took >= t.lease_duration - t.renew_interval,
            "took over a live lease after {took:?}"
        );

        let lease: Lease = Api::namespaced(client.clone(), "default")
            .get("acorn-agent")
            .await
            .unwrap();
        let spec = lease.spec.unwrap();
        assert_ne!(
            spec.holder_identity,
            Some(if first == 0 {
                "agent-a".into()
            } else {
                "agent-b".into()
            })
        );
        assert_eq!(spec.lease_transitions, Some(1));

        // A graceful stop releases the lease: a new replica leads at its next retry.
        let c = spawn(&client, "agent-c");
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(!*c.leading.borrow(), "c took a held lease");
        follower.shutdown.send(true).unwrap();
        follower.task.await.unwrap();
        let released = Instant::now();
        let mut c_leading = c.leading.clone();
        tokio::time::timeout(Duration::from_secs(5), c_leading.wait_for(|l| *l))
            .await
            .unwrap()
            .unwrap();
        assert!(
            released.elapsed() < t.lease_duration,
            "release was not used"
        );
        c.task.abort();
    }

    #[tokio::test]
    async fn a_stolen_lease_makes_the_leader_step_down() {
        let (_sim, client) = kubesim(&["healthy"]).await;
        let a = spawn(&client, "agent-a");
        one_leader(&[&a], Duration::from_secs(5)).await;
        // Someone else writes the lease (conditional PUT, like another elector would).
        let api: Api<Lease> = Api::namespaced(client.clone(), "default");
        let mut lease = api.get("acorn-agent").await.unwrap();
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = Some("intruder".into());
            spec.renew_time = Some(now_micro());
        }
        api.replace("acorn-agent", &PostParams::default(), &lease)
            .await
            .unwrap();
        // Our stale write must now fail with 409: the old resourceVersion is gone.
        let mut stale = lease.clone();
        stale.metadata.resource_version = Some("1".into());
        let err = api
            .replace("acorn-agent", &PostParams::default(), &stale)
            .await
            .unwrap_err();
        assert!(is_conflict(&err), "{err}");
        let mut leading = a.leading.clone();
        tokio::time::timeout(Duration::from_secs(5), leading.wait_for(|l| !*l))
            .await
            .unwrap()
            .unwrap();
        a.task.abort();
    }
}
