// Command protoschema prints the table serin's embedded API server uses to translate the Kubernetes protobuf
// encoding to JSON and back: for every built-in kind the server serves, the Go type behind it and, for each
// message type reachable from those kinds, its fields with their protobuf numbers, JSON names and how Go's JSON
// encoding treats them (omitempty, pointers, inline structs). It reads the types themselves by reflection, so the
// table is exactly that of the Kubernetes version the control plane is built from.
//
//	protoschema > src/cluster/protobuf/types.json
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type root struct {
	apiVersion string
	obj        any
}

// The kinds the embedded server serves (with their lists), and the meta types clients send or receive.
var roots = []root{
	{"v1", corev1.Namespace{}}, {"v1", corev1.NamespaceList{}},
	{"v1", corev1.Pod{}}, {"v1", corev1.PodList{}},
	{"v1", corev1.PodTemplate{}}, {"v1", corev1.PodTemplateList{}},
	{"v1", corev1.Service{}}, {"v1", corev1.ServiceList{}},
	{"v1", corev1.ConfigMap{}}, {"v1", corev1.ConfigMapList{}},
	{"v1", corev1.Secret{}}, {"v1", corev1.SecretList{}},
	{"v1", corev1.Event{}}, {"v1", corev1.EventList{}},
	{"v1", corev1.ServiceAccount{}}, {"v1", corev1.ServiceAccountList{}},
	{"v1", corev1.Node{}}, {"v1", corev1.NodeList{}},
	{"apps/v1", appsv1.ReplicaSet{}}, {"apps/v1", appsv1.ReplicaSetList{}},
	{"apps/v1", appsv1.Deployment{}}, {"apps/v1", appsv1.DeploymentList{}},
	{"batch/v1", batchv1.Job{}}, {"batch/v1", batchv1.JobList{}},
	{"networking.k8s.io/v1", networkingv1.Ingress{}}, {"networking.k8s.io/v1", networkingv1.IngressList{}},
	{"coordination.k8s.io/v1", coordinationv1.Lease{}}, {"coordination.k8s.io/v1", coordinationv1.LeaseList{}},
	{"events.k8s.io/v1", eventsv1.Event{}}, {"events.k8s.io/v1", eventsv1.EventList{}},
	{"apiextensions.k8s.io/v1", apiextv1.CustomResourceDefinition{}},
	{"apiextensions.k8s.io/v1", apiextv1.CustomResourceDefinitionList{}},
	{"policy/v1", policyv1.Eviction{}},
	{"autoscaling/v1", autoscalingv1.Scale{}},
	{"meta.k8s.io/v1", metav1.PartialObjectMetadata{}}, {"meta.k8s.io/v1", metav1.PartialObjectMetadataList{}},
	// Sent under every group's version, so the server finds them by kind alone.
	{"*", metav1.Status{}}, {"*", metav1.DeleteOptions{}},
}

// Types whose JSON form is not their protobuf message's fields.
var special = map[string]string{
	"k8s.io/apimachinery/pkg/apis/meta/v1.Time":                                             "time",
	"k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime":                                        "microtime",
	"k8s.io/apimachinery/pkg/apis/meta/v1.Duration":                                         "duration",
	"k8s.io/apimachinery/pkg/apis/meta/v1.FieldsV1":                                         "raw",
	"k8s.io/apimachinery/pkg/runtime.RawExtension":                                          "raw",
	"k8s.io/apimachinery/pkg/api/resource.Quantity":                                         "quantity",
	"k8s.io/apimachinery/pkg/util/intstr.IntOrString":                                       "intorstring",
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1.JSON":                         "raw",
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1.JSONSchemaPropsOrArray":       "schemaorarray",
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1.JSONSchemaPropsOrBool":        "schemaorbool",
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1.JSONSchemaPropsOrStringArray": "schemaorstringarray",
}

// The type a special kind refers to (its schema), when it has one.
var specialRef = map[string]reflect.Type{
	"schemaorarray":       reflect.TypeOf(apiextv1.JSONSchemaProps{}),
	"schemaorbool":        reflect.TypeOf(apiextv1.JSONSchemaProps{}),
	"schemaorstringarray": reflect.TypeOf(apiextv1.JSONSchemaProps{}),
}

type value struct {
	Kind string `json:"kind"`
	Type string `json:"type,omitempty"`
}

type field struct {
	N      int    `json:"n"`
	JSON   string `json:"json"`
	Kind   string `json:"kind"`
	Type   string `json:"type,omitempty"`
	Key    string `json:"key,omitempty"`
	Val    *value `json:"val,omitempty"`
	Rep    bool   `json:"rep,omitempty"`
	Ptr    bool   `json:"ptr,omitempty"`
	Omit   bool   `json:"omit,omitempty"`
	Inline bool   `json:"inline,omitempty"`
}

type kind struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Type       string `json:"type"`
}

var types = map[string][]field{}

func name(t reflect.Type) string { return t.PkgPath() + "." + t.Name() }

func scalar(t reflect.Type) (string, bool) {
	switch t.Kind() {
	case reflect.String:
		return "string", true
	case reflect.Bool:
		return "bool", true
	case reflect.Int32:
		return "int32", true
	case reflect.Int64, reflect.Int:
		return "int64", true
	case reflect.Uint32:
		return "uint32", true
	case reflect.Uint64:
		return "uint64", true
	case reflect.Float64:
		return "double", true
	case reflect.Float32:
		return "float", true
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes", true
		}
	}
	return "", false
}

// kindOf names how one (non-repeated) value of type t is encoded, visiting message types it reaches.
func kindOf(t reflect.Type) (string, string) {
	if k, ok := special[name(t)]; ok {
		if ref, ok := specialRef[k]; ok {
			visit(ref)
			return k, name(ref)
		}
		return k, ""
	}
	if k, ok := scalar(t); ok {
		return k, ""
	}
	if t.Kind() == reflect.Struct {
		visit(t)
		return "message", name(t)
	}
	panic(fmt.Sprintf("no protobuf encoding known for %s (%s)", name(t), t.Kind()))
}

func visit(t reflect.Type) {
	n := name(t)
	if _, done := types[n]; done {
		return
	}
	types[n] = nil
	var fields []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("protobuf")
		if tag == "" {
			continue
		}
		parts := strings.Split(tag, ",")
		num, err := strconv.Atoi(parts[1])
		if err != nil {
			panic(fmt.Sprintf("%s.%s: protobuf tag %q", n, sf.Name, tag))
		}
		jsonTag := strings.Split(sf.Tag.Get("json"), ",")
		f := field{N: num, JSON: jsonTag[0]}
		for _, o := range jsonTag[1:] {
			switch o {
			case "omitempty", "omitzero":
				f.Omit = true
			case "inline":
				f.Inline = true
			}
		}
		if f.JSON == "-" {
			panic(fmt.Sprintf("%s.%s has a protobuf field but no JSON name", n, sf.Name))
		}
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			f.Ptr = true
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8 {
			if _, wrapped := reflect.PointerTo(ft).MethodByName("ProtoMessage"); wrapped {
				// A list type go-to-protobuf wraps in a message of its own (as metav1.Verbs).
				panic(fmt.Sprintf("%s.%s: list type %s is a message", n, sf.Name, name(ft)))
			}
			f.Rep = true
		}
		switch {
		case ft.Kind() == reflect.Map:
			f.Kind = "map"
			kk, _ := scalar(ft.Key())
			if kk != "string" {
				panic(fmt.Sprintf("%s.%s: map key %s", n, sf.Name, ft.Key()))
			}
			f.Key = kk
			vt := ft.Elem()
			if vt.Kind() == reflect.Slice && vt.Elem().Kind() != reflect.Uint8 {
				panic(fmt.Sprintf("%s.%s: map of lists", n, sf.Name))
			}
			vk, vtype := kindOf(vt)
			f.Val = &value{Kind: vk, Type: vtype}
		case f.Rep:
			et := ft.Elem()
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			f.Kind, f.Type = kindOf(et)
		default:
			f.Kind, f.Type = kindOf(ft)
		}
		fields = append(fields, f)
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i].N < fields[j].N })
	if fields == nil {
		fields = []field{}
	}
	types[n] = fields
}

func main() {
	var kinds []kind
	for _, r := range roots {
		t := reflect.TypeOf(r.obj)
		visit(t)
		kinds = append(kinds, kind{APIVersion: r.apiVersion, Kind: t.Name(), Type: name(t)})
	}
	var out bytes.Buffer
	out.WriteString("{\n\"kinds\": [\n")
	for i, k := range kinds {
		b, _ := json.Marshal(k)
		out.Write(b)
		if i < len(kinds)-1 {
			out.WriteString(",")
		}
		out.WriteString("\n")
	}
	out.WriteString("],\n\"types\": {\n")
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		b, _ := json.Marshal(n)
		fmt.Fprintf(&out, "%s: [\n", b)
		for j, f := range types[n] {
			b, _ := json.Marshal(f)
			out.WriteString("  ")
			out.Write(b)
			if j < len(types[n])-1 {
				out.WriteString(",")
			}
			out.WriteString("\n")
		}
		out.WriteString("]")
		if i < len(names)-1 {
			out.WriteString(",")
		}
		out.WriteString("\n")
	}
	out.WriteString("}\n}\n")
	os.Stdout.Write(out.Bytes())
}
