// Command spec-hash describes the Go structs of the Kubernetes kinds the config audit covers, and
// computes Trivy-Operator's resource-spec-hash of objects, so that trivy-lookout's TypeScript
// version of that hash can be generated from, and checked against, the real Go computation.
//
//	spec-hash schema          # JSON: field order, names, JSON names and Go types of every struct reachable from the kinds
//	spec-hash hash [-print]   # JSON lines in (objects as the API server serves them), one JSON line out per object: {"hash":…}
//
// The hash is FNV-32a over go-spew's "%#v" printing (Indent " ", SortKeys, DisableMethods,
// SpewKeys) of the typed object, or of its PodSpec for workloads, rendered digit by digit with
// k8s.io/apimachinery's rand.SafeEncodeString. The object is first brought into the shape
// Trivy-Operator's informer cache holds: decoded from protobuf (as controller-runtime asks for
// built-in kinds), managedFields and the last-applied-configuration annotation dropped, ConfigMap
// data dropped, apiVersion and kind set. Run it with TZ="" (the operator's image has no zoneinfo,
// so Go's local time zone is UTC), since timestamps print with their *time.Location.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/davecgh/go-spew/spew"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// protoObject is what the generated protobuf code gives every built-in kind.
type protoObject interface {
	metav1.Object
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

type kindInfo struct {
	apiVersion string
	workload   bool
	new        func() protoObject
}

var kinds = map[string]kindInfo{
	"Pod":                   {"v1", true, func() protoObject { return &corev1.Pod{} }},
	"ReplicaSet":            {"apps/v1", true, func() protoObject { return &appsv1.ReplicaSet{} }},
	"ReplicationController": {"v1", true, func() protoObject { return &corev1.ReplicationController{} }},
	"Deployment":            {"apps/v1", true, func() protoObject { return &appsv1.Deployment{} }},
	"StatefulSet":           {"apps/v1", true, func() protoObject { return &appsv1.StatefulSet{} }},
	"DaemonSet":             {"apps/v1", true, func() protoObject { return &appsv1.DaemonSet{} }},
	"CronJob":               {"batch/v1", true, func() protoObject { return &batchv1.CronJob{} }},
	"Job":                   {"batch/v1", true, func() protoObject { return &batchv1.Job{} }},
	"Service":               {"v1", false, func() protoObject { return &corev1.Service{} }},
	"ConfigMap":             {"v1", false, func() protoObject { return &corev1.ConfigMap{} }},
	"Role":                  {"rbac.authorization.k8s.io/v1", false, func() protoObject { return &rbacv1.Role{} }},
	"RoleBinding":           {"rbac.authorization.k8s.io/v1", false, func() protoObject { return &rbacv1.RoleBinding{} }},
	"ClusterRole":           {"rbac.authorization.k8s.io/v1", false, func() protoObject { return &rbacv1.ClusterRole{} }},
	"ClusterRoleBinding":    {"rbac.authorization.k8s.io/v1", false, func() protoObject { return &rbacv1.ClusterRoleBinding{} }},
	"NetworkPolicy":         {"networking.k8s.io/v1", false, func() protoObject { return &networkingv1.NetworkPolicy{} }},
	"Ingress":               {"networking.k8s.io/v1", false, func() protoObject { return &networkingv1.Ingress{} }},
	"ResourceQuota":         {"v1", false, func() protoObject { return &corev1.ResourceQuota{} }},
	"LimitRange":            {"v1", false, func() protoObject { return &corev1.LimitRange{} }},
	"PersistentVolume":      {"v1", false, func() protoObject { return &corev1.PersistentVolume{} }},
	"PersistentVolumeClaim": {"v1", false, func() protoObject { return &corev1.PersistentVolumeClaim{} }},
	"Node":                  {"v1", false, func() protoObject { return &corev1.Node{} }},
}

// The ConfigMaps whose data Trivy-Operator's cache keeps.
var keptConfigMaps = map[string]bool{"trivy-operator-policies-config": true, "trivy-operator-trivy-config": true}

func main() {
	// Go's local zone is set up on first use; the operator has used it (logging) before hashing.
	_ = time.Now().Local().String()
	var err error
	switch {
	case len(os.Args) == 2 && os.Args[1] == "schema":
		err = schema()
	case len(os.Args) >= 2 && os.Args[1] == "hash":
		err = hashLines(len(os.Args) == 3 && os.Args[2] == "-print")
	default:
		err = errors.New("usage: spec-hash schema | spec-hash hash [-print] < objects.jsonl")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "spec-hash: %v\n", err)
		os.Exit(1)
	}
}

// --- hash ---------------------------------------------------------------------------------

func hashLines(print bool) error {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		value, text, err := specHash([]byte(line))
		result := map[string]string{"hash": value}
		if print {
			result["text"] = text
		}
		if err != nil {
			result = map[string]string{"error": err.Error()}
		}
		encoded, _ := json.Marshal(result)
		fmt.Fprintln(out, string(encoded))
	}
	return in.Err()
}

func specHash(raw []byte) (string, string, error) {
	var head struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", "", err
	}
	info, ok := kinds[head.Kind]
	if !ok {
		return "", "", fmt.Errorf("unsupported kind %q", head.Kind)
	}
	fromJSON := info.new()
	if err := json.Unmarshal(raw, fromJSON); err != nil {
		return "", "", err
	}
	// Through protobuf, as the informer receives it: empty lists and maps come back nil.
	wire, err := fromJSON.Marshal()
	if err != nil {
		return "", "", err
	}
	obj := info.new()
	if err := obj.Unmarshal(wire); err != nil {
		return "", "", err
	}
	obj.SetManagedFields(nil)
	if annotations := obj.GetAnnotations(); annotations != nil {
		delete(annotations, "kubectl.kubernetes.io/last-applied-configuration")
		obj.SetAnnotations(annotations)
	}
	if cm, ok := obj.(*corev1.ConfigMap); ok && !keptConfigMaps[cm.Name] {
		cm.Data = nil
		cm.BinaryData = nil
	}
	reflect.ValueOf(obj).Elem().FieldByName("TypeMeta").Set(reflect.ValueOf(metav1.TypeMeta{Kind: head.Kind, APIVersion: info.apiVersion}))
	var target any = obj
	if info.workload {
		target = podSpec(obj)
	}
	text := spewText(target)
	sum := fnv.New32a()
	_, _ = sum.Write([]byte(text))
	return rand.SafeEncodeString(fmt.Sprint(sum.Sum32())), text, nil
}

func podSpec(obj protoObject) corev1.PodSpec {
	switch o := obj.(type) {
	case *corev1.Pod:
		return o.Spec
	case *appsv1.ReplicaSet:
		return o.Spec.Template.Spec
	case *corev1.ReplicationController:
		if o.Spec.Template == nil {
			return corev1.PodSpec{}
		}
		return o.Spec.Template.Spec
	case *appsv1.Deployment:
		return o.Spec.Template.Spec
	case *appsv1.StatefulSet:
		return o.Spec.Template.Spec
	case *appsv1.DaemonSet:
		return o.Spec.Template.Spec
	case *batchv1.CronJob:
		return o.Spec.JobTemplate.Spec.Template.Spec
	case *batchv1.Job:
		return o.Spec.Template.Spec
	}
	return corev1.PodSpec{}
}

func spewText(value any) string {
	printer := spew.ConfigState{Indent: " ", SortKeys: true, DisableMethods: true, SpewKeys: true}
	return printer.Sprintf("%#v", value)
}

// --- schema -------------------------------------------------------------------------------

type field struct {
	Name   string `json:"name"`
	JSON   string `json:"json,omitempty"`
	Inline bool   `json:"inline,omitempty"`
	Type   string `json:"type"`
}

type typeInfo struct {
	Go      string  `json:"go"`
	Kind    string  `json:"kind"`
	Elem    string  `json:"elem,omitempty"`
	Key     string  `json:"key,omitempty"`
	Fields  []field `json:"fields,omitempty"`
	Special string  `json:"special,omitempty"`
}

// Types whose JSON form is not their struct: the TypeScript side converts their JSON itself.
var specials = map[reflect.Type]string{
	reflect.TypeOf(resource.Quantity{}):  "quantity",
	reflect.TypeOf(metav1.Time{}):        "time",
	reflect.TypeOf(metav1.MicroTime{}):   "microtime",
	reflect.TypeOf(intstr.IntOrString{}): "intorstring",
	reflect.TypeOf(metav1.FieldsV1{}):    "fieldsv1",
}

func typeID(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + typeID(t.Elem())
	case reflect.Slice:
		return "[]" + typeID(t.Elem())
	case reflect.Map:
		return "map[" + typeID(t.Key()) + "]" + typeID(t.Elem())
	}
	if t.Name() != "" && t.PkgPath() != "" {
		return t.PkgPath() + "." + t.Name()
	}
	return t.String()
}

func schema() error {
	types := map[string]typeInfo{}
	var visit func(t reflect.Type) string
	visit = func(t reflect.Type) string {
		id := typeID(t)
		if _, seen := types[id]; seen {
			return id
		}
		info := typeInfo{Go: t.String(), Kind: t.Kind().String(), Special: specials[t]}
		types[id] = info
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			info.Elem = visit(t.Elem())
		case reflect.Map:
			info.Key = visit(t.Key())
			info.Elem = visit(t.Elem())
		case reflect.Struct:
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				entry := field{Name: f.Name, Type: visit(f.Type)}
				tag := strings.Split(f.Tag.Get("json"), ",")
				switch {
				case tag[0] == "-" || !f.IsExported():
				case tag[0] == "" && len(tag) > 1 && tag[1] == "inline", tag[0] == "" && f.Anonymous:
					entry.Inline = true
				case tag[0] == "":
					entry.JSON = f.Name
				default:
					entry.JSON = tag[0]
				}
				info.Fields = append(info.Fields, entry)
			}
		case reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
			return id
		}
		types[id] = info
		return id
	}
	roots := map[string]string{}
	names := make([]string, 0, len(kinds))
	for name := range kinds {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		info := kinds[name]
		if info.workload {
			roots[name] = visit(reflect.TypeOf(corev1.PodSpec{}))
		} else {
			roots[name] = visit(reflect.TypeOf(info.new()))
		}
	}
	out := map[string]any{
		"generatedBy": "scripts/spec-hash (go run . schema, then prettier --write)",
		"modules":     modules(),
		"roots":       roots,
		"types":       types,
	}
	encoded, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(encoded))
	return err
}

// modules are the versions of the packages whose structs the schema describes.
func modules() map[string]string {
	versions := map[string]string{}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			switch dep.Path {
			case "k8s.io/api", "k8s.io/apimachinery", "github.com/davecgh/go-spew":
				versions[dep.Path] = dep.Version
			}
		}
	}
	return versions
}
