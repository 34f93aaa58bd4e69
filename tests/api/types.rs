//! Every upstream field name decodes and re-encodes unchanged; defaults read as upstream reads them.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use kube::core::{ClusterResourceScope, NamespaceResourceScope};
use serde_json::Value;
use serin::api::common::AnalysisPhase;
use serin::api::decode::{self, Difference, Kind};
use serin::api::rollout::{RolloutPhase, StepPluginOperation};
use serin::api::{AnalysisRun, ClusterAnalysisTemplate, Experiment, Rollout, defaults};

fn yaml(text: &str) -> Value {
    let docs = decode::parse_stream(text);
    assert_eq!(docs.len(), 1, "one document");
    docs.into_iter().next().and_then(|d| d.value.ok()).expect("valid YAML")
}

/// Decodes, re-encodes, and asserts nothing was lost, added or rewritten.
fn assert_round_trip(kind: Kind, text: &str) -> decode::Object {
    let input = yaml(text);
    let object = decode::decode_object(kind, &input)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", kind.as_str()));
    let encoded = object.to_value().expect("encodes");
    let differences: Vec<Difference> = decode::diff(&input, &encoded);
    assert!(differences.is_empty(), "{} round trip differs: {differences:#?}", kind.as_str());
    object
}

const KITCHEN_SINK_ROLLOUT: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: sink, namespace: default}
spec:
  replicas: 5
  selector: {matchLabels: {app: sink}}
  template:
    metadata: {labels: {app: sink}}
    spec:
      containers:
      - name: app
        image: nginx
        resources: {requests: {cpu: 100m, memory: 64Mi}}
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: sink, scaleDown: progressively}
  minReadySeconds: 5
  rollbackWindow: {revisions: 3}
  revisionHistoryLimit: 4
  paused: false
  progressDeadlineSeconds: 300
  progressDeadlineAbort: true
  restartAt: "2024-01-02T03:04:05Z"
  analysis: {successfulRunHistoryLimit: 2, unsuccessfulRunHistoryLimit: 3}
  strategy:
    blueGreen:
      activeService: active
      previewService: preview
      previewReplicaCount: 1
      autoPromotionEnabled: false
      autoPromotionSeconds: 30
      maxUnavailable: "10%"
      scaleDownDelaySeconds: 60
      scaleDownDelayRevisionLimit: 2
      prePromotionAnalysis:
        templates: [{templateName: smoke, clusterScope: true}]
        args: [{name: svc, value: preview}]
        dryRun: [{metricName: ".*"}]
        measurementRetention: [{metricName: ".*", limit: 20}]
        analysisRunMetadata: {labels: {a: b}, annotations: {c: d}}
      antiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {}}
      postPromotionAnalysis: {templates: [{templateName: smoke}]}
      previewMetadata: {labels: {role: preview}}
      activeMetadata: {annotations: {role: active}}
      abortScaleDownDelaySeconds: 0
    canary:
      canaryService: canary
      stableService: stable
      maxUnavailable: 1
      maxSurge: "20%"
      analysis:
        templates: [{templateName: bg}]
        args:
        - {name: hash, valueFrom: {podTemplateHashValue: Latest}}
        - {name: ns, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        dryRun: [{metricName: bg}]
        measurementRetention: [{metricName: bg, limit: 3}]
        analysisRunMetadata: {labels: {x: z}}
        startingStep: 2
      antiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: {weight: 50}}
      canaryMetadata: {labels: {role: canary}}
      stableMetadata: {labels: {role: stable}}
      scaleDownDelaySeconds: 30
      scaleDownDelayRevisionLimit: 1
      abortScaleDownDelaySeconds: 10
      dynamicStableScale: false
      pingPong: {pingService: ping, pongService: pong}
      minPodsPerReplicaSet: 2
      replicaProgressThreshold: {type: Percent, value: 90}
      steps:
      - setWeight: 10
      - pause: {}
      - pause: {duration: 30}
      - pause: {duration: 1h}
      - experiment:
          duration: 10m
          templates:
          - name: baseline
            specRef: stable
            replicas: 1
            metadata: {labels: {exp: base}}
            selector: {matchLabels: {exp: base}}
            weight: 5
            service: {name: base-svc}
          analyses:
          - name: compare
            templateName: compare
            clusterScope: false
            args: [{name: a, value: b}]
            requiredForCompletion: true
          dryRun: [{metricName: compare}]
          analysisRunMetadata: {annotations: {k: v}}
          scaleDownDelaySeconds: 15
      - analysis: {templates: [{templateName: step}]}
      - setCanaryScale: {weight: 50, replicas: 3, matchTrafficWeight: true}
      - setHeaderRoute:
          name: hdr
          match:
          - headerName: x-canary
            headerValue: {exact: "yes", prefix: p, regex: r}
      - setMirrorRoute:
          name: mirror
          percentage: 50
          match:
          - method: {exact: GET}
            path: {prefix: /api}
            headers: {agent: {regex: ".*Mozilla.*"}}
      - plugin: {name: org/step, config: {any: [thing, 1, true, null]}}
      trafficRouting:
        istio:
          virtualService:
            name: vs
            routes: [primary]
            tlsRoutes: [{port: 443, sniHosts: [a.example]}]
            tcpRoutes: [{port: 8080}]
          destinationRule: {name: dr, canarySubsetName: canary, stableSubsetName: stable, additionalSubsetNames: [extra]}
          virtualServices: [{name: vs2}]
        nginx:
          annotationPrefix: nginx.example
          stableIngress: ing
          stableIngresses: [ing2]
          additionalIngressAnnotations: {canary-by-header: x}
          canaryIngressAnnotations: {my: annotation}
        alb:
          ingress: ing
          ingresses: [ing3]
          servicePort: 443
          rootService: root
          annotationPrefix: alb.example
          stickinessConfig: {enabled: true, durationSeconds: 3600}
        smi: {rootService: root, trafficSplitName: split}
        ambassador: {mappings: [m1, m2]}
        appMesh:
          virtualService: {name: vsvc, routes: [r1]}
          virtualNodeGroup: {canaryVirtualNodeRef: {name: c}, stableVirtualNodeRef: {name: s}}
        traefik: {weightedTraefikServiceName: traefik-svc}
        apisix: {route: {name: route, rules: [rule1]}}
        plugins:
          argoproj-labs/gatewayAPI: {httpRoute: r, namespace: default}
        managedRoutes: [{name: hdr}, {name: mirror}]
        maxTrafficWeight: 1000
"#;

#[test]
fn every_rollout_spec_field_round_trips_under_its_upstream_name() {
    let object = assert_round_trip(Kind::Rollout, KITCHEN_SINK_ROLLOUT);
    let decode::Object::Rollout(r) = object else { panic!("a Rollout") };
    let canary = r.canary().expect("canary");
    assert_eq!(canary.steps().len(), 10);
    assert_eq!(canary.steps()[8].set_mirror_route.as_ref().map(|m| m.name.as_str()), Some("mirror"));
    assert_eq!(canary.max_surge, Some(IntOrString::String("20%".into())));
}

const ROLLOUT_STATUS: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: s, generation: 3}
spec:
  selector: {matchLabels: {app: s}}
  strategy: {canary: {}}
status:
  HPAReplicas: 3
  abort: true
  abortedAt: "2024-01-02T03:04:05Z"
  alb:
    canaryTargetGroup: {arn: "arn:c", name: c, fullName: full-c}
    loadBalancer: {arn: "arn:lb", name: lb}
    stableTargetGroup: {arn: "arn:s", name: s}
    ingress: ing
  albs: [{ingress: ing2}]
  availableReplicas: 3
  blueGreen:
    activeSelector: abc
    previewSelector: def
    scaleUpPreviewCheckPoint: true
    prePromotionAnalysisRunStatus: {name: pre, status: Successful}
    postPromotionAnalysisRunStatus: {name: post, status: Running, message: measuring}
  canary:
    currentBackgroundAnalysisRunStatus: {name: bg, status: Running}
    currentStepAnalysisRunStatus: {name: step, status: Inconclusive, message: meh}
    currentExperiment: exp
    stablePingPong: ping
    weights:
      canary: {weight: 10, serviceName: canary, podTemplateHash: abc}
      stable: {weight: 90, serviceName: stable, podTemplateHash: def}
      additional: [{weight: 0}]
      verified: true
    stepPluginStatuses:
    - index: 4
      name: org/step
      operation: Run
      phase: Running
      message: working
      startedAt: "2024-01-02T03:04:05Z"
      updatedAt: "2024-01-02T03:05:05Z"
      finishedAt: "2024-01-02T03:06:05Z"
      backoff: 5s
      executions: 2
      disabled: false
      status: {cursor: 7}
  collisionCount: 1
  conditions:
  - type: Progressing
    status: "True"
    lastUpdateTime: "2024-01-02T03:04:05Z"
    lastTransitionTime: "2024-01-02T03:04:05Z"
    reason: RolloutAborted
    message: Rollout aborted update to revision 2
  controllerPause: true
  currentPodHash: abc
  currentStepHash: def
  currentStepIndex: 0
  message: "RolloutAborted: Rollout aborted update to revision 2"
  observedGeneration: "3"
  pauseConditions: [{reason: CanaryPauseStep, startTime: "2024-01-02T03:04:05Z"}]
  phase: Degraded
  promoteFull: false
  readyReplicas: 3
  replicas: 3
  restartedAt: "2024-01-02T03:04:05Z"
  selector: app=s
  stableRS: def
  updatedReplicas: 1
  workloadObservedGeneration: "1"
  duration:
    rolloutStartedAt: "2024-01-02T03:04:05Z"
    manualPauseStartedAt: "2024-01-02T03:05:05Z"
    totalManualPauseDurationSeconds: 42
    finishedAt: "2024-01-02T03:09:05Z"
    completionStatus: Aborted
"#;

#[test]
fn rollout_status_round_trips_as_upstream_writes_it() {
    let object = assert_round_trip(Kind::Rollout, ROLLOUT_STATUS);
    let decode::Object::Rollout(r) = object else { panic!("a Rollout") };
    let status = r.status.as_ref().expect("status");
    assert_eq!(status.phase, Some(RolloutPhase::Degraded));
    assert_eq!(status.hpa_replicas, Some(3));
    assert_eq!(status.stable_rs.as_deref(), Some("def"));
    let plugin = &status.canary.as_ref().and_then(|c| c.step_plugin_statuses.as_ref()).expect("plugins")[0];
    assert_eq!(plugin.operation, StepPluginOperation::Run);
}

const EVERY_PROVIDER: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: providers}
spec:
  args:
  - {name: plain, value: v}
  - {name: secret, valueFrom: {secretKeyRef: {name: s, key: k}}}
  - {name: field, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
  dryRun: [{metricName: web}]
  measurementRetention: [{metricName: prom, limit: 20}]
  templates: [{templateName: base, clusterScope: true}]
  metrics:
  - name: prom
    interval: 30s
    initialDelay: 1m
    count: 5
    successCondition: result[0] > 0.9
    failureCondition: result[0] < 0.5
    failureLimit: "1"
    inconclusiveLimit: 1
    consecutiveErrorLimit: 2
    consecutiveSuccessLimit: 2
    provider:
      prometheus:
        address: http://prometheus:9090
        query: up
        timeout: 10
        insecure: true
        headers: [{key: X-Scope-OrgID, value: tenant}]
        authentication:
          sigv4: {region: eu-west-1, profile: p, roleArn: "arn:role"}
          oauth2: {tokenUrl: "https://t", clientId: id, clientSecret: sec, scopes: [read]}
          basicAuth: {username: u, password: p}
        rangeQuery: {start: now() - duration("1h"), end: now(), step: 1m}
  - name: web
    provider:
      web:
        method: POST
        url: https://example.com
        headers: [{key: a, value: b}]
        body: "{}"
        timeoutSeconds: 5
        jsonPath: "{$.ok}"
        insecure: false
        jsonBody: {nested: {list: [1, 2]}}
        authentication: {oauth2: {tokenUrl: "https://t"}}
  - name: datadog
    provider:
      datadog:
        interval: 5m
        query: avg:x
        queries: {a: avg:y}
        formula: a
        apiVersion: v2
        aggregator: last
        secretRef: {name: dd, namespaced: true}
        requestTimeout: 10s
  - name: wavefront
    provider: {wavefront: {address: wf.example, query: ts(x)}}
  - name: newrelic
    provider: {newRelic: {profile: nr, query: SELECT 1, timeout: 30}}
  - name: job
    provider:
      job:
        metadata: {labels: {a: b}, annotations: {c: d}}
        spec:
          backoffLimit: 1
          template:
            spec:
              restartPolicy: Never
              containers: [{name: t, image: busybox, resources: {limits: {cpu: "1"}}}]
  - name: kayenta
    provider:
      kayenta:
        address: https://kayenta
        application: app
        canaryConfigName: cfg
        metricsAccountName: m
        configurationAccountName: c
        storageAccountName: s
        threshold: {pass: 90, marginal: 75}
        lookback: true
        scopes:
        - name: default
          controlScope: {scope: app, region: eu, step: 60, start: "2024-01-01T00:00:00Z", end: "2024-01-01T01:00:00Z"}
          experimentScope: {scope: app, region: eu, step: 60}
  - name: cloudwatch
    provider:
      cloudWatch:
        interval: 5m
        metricDataQueries:
        - id: rate
          expression: errors / requests
          label: rate
          period: 300
          returnData: true
        - id: errors
          returnData: false
          metricStat:
            metric:
              namespace: AWS/ApplicationELB
              metricName: HTTPCode_Target_5XX_Count
              dimensions: [{name: LoadBalancer, value: lb}]
            period: "300"
            stat: Sum
            unit: Count
  - name: graphite
    provider: {graphite: {address: http://graphite, query: target}}
  - name: influxdb
    provider: {influxdb: {profile: influx, query: from(bucket)}}
  - name: skywalking
    provider: {skywalking: {address: http://sw, query: "{ x }", interval: 1m}}
  - name: plugin
    provider: {plugin: {argoproj-labs/sample: {anything: [1, {deep: true}]}}}
"#;

#[test]
fn every_metric_provider_round_trips_under_its_upstream_name() {
    let object = assert_round_trip(Kind::ClusterAnalysisTemplate, EVERY_PROVIDER);
    let decode::Object::ClusterAnalysisTemplate(t) = object else { panic!("a ClusterAnalysisTemplate") };
    let kinds: Vec<String> = t.spec.metrics().iter().flat_map(|m| m.provider.kinds()).collect();
    assert_eq!(
        kinds,
        [
            "prometheus",
            "web",
            "datadog",
            "wavefront",
            "newRelic",
            "job",
            "kayenta",
            "cloudWatch",
            "graphite",
            "influxdb",
            "skywalking",
            "plugin.argoproj-labs/sample"
        ]
    );
    assert!(object_errors(&decode::Object::ClusterAnalysisTemplate(t.clone())).is_empty());
}

fn object_errors(object: &decode::Object) -> Vec<String> {
    object.field_errors().iter().map(|e| e.to_string()).collect()
}

const ANALYSIS_RUN_STATUS: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: run}
spec:
  metrics:
  - name: m
    provider: {web: {url: "http://x"}}
  args: [{name: a, value: b}]
  terminate: true
  dryRun: [{metricName: m}]
  measurementRetention: [{metricName: m, limit: 2}]
  ttlStrategy: {secondsAfterCompletion: 60, secondsAfterFailure: 120, secondsAfterSuccess: 30}
status:
  phase: Successful
  message: Run Terminated
  startedAt: "2024-01-02T03:04:05Z"
  completedAt: "2024-01-02T03:05:05Z"
  runSummary: {count: 1, successful: 1, failed: 0, inconclusive: 0, error: 0}
  dryRunSummary: {count: 1, successful: 1}
  metricResults:
  - name: m
    phase: Successful
    message: ok
    count: 2
    successful: 2
    failed: 0
    inconclusive: 0
    error: 1
    consecutiveError: 0
    consecutiveSuccess: 2
    dryRun: true
    metadata: {ResolvedPrometheusQuery: up}
    measurements:
    - phase: Successful
      message: fine
      startedAt: "2024-01-02T03:04:05Z"
      finishedAt: "2024-01-02T03:04:06Z"
      value: "[1]"
      metadata: {job-name: j}
      resumeAt: "2024-01-02T03:04:07Z"
"#;

#[test]
fn analysis_run_spec_and_status_round_trip_as_upstream_writes_them() {
    let object = assert_round_trip(Kind::AnalysisRun, ANALYSIS_RUN_STATUS);
    let decode::Object::AnalysisRun(run) = object else { panic!("an AnalysisRun") };
    let status = run.status.as_ref().expect("status");
    assert_eq!(status.phase, Some(AnalysisPhase::Successful));
    assert!(AnalysisPhase::Successful.completed());
    assert_eq!(status.metric_results.as_ref().map(Vec::len), Some(1));
}

const EXPERIMENT_STATUS: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: exp}
spec:
  duration: 5m
  progressDeadlineSeconds: 100
  terminate: false
  scaleDownDelaySeconds: 10
  dryRun: [{metricName: a}]
  measurementRetention: [{metricName: a, limit: 1}]
  analysisRunMetadata: {labels: {l: v}}
  analyses:
  - {name: a, templateName: t, clusterScope: true, requiredForCompletion: true, args: [{name: x, value: v}]}
  templates:
  - name: base
    replicas: 2
    minReadySeconds: 3
    selector: {matchLabels: {app: base}}
    template:
      metadata: {labels: {app: base}}
      spec: {containers: [{name: c, image: nginx}]}
    service: {name: base}
status:
  phase: Running
  message: running
  availableAt: "2024-01-02T03:04:05Z"
  templateStatuses:
  - name: base
    replicas: 2
    updatedReplicas: 2
    readyReplicas: 2
    availableReplicas: 2
    collisionCount: 0
    status: Running
    message: up
    lastTransitionTime: "2024-01-02T03:04:05Z"
    serviceName: base
    podTemplateHash: abc
  conditions:
  - {type: Running, status: "True", lastUpdateTime: "2024-01-02T03:04:05Z", lastTransitionTime: "2024-01-02T03:04:05Z", reason: ExperimentRunning, message: running}
  analysisRuns:
  - {name: a, analysisRun: exp-a, phase: Running, message: measuring}
"#;

#[test]
fn experiment_spec_and_status_round_trip_as_upstream_writes_them() {
    let object = assert_round_trip(Kind::Experiment, EXPERIMENT_STATUS);
    assert!(object_errors(&object).is_empty(), "{:?}", object_errors(&object));
}

#[test]
fn unknown_enum_spellings_are_kept_verbatim() {
    let text = ROLLOUT_STATUS
        .replace("phase: Degraded", "phase: SomethingNew")
        .replace("operation: Run", "operation: Pause");
    let object = assert_round_trip(Kind::Rollout, &text);
    let decode::Object::Rollout(r) = object else { panic!("a Rollout") };
    assert_eq!(r.status.and_then(|s| s.phase), Some(RolloutPhase::Other("SomethingNew".into())));
}

#[test]
fn cluster_analysis_templates_are_cluster_scoped_and_the_rest_namespaced() {
    fn cluster<K: Resource<Scope = ClusterResourceScope>>() {}
    fn namespaced<K: Resource<Scope = NamespaceResourceScope>>() {}
    cluster::<ClusterAnalysisTemplate>();
    namespaced::<Rollout>();
    namespaced::<serin::api::AnalysisTemplate>();
    namespaced::<AnalysisRun>();
    namespaced::<Experiment>();
    assert_eq!(ClusterAnalysisTemplate::kind(&()), "ClusterAnalysisTemplate");
    assert_eq!(Rollout::api_version(&()), "argoproj.io/v1alpha1");
    assert_eq!(AnalysisRun::plural(&()), "analysisruns");
    assert_eq!(Experiment::group(&()), "argoproj.io");
}

#[test]
fn defaults_read_unset_fields_as_upstream_does() {
    let r = Rollout::canary_fixture("d");
    assert_eq!(defaults::max_surge(&r), IntOrString::String("25".into()));
    assert_eq!(defaults::max_unavailable(&r), IntOrString::String("25".into()));
    assert_eq!(defaults::replicas(&Rollout::default()), 1);
    assert_eq!(defaults::revision_history_limit(&r), 10);
    assert_eq!(defaults::progress_deadline_seconds(&r), 600);
    assert_eq!(defaults::max_traffic_weight(&r), 100);
    assert_eq!(defaults::scale_down_delay_seconds(&r), 30);
    assert_eq!(defaults::abort_scale_down_delay_seconds(&r), 30);
    assert!(defaults::auto_promotion_enabled(&Rollout::blue_green_fixture("d")));
    assert_eq!(defaults::run_history_limits(&r), (5, 5));
    let bg = Rollout::blue_green_fixture("d");
    assert_eq!(defaults::max_unavailable(&bg), IntOrString::String("25".into()));
    assert_eq!(defaults::resolve_int_or_percent(&defaults::max_surge(&r), 10, true), Ok(3));
    assert_eq!(defaults::resolve_int_or_percent(&defaults::max_unavailable(&r), 10, false), Ok(2));
}

#[test]
fn objects_encode_with_api_version_and_kind() {
    let v = serde_json::to_value(Rollout::canary_fixture("x")).expect("encodes");
    assert_eq!(v["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(v["kind"], "Rollout");
    assert_eq!(v["spec"]["strategy"]["canary"]["steps"][0]["setWeight"], 20);
    assert!(v.get("status").is_none(), "unset status is not written");
}
