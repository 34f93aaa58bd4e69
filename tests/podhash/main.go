// Command podhash is the reference serin is checked against where it must compute what Argo Rollouts computes:
// it runs Argo Rollouts' own code (at the release go.mod pins) on the cases it reads. `hash` runs upstream's
// hashing functions (github.com/argoproj/argo-rollouts/utils/hash), `fields` writes the table of Go field orders
// and JSON options that serin's Rust encoder follows, and `eval` judges measurements with upstream's
// successCondition / failureCondition evaluation (utils/evaluate, on github.com/expr-lang/expr).
//
//	podhash hash < cases.jsonl   # {"template": {...}, "collisionCount": 1} or {"steps": [...]} per line
//	                             #   -> "<hash>\t<the JSON Go hashed>"
//	podhash fields > layout.rs   # the Go layout of PodTemplateSpec and []CanaryStep, and everything they hold
//	podhash eval < cases.jsonl   # {"success": "result > 1", "failure": "", "result": <JSON>} per line
//	                             #   -> "<phase>" or "<phase>\t<error>" (the phase is Error when there is one)
//
// In eval's result, JSON numbers are float64 and arrays and objects []interface{} and map[string]interface{},
// as encoding/json decodes into interface{} (and as Argo's web provider hands them over). Two wrapper objects
// stand for what JSON cannot carry: {"$float": "NaN"} (or "+Inf", "-Inf") is that float64, and {"$int": 3} is
// the Go int 3. A missing or null result is nil.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/utils/conditions"
	"github.com/argoproj/argo-rollouts/utils/evaluate"
	"github.com/argoproj/argo-rollouts/utils/hash"
	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: podhash hash|fields|eval")
		os.Exit(64)
	}
	var err error
	switch os.Args[1] {
	case "hash":
		err = hashLines()
	case "fields":
		err = fields()
	case "eval":
		err = evalLines()
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "podhash:", err)
		os.Exit(1)
	}
}

// hashLines reads one case per line and prints the hash Argo Rollouts computes and the JSON it hashed.
func hashLines() error {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	for in.Scan() {
		var c struct {
			Template       *corev1.PodTemplateSpec `json:"template"`
			CollisionCount *int32                  `json:"collisionCount"`
			Steps          []v1alpha1.CanaryStep   `json:"steps"`
		}
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			return err
		}
		if c.Template != nil {
			data, err := json.Marshal(c.Template)
			if err != nil {
				return err
			}
			fmt.Printf("%s\t%s\n", hash.ComputePodTemplateHash(c.Template, c.CollisionCount), data)
			continue
		}
		ro := v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{
			Canary: &v1alpha1.CanaryStrategy{Steps: c.Steps}}}}
		data, err := json.Marshal(c.Steps)
		if err != nil {
			return err
		}
		fmt.Printf("%s\t%s\n", conditions.ComputeStepHash(&ro), data)
	}
	return in.Err()
}

// evalLines reads one case per line and prints the phase Argo Rollouts gives the measurement, and its error.
func evalLines() error {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	log := logrus.NewEntry(logrus.New())
	for in.Scan() {
		var c struct {
			Success string          `json:"success"`
			Failure string          `json:"failure"`
			Result  json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			return err
		}
		var raw any
		if len(c.Result) > 0 {
			if err := json.Unmarshal(c.Result, &raw); err != nil {
				return err
			}
		}
		result, err := goValue(raw)
		if err != nil {
			return err
		}
		metric := v1alpha1.Metric{SuccessCondition: c.Success, FailureCondition: c.Failure}
		phase, err := evaluate.EvaluateResult(result, metric, *log)
		if err != nil {
			// One case per line: a message spanning lines is flattened, visibly.
			fmt.Printf("%s\t%s\n", phase, strings.ReplaceAll(err.Error(), "\n", "\\n"))
			continue
		}
		fmt.Println(phase)
	}
	return in.Err()
}

// goValue replaces the {"$float": ...} and {"$int": ...} wrappers by the Go values they stand for.
func goValue(v any) (any, error) {
	switch v := v.(type) {
	case []any:
		for i, item := range v {
			item, err := goValue(item)
			if err != nil {
				return nil, err
			}
			v[i] = item
		}
		return v, nil
	case map[string]any:
		if len(v) == 1 {
			if f, ok := v["$float"]; ok {
				switch f {
				case "NaN":
					return math.NaN(), nil
				case "+Inf":
					return math.Inf(1), nil
				case "-Inf":
					return math.Inf(-1), nil
				}
				return nil, fmt.Errorf("bad $float %v", f)
			}
			if n, ok := v["$int"].(float64); ok {
				return int(n), nil
			}
		}
		for k, item := range v {
			item, err := goValue(item)
			if err != nil {
				return nil, err
			}
			v[k] = item
		}
		return v, nil
	}
	return v, nil
}

var (
	marshaler   = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	quantity    = reflect.TypeOf(resource.Quantity{})
	goTime      = reflect.TypeOf(metav1.Time{})
	microTime   = reflect.TypeOf(metav1.MicroTime{})
	intOrString = reflect.TypeOf(intstr.IntOrString{})
	fieldsV1    = reflect.TypeOf(metav1.FieldsV1{})
	rawMessage  = reflect.TypeOf(json.RawMessage{})
)

type generator struct {
	order   []reflect.Type
	index   map[reflect.Type]int
	pending []reflect.Type
}

// fields prints the Rust table: every struct reachable from PodTemplateSpec, its JSON fields in the order Go
// marshals them (embedded structs flattened in place), their omitempty/omitzero options and types.
func fields() error {
	g := &generator{index: map[reflect.Type]int{}}
	g.structIndex(reflect.TypeOf(corev1.PodTemplateSpec{}))
	g.structIndex(reflect.TypeOf(v1alpha1.CanaryStep{}))
	var body strings.Builder
	for len(g.pending) > 0 {
		t := g.pending[0]
		g.pending = g.pending[1:]
		fmt.Fprintf(&body, "    // %d: %s\n    &[\n", g.index[t], t.String())
		for _, f := range flatten(t) {
			ty, err := g.rustType(f.Type)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", t, f.Name, err)
			}
			name, opts := parseTag(f.Tag.Get("json"))
			if name == "" {
				name = f.Name
			}
			fmt.Fprintf(&body, "        Field { json: %q, omitempty: %t, omitzero: %t, ty: %s },\n",
				name, opts["omitempty"], opts["omitzero"], ty)
		}
		body.WriteString("    ],\n")
	}
	fmt.Println("//! Generated by `tests/podhash/podhash fields` from k8s.io/api " + apiVersion() + ": the JSON layout of")
	fmt.Println("//! `corev1.PodTemplateSpec` as Go's encoding/json writes it. Do not edit; regenerate with")
	fmt.Println("//! `tests/podhash/generate.sh`.")
	fmt.Println()
	fmt.Println("use super::{Field, Ty};")
	fmt.Println()
	fmt.Printf("/// The structs, by index; `Ty::Struct(i)` refers to `STRUCTS[i]`. 0 is `PodTemplateSpec`, 1 `CanaryStep`.\n")
	fmt.Printf("pub(super) static STRUCTS: &[&[Field]] = &[\n%s];\n", body.String())
	return nil
}

func apiVersion() string {
	if v := os.Getenv("PODHASH_API_VERSION"); v != "" {
		return v
	}
	return "(see tests/podhash/go.mod)"
}

func (g *generator) structIndex(t reflect.Type) int {
	if i, ok := g.index[t]; ok {
		return i
	}
	i := len(g.order)
	g.index[t] = i
	g.order = append(g.order, t)
	g.pending = append(g.pending, t)
	return i
}

func (g *generator) rustType(t reflect.Type) (string, error) {
	switch t {
	case quantity:
		return "Ty::Quantity", nil
	case goTime:
		return "Ty::Time", nil
	case microTime:
		return "Ty::MicroTime", nil
	case intOrString:
		return "Ty::IntOrString", nil
	case fieldsV1, rawMessage:
		// Raw JSON (managedFields, a step plugin's config), written back compacted as it was read.
		return "Ty::Raw", nil
	}
	if t.Kind() == reflect.Ptr {
		inner, err := g.rustType(t.Elem())
		return "Ty::Ptr(&" + inner + ")", err
	}
	if t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) {
		return "", fmt.Errorf("type %s has its own MarshalJSON, which the table does not describe", t)
	}
	switch t.Kind() {
	case reflect.String:
		return "Ty::String", nil
	case reflect.Bool:
		return "Ty::Bool", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "Ty::Int", nil
	case reflect.Float32, reflect.Float64:
		return "Ty::Float", nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "Ty::Bytes", nil
		}
		inner, err := g.rustType(t.Elem())
		return "Ty::Slice(&" + inner + ")", err
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return "", fmt.Errorf("map key %s", t.Key())
		}
		inner, err := g.rustType(t.Elem())
		return "Ty::Map(&" + inner + ")", err
	case reflect.Struct:
		return fmt.Sprintf("Ty::Struct(%d)", g.structIndex(t)), nil
	}
	return "", fmt.Errorf("unsupported kind %s", t.Kind())
}

// flatten lists the fields encoding/json writes for t, in order: exported, not `json:"-"`, with anonymous
// struct fields without a JSON name promoted in place.
func flatten(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _ := parseTag(tag)
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, flatten(f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		out = append(out, f)
	}
	return out
}

func parseTag(tag string) (string, map[string]bool) {
	parts := strings.Split(tag, ",")
	opts := map[string]bool{}
	for _, p := range parts[1:] {
		opts[p] = true
	}
	return parts[0], opts
}
