//! Watch streams: newline-delimited JSON events (or length-prefixed protobuf ones) read from the store's history, with selector transitions,
//! bookmarks, initial events (streaming lists), `410 Gone` for positions older than the history, and timeouts.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::registry::ResourceType;
use super::render::{self, Format};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{EventType, ListOptions, Store};

/// Where a watch starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// Synthetic ADDED events for the current objects first (resourceVersion unset or "0", or
    /// `sendInitialEvents=true`); `end_bookmark` adds the `k8s.io/initial-events-end` bookmark.
    WithInitialEvents {
        /// Send the initial-events-end bookmark (streaming lists).
        end_bookmark: bool,
    },
    /// Only changes after the current resourceVersion (`sendInitialEvents=false` with no resourceVersion).
    Now,
    /// Only changes strictly after this resourceVersion.
    After(u64),
}

/// A validated watch request.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    /// The resource watched.
    pub rt: Arc<ResourceType>,
    /// `apiVersion` to stamp on objects.
    pub api_version: String,
    /// Namespace filter.
    pub namespace: Option<String>,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// Starting point.
    pub start: Start,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// When the server ends the stream.
    pub timeout: Duration,
    /// How often periodic bookmarks are sent.
    pub bookmark_interval: Duration,
    /// Response form.
    pub format: Format,
    /// Table `includeObject`.
    pub include_object: String,
    /// Length-prefixed protobuf frames instead of JSON lines.
    pub protobuf: bool,
}

struct Streamer {
    store: Arc<Store>,
    req: WatchRequest,
    pos: u64,
    queue: VecDeque<Bytes>,
    changed: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
    drops: watch::Receiver<u64>,
    deadline: Instant,
    next_bookmark: Instant,
    done: bool,
    headers_sent: bool,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

impl Streamer {
    /// One event in the stream's encoding. An object that has no protobuf form ends a protobuf stream with an
    /// error event, which always has one.
    fn event(&mut self, kind: &str, object: &Value) -> Bytes {
        if !self.req.protobuf {
            return line(kind, object);
        }
        match super::protobuf::watch_frame(kind, object) {
            Ok(frame) => frame,
            Err(e) => {
                self.done = true;
                let status = ApiError::internal(format!("encoding a watch event: {e}")).to_status();
                super::protobuf::watch_frame("ERROR", &status).unwrap_or_default()
            }
        }
    }

    fn matches(&self, obj: &Value) -> bool {
        self.req.namespace.as_deref().is_none_or(|ns| super::object::namespace(obj) == ns)
            && self.req.labels.matches_object(obj)
            && self.req.fields.matches(obj)
    }

    fn push(&mut self, kind: &str, obj: &Value) {
        let obj = render::at_version(obj, &self.req.api_version);
        let rendered = match self.req.format {
            Format::Full => obj.into_owned(),
            Format::Metadata => render::metadata_only(&obj),
            Format::Table => {
                let headers = !self.headers_sent;
                self.headers_sent = true;
                let meta = json!({"resourceVersion": super::object::resource_version(&obj)});
                render::table(
                    &self.req.rt,
                    std::slice::from_ref(&obj),
                    meta,
                    &self.req.include_object,
                    headers,
                )
            }
        };
        let event = self.event(kind, &rendered);
        self.queue.push_back(event);
    }

    fn bookmark(&mut self, initial_end: bool) {
        let mut meta = json!({"resourceVersion": self.pos.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.req.rt.kind, "apiVersion": self.req.api_version, "metadata": meta});
        let event = self.event("BOOKMARK", &obj);
        self.queue.push_back(event);
    }

    fn gone(&mut self, err: ApiError) {
        let event = self.event("ERROR", &err.to_status());
        self.queue.push_back(event);
        self.done = true;
    }

    /// Moves the position past every committed event and queues the ones this watcher should see.
    fn pull(&mut self) {
        self.changed.borrow_and_update();
        match self.store.events_after(self.pos) {
            Err(oldest) => {
                let pos = self.pos;
                self.gone(ApiError::too_old(pos, oldest));
            }
            Ok(events) => {
                let gr = self.req.rt.gr();
                for e in events {
                    self.pos = e.rv;
                    if e.gr != gr {
                        continue;
                    }
                    let now = self.matches(&e.object);
                    let before = e.old.as_deref().is_some_and(|o| self.matches(o));
                    let kind = match e.kind {
                        EventType::Added if now => "ADDED",
                        EventType::Modified if now && before => "MODIFIED",
                        EventType::Modified if now => "ADDED",
                        // An object that stops matching leaves this watcher's view, like upstream's cacher.
                        EventType::Modified if before => "DELETED",
                        EventType::Deleted if now || before => "DELETED",
                        _ => continue,
                    };
                    self.push(kind, &e.object);
                }
            }
        }
    }

    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.queue.pop_front() {
                return Some(b);
            }
            if self.done {
                return None;
            }
            self.pull();
            if !self.queue.is_empty() || self.done {
                continue;
            }
            let bookmarks = self.req.bookmarks;
            tokio::select! {
                r = self.changed.changed() => if r.is_err() { self.done = true },
                _ = tokio::time::sleep_until(self.deadline) => self.done = true,
                _ = tokio::time::sleep_until(self.next_bookmark), if bookmarks => {
                    self.next_bookmark = Instant::now() + self.req.bookmark_interval;
                    self.pull();
                    if !self.done {
                        self.bookmark(false);
                    }
                }
                _ = self.shutdown.changed() => self.done = true,
                _ = self.drops.changed() => self.done = true,
            }
        }
    }
}

/// Builds the event stream for a watch. Initial events are taken atomically with the starting position.
pub fn stream(
    store: Arc<Store>,
    req: WatchRequest,
    shutdown: watch::Receiver<bool>,
    mut drops: watch::Receiver<u64>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    drops.borrow_and_update();
    let changed = store.subscribe();
    let now = Instant::now();
    let mut s = Streamer {
        store: store.clone(),
        pos: 0,
        queue: VecDeque::new(),
        changed,
        shutdown,
        drops,
        deadline: now + req.timeout,
        next_bookmark: now + req.bookmark_interval,
        done: false,
        headers_sent: false,
        req,
    };
    match s.req.start.clone() {
        Start::WithInitialEvents { end_bookmark } => {
            let opts = ListOptions {
                labels: s.req.labels.clone(),
                fields: s.req.fields.clone(),
                ..Default::default()
            };
            match store.list(&s.req.rt, s.req.namespace.as_deref(), &opts) {
                Ok(list) => {
                    s.pos = list.resource_version;
                    for item in &list.items {
                        s.push("ADDED", item);
                    }
                    if end_bookmark {
                        s.bookmark(true);
                    }
                }
                Err(e) => s.gone(e),
            }
        }
        Start::Now => s.pos = store.current_rv(),
        Start::After(rv) => {
            s.pos = rv;
            if let Err(e) = store.check_watch_start(rv) {
                s.gone(e);
            }
        }
    }
    futures::stream::unfold(s, |mut s| async move { s.next().await.map(|b| (Ok(b), s)) })
}
