//! Pod logs (`GET .../pods/{name}/log`): `text/plain`, every PodLogOptions parameter, and the
//! exact errors the API server and kubelet give (container required, unknown container, no
//! previous container, container waiting to start).

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use super::ApiRequest;
use crate::error::ApiError;
use crate::sim::LogLine;
use crate::time::{now, parse_rfc3339, rfc3339_nanos};

fn invalid(pod: &str, message: String) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("PodLogOptions \"{pod}\" is invalid: {message}"),
    )
}

fn names(pod: &Value, field: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn container_status<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|f| {
            pod.pointer(&format!("/status/{f}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(container))
}

pub(super) async fn serve(
    req: &ApiRequest,
    ns: &str,
    pod_name: &str,
) -> Result<Response, ApiError> {
    let sim = &req.sim;
    let pod_id = sim
        .registry()
        .by_kind("v1", "Pod")
        .ok_or_else(ApiError::path_not_found)?;
    let pod = sim.store.get(pod_id, ns, pod_name)?;
    let q = &req.query;

    let containers = names(&pod, "containers");
    let init = names(&pod, "initContainers");
    let container = match q.get("container") {
        Some(c) => c.to_string(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            return Err(ApiError::bad_request(message));
        }
    };
    if !containers.contains(&container) && !init.contains(&container) {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {pod_name}"
        )));
    }

    let tail = q.number("tailLines")?;
    let since_seconds = q.number("sinceSeconds")?;
    let limit_bytes = q.number("limitBytes")?;
    let since_time = match q.get("sinceTime") {
        Some(t) => Some(parse_rfc3339(t).ok_or_else(|| {
            ApiError::bad_request(format!(
                "sinceTime: Invalid value: \"{t}\": must be an RFC3339 timestamp"
            ))
        })?),
        None => None,
    };
    if since_seconds.is_some() && since_time.is_some() {
        return Err(invalid(
            pod_name,
            "at most one of sinceTime or sinceSeconds may be specified".into(),
        ));
    }
    if let Some(s) = since_seconds.filter(|s| *s < 1) {
        return Err(invalid(
            pod_name,
            format!("sinceSeconds: Invalid value: {s}: must be greater than 0"),
        ));
    }
    if let Some(t) = tail.filter(|t| *t < 0) {
        return Err(invalid(
            pod_name,
            format!("tailLines: Invalid value: {t}: must be greater than or equal to 0"),
        ));
    }
    if let Some(l) = limit_bytes.filter(|l| *l < 1) {
        return Err(invalid(
            pod_name,
            format!("limitBytes: Invalid value: {l}: must be greater than 0"),
        ));
    }
    let previous = q.flag("previous");
    let follow = q.flag("follow");
    let timestamps = q.flag("timestamps");

    // An unscheduled pod has no kubelet to ask: the API server returns an empty log.
    if pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Ok(text(Vec::new()));
    }
    let status = container_status(&pod, &container);
    let lines = if previous {
        sim.log_lines(ns, pod_name, &container, true)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
                ))
            })?
    } else {
        let waiting = status
            .and_then(|s| s.pointer("/state/waiting/reason"))
            .and_then(Value::as_str);
        let current = sim.log_lines(ns, pod_name, &container, false);
        match (waiting, current) {
            (
                Some(
                    "ImagePullBackOff" | "ErrImagePull" | "ErrImageNeverPull" | "InvalidImageName",
                ),
                _,
            ) => {
                return Err(ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{pod_name}\" is waiting to start: trying and failing to pull image"
                )));
            }
            // CrashLoopBackOff: the kubelet serves the last (terminated) run's log.
            (Some("CrashLoopBackOff"), current) => current.unwrap_or_default(),
            (Some(reason), _) => {
                return Err(ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{pod_name}\" is waiting to start: {reason}"
                )));
            }
            (None, None) if status.is_none() => {
                return Err(ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{pod_name}\" is waiting to start: ContainerCreating"
                )));
            }
            (_, current) => current.unwrap_or_default(),
        }
    };

    let cutoff = match (since_seconds, since_time) {
        // An absurd sinceSeconds reaches before any log line: everything.
        (Some(s), _) => now().checked_sub(time::Duration::seconds(s)),
        (_, Some(t)) => Some(t),
        _ => None,
    };
    let mut selected: Vec<&LogLine> = lines
        .iter()
        .filter(|l| cutoff.is_none_or(|c| l.time >= c))
        .collect();
    if let Some(tail) = tail {
        let keep = usize::try_from(tail).unwrap_or(0);
        let skip = selected.len().saturating_sub(keep);
        selected.drain(..skip);
    }
    let render = move |l: &LogLine| {
        if timestamps {
            format!("{} {}\n", rfc3339_nanos(l.time), l.text)
        } else {
            format!("{}\n", l.text)
        }
    };
    let mut out: Vec<u8> = selected
        .iter()
        .flat_map(|l| render(l).into_bytes())
        .collect();
    if let Some(limit) = limit_bytes {
        out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    if !follow || previous {
        return Ok(text(out));
    }

    // follow: what exists now, then lines as the timeline appends them, until the client leaves.
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let mut live = sim.follow_logs();
    let key = (
        ns.to_string(),
        pod_name.to_string(),
        container.clone(),
        false,
    );
    let _ = tx.try_send(Ok(Bytes::from(out)));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                received = live.recv() => match received {
                    Ok((k, line)) if k == key => {
                        if tx.send(Ok(Bytes::from(render(&line)))).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn text(body: Vec<u8>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}
