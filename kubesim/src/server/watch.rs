//! Watch streams: newline-delimited JSON events over a chunked response.
//!
//! A watch replays the collection's window after the requested version (or the current state
//! as ADDED for version 0/none), then forwards live events through the watcher's namespace and
//! selectors (an object that stops matching is DELETED for this watcher, one that starts is
//! ADDED), with BOOKMARKs when asked, until `timeoutSeconds`. A version older than the window
//! is an HTTP 200 carrying one ERROR 410 Expired event, as the API server does. Each stream is
//! a task writing into a channel; it stops when the client goes away.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::{ApiRequest, table, to_events_v1};
use crate::error::ApiError;
use crate::resources::{ResourceType, TypeId, View};
use crate::selector::{FieldSelector, LabelSelector};
use crate::sim::Sim;
use crate::store::{Event, EventType, WatchFrom};

/// Watches without `timeoutSeconds` end after this (the API server picks 30-60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

type Chunk = Result<Bytes, std::io::Error>;

struct Watcher {
    ty: ResourceType,
    view: Option<View>,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    table: bool,
    sent_columns: bool,
}

impl Watcher {
    fn convert(&self, object: &Value) -> Value {
        match self.view {
            Some(View::EventsV1) => to_events_v1(object),
            None => object.clone(),
        }
    }

    fn matches(&self, object: &Value) -> bool {
        if let Some(ns) = &self.namespace
            && object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                != Some(ns.as_str())
        {
            return false;
        }
        if self.labels.is_empty() && self.fields.is_empty() {
            return true;
        }
        if self.view.is_some() {
            let converted = self.convert(object);
            return self.labels.matches(&converted) && self.fields.matches(&converted);
        }
        self.labels.matches(object) && self.fields.matches(object)
    }

    /// The line to send for a store event, if this watcher sees it.
    fn line(&mut self, event: &Event) -> Option<Bytes> {
        let now = self.matches(&event.object);
        let kind = match event.kind {
            EventType::Added | EventType::Deleted => now.then_some(event.kind)?,
            EventType::Modified => {
                let before = event.previous.as_ref().is_none_or(|p| self.matches(p));
                match (before, now) {
                    (true, true) => EventType::Modified,
                    (false, true) => EventType::Added,
                    (true, false) => EventType::Deleted,
                    (false, false) => return None,
                }
            }
        };
        if self.view.is_none() && !self.table {
            // The common case: the object as stored, serialised once for all watchers.
            let body = event.encoded();
            let mut line = Vec::with_capacity(body.len() + 40);
            line.extend_from_slice(b"{\"type\":\"");
            line.extend_from_slice(kind.as_str().as_bytes());
            line.extend_from_slice(b"\",\"object\":");
            line.extend_from_slice(body);
            line.extend_from_slice(b"}\n");
            return Some(Bytes::from(line));
        }
        let object = self.convert(&event.object);
        let object = if self.table {
            let columns = !self.sent_columns;
            self.sent_columns = true;
            table::table(
                &self.ty,
                &[Arc::new(object)],
                &event.rv.to_string(),
                columns,
            )
        } else {
            object
        };
        Some(encode(kind.as_str(), &object))
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        encode(
            "BOOKMARK",
            &json!({"kind": self.ty.kind, "apiVersion": self.ty.api_version(), "metadata": metadata}),
        )
    }
}

fn encode(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

fn stream_response(rx: mpsc::Receiver<Chunk>) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache, private"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

pub(super) fn serve(
    req: &ApiRequest,
    ty: &ResourceType,
    store_id: TypeId,
    view: Option<View>,
    namespace: Option<&str>,
    labels: LabelSelector,
    fields: FieldSelector,
) -> Result<Response, ApiError> {
    let from = match req.query.get("resourceVersion") {
        None | Some("0") => WatchFrom::Current,
        Some(rv) => WatchFrom::After(rv.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: \"{rv}\": must be a non-negative integer"
            ))
        })?),
    };
    let timeout = match req.query.number("timeoutSeconds")? {
        Some(secs) if secs > 0 => Duration::from_secs(secs.unsigned_abs()),
        _ => DEFAULT_TIMEOUT,
    };
    let bookmarks = req.query.flag("allowWatchBookmarks");
    let initial_events = req.query.flag("sendInitialEvents");
    let mut watcher = Watcher {
        ty: ty.clone(),
        view,
        namespace: namespace.map(str::to_string),
        labels,
        fields,
        table: req.wants_table(),
        sent_columns: false,
    };
    let (tx, rx) = mpsc::channel::<Chunk>(256);
    let start = match req.sim.store.watch(
        store_id,
        if initial_events {
            WatchFrom::Current
        } else {
            from
        },
    ) {
        Ok(start) => start,
        Err(expired) => {
            // The API server answers 200 and reports the expiry inside the stream.
            let line = encode("ERROR", &expired.status());
            let _ = tx.try_send(Ok(line));
            return Ok(stream_response(rx));
        }
    };
    let sim: Arc<Sim> = req.sim.clone();
    tokio::spawn(async move {
        let mut live = start.live;
        let mut drops = sim.watch_drops();
        drops.mark_unchanged();
        for event in &start.replay {
            if let Some(line) = watcher.line(event)
                && tx.send(Ok(line)).await.is_err()
            {
                return;
            }
        }
        if initial_events && tx.send(Ok(watcher.bookmark(start.rv, true))).await.is_err() {
            return;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(sim.bookmark_interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                received = live.recv() => match received {
                    Ok(event) => {
                        if let Some(line) = watcher.line(&event)
                            && tx.send(Ok(line)).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // A watcher that cannot keep up is cut off, as the API server does.
                        let error = ApiError::expired("too old resource version: watcher fell behind");
                        let _ = tx.send(Ok(encode("ERROR", &error.status()))).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick(), if bookmarks && !watcher.table => {
                    // Everything up to `rv` is already in the channel: drain it, then mark it.
                    let rv = sim.store.current_rv();
                    loop {
                        match live.try_recv() {
                            Ok(event) => {
                                if let Some(line) = watcher.line(&event)
                                    && tx.send(Ok(line)).await.is_err()
                                {
                                    return;
                                }
                            }
                            Err(broadcast::error::TryRecvError::Empty) => break,
                            Err(_) => return,
                        }
                    }
                    if tx.send(Ok(watcher.bookmark(rv, false))).await.is_err() {
                        return;
                    }
                }
                _ = &mut deadline => return,
                changed = drops.changed() => {
                    let clean = changed.is_ok() && drops.borrow().1;
                    if !clean {
                        let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "watch dropped by fault injection"))).await;
                    }
                    return;
                }
                _ = tx.closed() => return,
            }
        }
    });
    Ok(stream_response(rx))
}
