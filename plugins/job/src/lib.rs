//! The built-in `job` metric provider: Argo Rollouts' Job provider over the host's `kubernetes` import (needs
//! get, list, create and delete on batch/jobs): `run` creates the Job, `resume` reads its outcome, `terminate`
//! deletes it, `garbage-collect` keeps the newest Jobs of the metric.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    generate_all,
    world: "metric-provider-plugin",
});

mod jobs;

use exports::serin::plugin::metric_provider::{
    Decided, DecidedPhase, Guest, InFlight, MetricContext, Observation, Running,
};
use jobs::{JOB_NAME_KEY, JobMetric, Outcome};
use serde_json::Value;
use serin::plugin::kubernetes::{self as k8s, ApiResource, K8sError};
use serin::plugin::log::{self, Level};
use serin::plugin::types::Timestamp;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Job;

impl Guest for Job {
    fn run(ctx: MetricContext) -> Observation {
        match start(&ctx) {
            Ok(name) => Observation::Running(Running {
                resume_at: Some(after(jobs::resume_delay(0.0))),
                message: None,
                metadata: vec![(JOB_NAME_KEY.into(), name)],
            }),
            Err(e) => Observation::Error(e),
        }
    }

    fn resume(ctx: MetricContext, m: InFlight) -> Observation {
        let name = match job_name(&m) {
            Ok(name) => name,
            Err(e) => return Observation::Error(e),
        };
        let job = match k8s::get(&api(), &ctx.run.namespace, &name) {
            Ok(Some(text)) => match serde_json::from_str::<Value>(&text) {
                Ok(job) => job,
                Err(e) => return Observation::Error(format!("job get {name} failed: unreadable Job: {e}")),
            },
            // The lister upstream reads from says the same when the Job is gone.
            Ok(None) => {
                return Observation::Error(format!("job get {name} failed: jobs.batch \"{name}\" not found"));
            }
            Err(e) => return Observation::Error(format!("job get {name} failed: {}", describe(&e))),
        };
        let phase = match jobs::outcome(&job) {
            Outcome::Running => {
                let started = m.started_at.seconds as f64 + f64::from(m.started_at.nanoseconds) / 1e9;
                let elapsed = now().as_secs_f64() - started;
                return Observation::Running(Running {
                    resume_at: Some(after(jobs::resume_delay(elapsed))),
                    message: None,
                    metadata: m.metadata,
                });
            }
            Outcome::Successful => DecidedPhase::Successful,
            Outcome::Failed => DecidedPhase::Failed,
        };
        log::log(Level::Info, &format!("job {name} completed: {phase:?}"));
        Observation::Decided(Decided { phase, value: None, message: None, metadata: m.metadata })
    }

    /// Upstream marks a terminated Job measurement Successful; the host adds the "Metric Terminated" message.
    fn terminate(ctx: MetricContext, m: InFlight) -> Observation {
        let name = match job_name(&m) {
            Ok(name) => name,
            Err(e) => return Observation::Error(e),
        };
        if let Err(e) = k8s::delete(&api(), &ctx.run.namespace, &name) {
            return Observation::Error(format!("job delete {name} failed: {}", describe(&e)));
        }
        log::log(Level::Info, &format!("job {name} terminated"));
        Observation::Decided(Decided {
            phase: DecidedPhase::Successful,
            value: None,
            message: None,
            metadata: m.metadata,
        })
    }

    fn garbage_collect(ctx: MetricContext, keep: u32) -> Result<(), String> {
        // Without a uid the run cannot have created a Job, and the selector would match unrelated ones.
        if ctx.run.uid.is_empty() {
            return Ok(());
        }
        let selector = format!("{}={}", jobs::RUN_UID_LABEL, ctx.run.uid);
        let list = list_jobs(&ctx.run.namespace, &selector)?;
        for name in jobs::to_collect(&list, &ctx.metric_name, keep) {
            k8s::delete(&api(), &ctx.run.namespace, &name)
                .map_err(|e| format!("job delete {name} failed: {}", describe(&e)))?;
            log::log(Level::Info, &format!("job {name} garbage collected"));
        }
        Ok(())
    }
}

export!(Job);

/// Creates the measurement's Job (or adopts it, when this run created it before) and returns its name.
fn start(ctx: &MetricContext) -> Result<String, String> {
    let cfg = JobMetric::parse(&ctx.config)?;
    // The uid names the Job, owns it and selects it for garbage collection; a run without one cannot do any.
    if ctx.run.uid.is_empty() {
        return Err("job metric needs the AnalysisRun's uid, and this run has none".into());
    }
    let name = jobs::job_name(&ctx.run.uid, &ctx.metric_name, ctx.count);
    let run = jobs::Run { namespace: &ctx.run.namespace, name: &ctx.run.name, uid: &ctx.run.uid };
    let job = jobs::manifest(&cfg, run, &ctx.metric_name, &name);
    match k8s::create(&api(), &ctx.run.namespace, &job.to_string()) {
        Ok(_) => {
            log::log(Level::Info, &format!("job {name} created"));
            Ok(name)
        }
        Err(K8sError::Api(f)) if f.reason == "AlreadyExists" => {
            // A create whose answer was lost and is now repeated: the Job is ours if this run controls it.
            // Anything else keeps the create's error, as upstream reports it.
            let create_failed = format!("job create {name} failed: {}", f.message);
            let existing = match k8s::get(&api(), &ctx.run.namespace, &name) {
                Ok(Some(text)) => serde_json::from_str::<Value>(&text).map_err(|_| create_failed.clone())?,
                _ => return Err(create_failed),
            };
            if !jobs::owned_by(&existing, &ctx.run.uid) {
                return Err(create_failed);
            }
            log::log(Level::Info, &format!("duplicate job create detected {name}"));
            Ok(name)
        }
        Err(e) => Err(format!("job create {name} failed: {}", describe(&e))),
    }
}

fn api() -> ApiResource {
    ApiResource { group: "batch".into(), version: "v1".into(), plural: "jobs".into() }
}

/// Every Job matching the selector, page by page, as one list.
fn list_jobs(namespace: &str, selector: &str) -> Result<Value, String> {
    let mut items = Vec::new();
    let mut token = None;
    loop {
        let page = k8s::list(&api(), namespace, selector, 100, token.as_deref())
            .map_err(|e| format!("job list failed: {}", describe(&e)))?;
        let mut list: Value = serde_json::from_str(&page.list)
            .map_err(|e| format!("job list failed: unreadable JobList: {e}"))?;
        if let Some(Value::Array(page_items)) = list.get_mut("items").map(Value::take) {
            items.extend(page_items);
        }
        match page.continue_token {
            Some(next) => token = Some(next),
            None => {
                list["items"] = Value::Array(items);
                return Ok(list);
            }
        }
    }
}

fn job_name(m: &InFlight) -> Result<String, String> {
    m.metadata
        .iter()
        .find(|(k, v)| k == JOB_NAME_KEY && !v.is_empty())
        .map(|(_, v)| v.clone())
        .ok_or_else(|| "job metadata reference missing".to_string())
}

fn describe(e: &K8sError) -> String {
    match e {
        K8sError::Denied(what) => what.clone(),
        K8sError::Api(f) => f.message.clone(),
        K8sError::Unavailable(why) | K8sError::TooLarge(why) => why.clone(),
    }
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The instant `seconds` from now.
fn after(seconds: f64) -> Timestamp {
    let at = now() + Duration::from_secs_f64(seconds);
    Timestamp { seconds: at.as_secs() as i64, nanoseconds: at.subsec_nanos() }
}
