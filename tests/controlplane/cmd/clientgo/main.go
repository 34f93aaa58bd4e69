// Command clientgo talks to an API server as Go controllers and kubectl's typed commands do: client-go's typed
// clientset with protobuf bodies, lists, watches, evictions and delete options. It runs one fixed scenario in a
// namespace, and prints what it saw as one JSON object (the objects as client-go decoded them, the
// watch event, the response media types) for serin's tests to check on both the embedded and the real server.
// The namespace must exist.
//
//	clientgo -kubeconfig FILE -namespace NS
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// mediaTypes records the Content-Type of every response.
type mediaTypes struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[string]bool
}

func (m *mediaTypes) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := m.next.RoundTrip(r)
	if err == nil {
		m.mu.Lock()
		m.seen[resp.Header.Get("Content-Type")] = true
		m.mu.Unlock()
	}
	return resp, err
}

func must[T any](v T, err error) T {
	if err != nil {
		fmt.Fprintln(os.Stderr, "clientgo:", err)
		os.Exit(1)
	}
	return v
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	ns := flag.String("namespace", "default", "namespace to use")
	flag.Parse()
	cfg := must(clientcmd.BuildConfigFromFlags("", *kubeconfig))
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	types := &mediaTypes{seen: map[string]bool{}}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { types.next = rt; return types }
	c := must(kubernetes.NewForConfig(cfg))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := map[string]any{}

	out["namespacePhase"] = must(c.CoreV1().Namespaces().Get(ctx, *ns, metav1.GetOptions{})).Status.Phase

	cm := must(c.CoreV1().ConfigMaps(*ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cm", Labels: map[string]string{"app": "clientgo"}},
		Data:       map[string]string{"greeting": "hello", "empty": ""},
		BinaryData: map[string][]byte{"bin": {0, 1, 2, 255}},
	}, metav1.CreateOptions{}))
	out["configmap"] = cm.DeepCopy()

	out["secret"] = must(c.CoreV1().Secrets(*ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s"},
		Data:       map[string][]byte{"key": {0, 1, 2, 255}},
		StringData: map[string]string{"text": "plain"},
	}, metav1.CreateOptions{}))

	mode := int32(0o644)
	user := int64(1000)
	pod := must(c.CoreV1().Pods(*ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "clientgo"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.example/app:1",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "test"}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse("100m"),
					corev1.ResourceMemory: resource.MustParse("64Mi"),
				}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")},
				}, PeriodSeconds: 5},
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)},
				}},
				SecurityContext: &corev1.SecurityContext{RunAsUser: &user},
				VolumeMounts:    []corev1.VolumeMount{{Name: "config", MountPath: "/config"}},
			}},
			Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, DefaultMode: &mode,
				},
			}}},
		},
	}, metav1.CreateOptions{}))
	out["pod"] = pod

	zero := int32(0)
	deploy := must(c.AppsV1().Deployments(*ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "d"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge: ptr(intstr.FromString("50%")), MaxUnavailable: ptr(intstr.FromInt32(0)),
				}},
		},
	}, metav1.CreateOptions{}))
	out["deployment"] = must(c.AppsV1().Deployments(*ns).Get(ctx, deploy.Name, metav1.GetOptions{}))

	acquired := metav1.NewMicroTime(time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC))
	holder := "me"
	out["lease"] = must(c.CoordinationV1().Leases(*ns).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "l"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, AcquireTime: &acquired, LeaseDurationSeconds: ptr(int32(15))},
	}, metav1.CreateOptions{}))

	must(c.EventsV1().Events(*ns).Create(ctx, &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "e"},
		EventTime:           acquired,
		ReportingController: "serin.dev/clientgo",
		ReportingInstance:   "clientgo-1",
		Action:              "Testing",
		Reason:              "Tested",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: *ns, Name: "p"},
		Note:                "a note",
		Type:                "Normal",
	}, metav1.CreateOptions{}))
	core := must(c.CoreV1().Events(*ns).List(ctx, metav1.ListOptions{}))
	var reasons []string
	for _, e := range core.Items {
		reasons = append(reasons, e.Reason)
	}
	out["coreEventReasons"] = reasons

	list := must(c.CoreV1().ConfigMaps(*ns).List(ctx, metav1.ListOptions{LabelSelector: "app=clientgo"}))
	var names []string
	for _, i := range list.Items {
		names = append(names, i.Name)
	}
	out["listed"] = names

	w := must(c.CoreV1().ConfigMaps(*ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion}))
	cm.Data["greeting"] = "changed"
	must(c.CoreV1().ConfigMaps(*ns).Update(ctx, cm, metav1.UpdateOptions{}))
	select {
	case e := <-w.ResultChan():
		if got, ok := e.Object.(*corev1.ConfigMap); ok {
			out["watched"] = map[string]any{"type": e.Type, "name": got.Name, "greeting": got.Data["greeting"]}
		} else {
			out["watched"] = map[string]any{"type": e.Type, "object": fmt.Sprintf("%T", e.Object)}
		}
	case <-ctx.Done():
		out["watched"] = "timed out"
	}
	w.Stop()
	if e, ok := <-w.ResultChan(); ok && e.Type != watch.Error {
		out["afterStop"] = string(e.Type)
	}

	err := c.PolicyV1().Evictions(*ns).Evict(ctx, &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Name: "p", Namespace: *ns},
		DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))},
	})
	out["evicted"] = errString(err)

	orphan := metav1.DeletePropagationOrphan
	err = c.AppsV1().Deployments(*ns).Delete(ctx, "d", metav1.DeleteOptions{PropagationPolicy: &orphan})
	out["deleted"] = errString(err)
	// Orphaning is the garbage collector's work on a real cluster, so the Deployment may linger a moment.
	for {
		_, err = c.AppsV1().Deployments(*ns).Get(ctx, "d", metav1.GetOptions{})
		if err != nil || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	out["getDeleted"] = errString(err)

	var seen []string
	for t := range types.seen {
		seen = append(seen, strings.ReplaceAll(t, " ", ""))
	}
	sort.Strings(seen)
	out["responseTypes"] = seen
	b := must(json.Marshal(out))
	os.Stdout.Write(append(b, '\n'))
}

func ptr[T any](v T) *T { return &v }

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
