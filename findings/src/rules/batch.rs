//! Jobs and CronJobs.
//!
//! - `job.backoff_limit_exceeded` / `job.deadline_exceeded` / `job.failed`: the Job's `Failed`
//!   condition. A Job a CronJob created is reported only while it is that CronJob's most recent
//!   Job: the failed Jobs kept by `failedJobsHistoryLimit` are history once a later run exists.
//! - `cronjob.not_scheduling`: a CronJob that is not suspended and whose next run after
//!   `status.lastScheduleTime` (or its creation) is overdue by more than a margin (10 minutes,
//!   or half the schedule's period when that is longer, plus 14 hours when `spec.timeZone` is
//!   not UTC since the zone database is not at hand), or that has recent warning events from
//!   the controller (`FailedCreate`, `TooManyMissedTimes`, `InvalidSchedule`, …). The evidence
//!   says why when Kubernetes does (`JobAlreadyActive`: a prior Job still runs and
//!   `concurrencyPolicy` is `Forbid`).

use acorn_proto::findings::{Finding, Severity};
use serde_json::Value;

use super::cron::Schedule;
use super::{Ctx, Draft, controller_of, telling_lines};
use crate::evidence;
use crate::snapshot::ObjKey;
use crate::time::{format_rfc3339, human, parse_rfc3339};
use crate::value::{arr, b, item, ne, s};

/// At most this many failed pods are quoted in a Job finding.
const MAX_PODS: usize = 5;

/// When a Job started (`status.startTime`, else its creation).
fn started(job: &Value) -> Option<i64> {
    ne(job, "status.startTime")
        .or_else(|| ne(job, "metadata.creationTimestamp"))
        .and_then(parse_rfc3339)
}

pub(super) fn job(ctx: &Ctx, key: &ObjKey, job: &Value, out: &mut Vec<Finding>) {
    let Some(failed) =
        item(job, "status.conditions", "type", "Failed").filter(|c| s(c, "status") == Some("True"))
    else {
        return;
    };
    let cron = controller_of(key, job).filter(|o| o.kind == "CronJob");
    if let Some(cron) = &cron {
        let mine = started(job).unwrap_or(i64::MIN);
        let newer = ctx.snap.children(cron).iter().any(|k| {
            k.kind == "Job"
                && k != key
                && ctx.snap.get(k).and_then(started).is_some_and(|t| t > mine)
        });
        if newer {
            return;
        }
    }
    let reason = s(failed, "reason").unwrap_or_default();
    let message = s(failed, "message").unwrap_or_default();
    let rule = match reason {
        "BackoffLimitExceeded" => "job.backoff_limit_exceeded",
        "DeadlineExceeded" => "job.deadline_exceeded",
        _ => "job.failed",
    };
    let mut d = Draft::new(rule, Severity::Warning, key);
    d.title(format!(
        "Job {}{} failed: {} ({})",
        key.name,
        cron.as_ref()
            .map(|c| format!(" (CronJob {})", c.name))
            .unwrap_or_default(),
        if message.is_empty() { reason } else { message },
        reason
    ));
    d.remediation(match reason {
        "BackoffLimitExceeded" => format!(
            "Every retry failed. Read the failed pods' logs (`kubectl logs -n {} job/{}`) for the \
             error, fix it, then rerun the Job{}.",
            key.namespace,
            key.name,
            if cron.is_some() {
                " (or wait for the next scheduled run)"
            } else {
                ""
            }
        ),
        "DeadlineExceeded" => {
            "The Job ran longer than spec.activeDeadlineSeconds and was stopped. \
             Find out why it was slow (logs, a dependency, resources) or raise the deadline if \
             the work legitimately takes longer."
                .to_string()
        }
        _ => "Read the condition's message and the failed pods' logs, fix the cause and rerun."
            .to_string(),
    });
    d.field(key, job, "status.conditions[Failed].reason");
    d.field(key, job, "status.conditions[Failed].message");
    match reason {
        "BackoffLimitExceeded" => {
            d.field(key, job, "spec.backoffLimit");
            d.field(key, job, "status.failed");
        }
        "DeadlineExceeded" => {
            d.field(key, job, "spec.activeDeadlineSeconds");
            d.field(key, job, "status.startTime");
        }
        _ => {}
    }
    if let Some((k, e)) = ctx.recent_events(key, reason).first() {
        d.event(k, e);
    } else if let Some((k, e)) = ctx
        .events(key)
        .into_iter()
        .find(|(_, e)| s(e, "reason") == Some(reason))
    {
        d.event(k, e);
    }
    if let Some(cron) = &cron {
        d.object(cron);
    }
    let mut quoted = 0;
    for pod_key in ctx.snap.children(key) {
        if pod_key.kind != "Pod" || quoted == MAX_PODS {
            continue;
        }
        let Some(pod) = ctx.snap.get(pod_key) else {
            continue;
        };
        if s(pod, "status.phase") != Some("Failed") && reason != "DeadlineExceeded" {
            continue;
        }
        quoted += 1;
        d.object(pod_key);
        for cs in arr(pod, "status.containerStatuses") {
            let Some(name) = s(cs, "name") else { continue };
            for state in ["state", "lastState"] {
                if s(cs, &format!("{state}.terminated.reason")).is_some() {
                    d.field(
                        pod_key,
                        pod,
                        &format!("status.containerStatuses[{name}].{state}.terminated.reason"),
                    );
                    d.field(
                        pod_key,
                        pod,
                        &format!("status.containerStatuses[{name}].{state}.terminated.exitCode"),
                    );
                    break;
                }
            }
            // A finished container's log is its "current" log.
            let lines = ctx.snap.log(&pod_key.namespace, &pod_key.name, name, false);
            for line in telling_lines(lines, 2) {
                d.ev(Some(evidence::log(pod_key, name, false, line)));
            }
        }
    }
    out.push(d.finish(ctx.now));
}

pub(super) fn cronjob(ctx: &Ctx, key: &ObjKey, cj: &Value, out: &mut Vec<Finding>) {
    if b(cj, "spec.suspend") == Some(true) {
        return;
    }
    let schedule_text = s(cj, "spec.schedule").unwrap_or_default();
    let schedule = Schedule::parse(schedule_text);
    let last = ne(cj, "status.lastScheduleTime")
        .or_else(|| ne(cj, "metadata.creationTimestamp"))
        .and_then(parse_rfc3339);
    let foreign_zone = ne(cj, "spec.timeZone")
        .is_some_and(|z| !matches!(z, "UTC" | "Etc/UTC" | "Etc/GMT" | "GMT"));
    let overdue = match (&schedule, last) {
        (Some(schedule), Some(last)) => schedule.next_after(last).and_then(|next| {
            let period = schedule.next_after(next).map_or(0, |after| after - next);
            let margin = (period / 2).max(600) + if foreign_zone { 14 * 3600 } else { 0 };
            (ctx.now > next + margin).then_some(next)
        }),
        _ => None,
    };
    let warnings: Vec<(&ObjKey, &Value)> = ctx
        .events(key)
        .into_iter()
        .filter(|(_, e)| {
            ctx.recent(e)
                && matches!(
                    s(e, "reason"),
                    Some(
                        "FailedCreate"
                            | "TooManyMissedTimes"
                            | "InvalidSchedule"
                            | "UnparseableSchedule"
                            | "FailedNeedsStart"
                            | "MissSchedule"
                    )
                )
        })
        .collect();
    if overdue.is_none() && warnings.is_empty() {
        return;
    }
    let already_active: Vec<(&ObjKey, &Value)> = ctx
        .events(key)
        .into_iter()
        .filter(|(_, e)| s(e, "reason") == Some("JobAlreadyActive") && ctx.recent(e))
        .collect();
    let active = arr(cj, "status.active");
    let forbid = s(cj, "spec.concurrencyPolicy") == Some("Forbid");
    let mut d = Draft::new("cronjob.not_scheduling", Severity::Warning, key);
    let since = last.map_or("its creation".to_string(), |t| {
        format!("{} ({} ago)", format_rfc3339(t), human(ctx.now - t))
    });
    let why = if forbid && !active.is_empty() {
        let job = active
            .first()
            .and_then(|a| s(a, "name"))
            .unwrap_or("a prior Job");
        format!(": Job {job} is still running and concurrencyPolicy is Forbid")
    } else if let Some((_, e)) = warnings.first() {
        format!(": {}", evidence::event_text(e))
    } else {
        String::new()
    };
    let due = overdue
        .map(|next| format!(", the run due at {} did not start", format_rfc3339(next)))
        .unwrap_or_default();
    d.title(format!(
        "CronJob {} has not started a Job since {since} (schedule \"{schedule_text}\"{due}){why}",
        key.name
    ));
    d.remediation(if forbid && !active.is_empty() {
        "A previous run never finished, and Forbid skips every new run while it is active. Find \
         out why that Job hangs (its pods' logs), delete it to unblock the schedule, and give \
         the job template an activeDeadlineSeconds so a hung run ends by itself."
            .to_string()
    } else {
        "Check the controller's events on the CronJob (invalid schedule, Job creation refused, \
         too many missed start times: set startingDeadlineSeconds) and the kube-controller-manager's \
         health."
            .to_string()
    });
    d.field(key, cj, "spec.schedule");
    d.field(key, cj, "status.lastScheduleTime");
    if forbid {
        d.field(key, cj, "spec.concurrencyPolicy");
    }
    d.field(key, cj, "status.active");
    d.field(key, cj, "spec.timeZone");
    for (k, e) in already_active.iter().take(1).chain(warnings.iter().take(2)) {
        d.event(k, e);
    }
    for a in active {
        if let Some(name) = s(a, "name") {
            let job = ObjKey::new("Job", &key.namespace, name);
            d.object(&job);
            // The hung run's pods: where its log says why.
            for pod in ctx.snap.children(&job).iter().filter(|k| k.kind == "Pod") {
                d.object(pod);
            }
        }
    }
    out.push(d.finish(ctx.now));
}
