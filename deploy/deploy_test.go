package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// ---- every file parses

func TestEveryFileParses(t *testing.T) {
	t.Parallel()
	var yamlFiles, jsonFiles int
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml":
			yamlFiles++
			docs, err := DecodeYAML(p)
			if err != nil {
				t.Error(err)
			} else if len(docs) == 0 {
				t.Errorf("%s: no YAML document", p)
			}
		case ".json":
			jsonFiles++
			if _, err := DecodeJSON(p); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if yamlFiles < 15 || jsonFiles < 1 {
		t.Errorf("found %d YAML and %d JSON files: the walk missed the artifacts", yamlFiles, jsonFiles)
	}
}

func TestDecodeYAMLMultiDocument(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "multi.yaml")
	if err := os.WriteFile(p, []byte("a: 1\n---\n# only a comment\n---\nb: [2]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	docs, err := DecodeYAML(p)
	if err != nil || len(docs) != 2 {
		t.Fatalf("docs = %v, %v", docs, err)
	}
	if err := os.WriteFile(p, []byte("a: 1\n---\nb: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeYAML(p); err == nil || !strings.Contains(err.Error(), "document 2") {
		t.Errorf("a broken second document: %v", err)
	}
}

// ---- Kubernetes

// manifest is the part of a Kubernetes object the tests read.
type manifest struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   objectMeta        `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       yaml.Node         `yaml:"spec"`
}

type objectMeta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type deploymentSpec struct {
	Replicas *int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata objectMeta `yaml:"metadata"`
		Spec     podSpec    `yaml:"spec"`
	} `yaml:"template"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int            `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               securityContext `yaml:"securityContext"`
	TopologySpreadConstraints     []struct {
		TopologyKey string `yaml:"topologyKey"`
	} `yaml:"topologySpreadConstraints"`
	Affinity struct {
		PodAntiAffinity map[string]any `yaml:"podAntiAffinity"`
	} `yaml:"affinity"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string         `yaml:"name"`
		EmptyDir  map[string]any `yaml:"emptyDir"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
		PersistentVolumeClaim map[string]any `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Privileged               *bool `yaml:"privileged"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
		Add  []string `yaml:"add"`
	} `yaml:"capabilities"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext securityContext `yaml:"securityContext"`
	LivenessProbe   *probe          `yaml:"livenessProbe"`
	ReadinessProbe  *probe          `yaml:"readinessProbe"`
	StartupProbe    *probe          `yaml:"startupProbe"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	PeriodSeconds    int `yaml:"periodSeconds"`
	FailureThreshold int `yaml:"failureThreshold"`
}

func (c container) env(name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// readManifest decodes the single object of a manifest file.
func readManifest(t *testing.T, file string) manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("kubernetes", file))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return m
}

func decodeSpec[T any](t *testing.T, m manifest) T {
	t.Helper()
	var spec T
	if err := m.Spec.Decode(&spec); err != nil {
		t.Fatalf("%s %s: spec: %v", m.Kind, m.Metadata.Name, err)
	}
	return spec
}

func readDeployment(t *testing.T) (manifest, deploymentSpec, container) {
	t.Helper()
	m := readManifest(t, "deployment.yaml")
	if m.Kind != "Deployment" || m.APIVersion != "apps/v1" {
		t.Fatalf("deployment.yaml holds %s %s", m.APIVersion, m.Kind)
	}
	spec := decodeSpec[deploymentSpec](t, m)
	cs := spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%d containers, want 1", len(cs))
	}
	return m, spec, cs[0]
}

func TestDeploymentProbesAndResources(t *testing.T) {
	t.Parallel()
	_, _, c := readDeployment(t)
	for _, p := range []struct {
		name string
		p    *probe
		path string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}, {"startupProbe", c.StartupProbe, ""}} {
		switch {
		case p.p == nil || p.p.HTTPGet == nil:
			t.Errorf("%s: missing or not an httpGet probe", p.name)
		case p.path != "" && p.p.HTTPGet.Path != p.path:
			t.Errorf("%s: path %q, want %q", p.name, p.p.HTTPGet.Path, p.path)
		case p.p.HTTPGet.Port != "http" && p.p.HTTPGet.Port != 8080:
			t.Errorf("%s: port %v is not the container's", p.name, p.p.HTTPGet.Port)
		}
	}
	if s := c.StartupProbe; s != nil && s.PeriodSeconds*s.FailureThreshold < 30 {
		t.Errorf("startup probe allows %ds: too short", s.PeriodSeconds*s.FailureThreshold)
	}
	for _, res := range []string{"cpu", "memory"} {
		if c.Resources.Requests[res] == "" {
			t.Errorf("no %s request", res)
		}
		if c.Resources.Limits[res] == "" {
			t.Errorf("no %s limit", res)
		}
	}
	if len(c.Ports) == 0 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports = %+v, want http 8080", c.Ports)
	}
	if addr, _ := c.env("MCPFED_LISTEN_ADDR"); addr != "" && addr != ":8080" {
		t.Errorf("MCPFED_LISTEN_ADDR %q does not match containerPort 8080", addr)
	}
}

func TestDeploymentSecurity(t *testing.T) {
	t.Parallel()
	_, spec, c := readDeployment(t)
	pod, sc := spec.Template.Spec.SecurityContext, c.SecurityContext
	isTrue := func(b ...*bool) bool {
		for _, x := range b {
			if x != nil {
				return *x
			}
		}
		return false
	}
	if !isTrue(sc.RunAsNonRoot, pod.RunAsNonRoot) {
		t.Error("runAsNonRoot is not set")
	}
	for _, u := range []*int{sc.RunAsUser, pod.RunAsUser} {
		if u != nil && *u != 65532 {
			t.Errorf("runAsUser %d, want 65532 (the image's user)", *u)
		}
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if isTrue(sc.Privileged) {
		t.Error("privileged")
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %+v, want drop ALL and nothing added", sc.Capabilities)
	}
	if sc.SeccompProfile.Type != "RuntimeDefault" && pod.SeccompProfile.Type != "RuntimeDefault" {
		t.Error("seccompProfile is not RuntimeDefault")
	}
	ps := spec.Template.Spec
	spread := len(ps.TopologySpreadConstraints) > 0 && ps.TopologySpreadConstraints[0].TopologyKey == "kubernetes.io/hostname"
	if !spread && len(ps.Affinity.PodAntiAffinity) == 0 {
		t.Error("replicas are not spread across nodes (topologySpreadConstraints or podAntiAffinity)")
	}
	if !reflect.DeepEqual(spec.Selector.MatchLabels, subset(spec.Template.Metadata.Labels, spec.Selector.MatchLabels)) {
		t.Errorf("selector %v does not match the pod labels %v", spec.Selector.MatchLabels, spec.Template.Metadata.Labels)
	}
}

// subset returns the entries of labels whose keys are in keys.
func subset(labels, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

// TestDeploymentMountsAndConfig: the state directory, the configuration and
// the credentials are mounted where the environment and config.yaml say,
// and the grace period outlasts the shutdown timeout.
func TestDeploymentMountsAndConfig(t *testing.T) {
	t.Parallel()
	_, spec, c := readDeployment(t)
	ps := spec.Template.Spec
	mounts := map[string]string{} // mount path -> volume name
	readOnly := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
		readOnly[m.MountPath] = m.ReadOnly
		if m.SubPath != "" {
			t.Errorf("mount %s uses subPath: ConfigMap and Secret updates would not reach it", m.MountPath)
		}
	}
	volumeKind := func(name string) string {
		for _, v := range ps.Volumes {
			if v.Name == name {
				switch {
				case v.EmptyDir != nil, v.PersistentVolumeClaim != nil:
					return "writable"
				case v.ConfigMap != nil:
					return "configMap:" + v.ConfigMap.Name
				case v.Secret != nil:
					return "secret:" + v.Secret.SecretName
				}
				return "other"
			}
		}
		return ""
	}
	stateDir, ok := c.env("MCPFED_STATE_DIR")
	if !ok || stateDir != "/var/lib/mcpfed" {
		t.Errorf("MCPFED_STATE_DIR = %q", stateDir)
	}
	if volumeKind(mounts[stateDir]) != "writable" || readOnly[stateDir] {
		t.Errorf("the state directory %s is not a writable volume (the root filesystem is read-only)", stateDir)
	}
	if f, _ := c.env("MCPFED_LOG_FORMAT"); f != "json" {
		t.Errorf("MCPFED_LOG_FORMAT = %q, want json", f)
	}
	cfgFile, _ := c.env("MCPFED_CONFIG")
	cm := readManifest(t, "configmap.yaml")
	if cfgFile == "" || volumeKind(mounts[path.Dir(cfgFile)]) != "configMap:"+cm.Metadata.Name || cm.Data[path.Base(cfgFile)] == "" {
		t.Errorf("MCPFED_CONFIG=%q is not a key of ConfigMap %s mounted at its directory", cfgFile, cm.Metadata.Name)
	}
	secret := readManifest(t, "secret.yaml")
	if volumeKind(mounts[secretDir]) != "secret:"+secret.Metadata.Name || !readOnly[secretDir] {
		t.Errorf("Secret %s is not mounted read-only at %s", secret.Metadata.Name, secretDir)
	}

	// The files config.yaml names: see TestShippedConfig (shipped_test.go).

	timeout, err := time.ParseDuration(envOr(c, "MCPFED_SHUTDOWN_TIMEOUT", "15s"))
	if err != nil {
		t.Fatal(err)
	}
	grace := 30 // the Kubernetes default
	if ps.TerminationGracePeriodSeconds != nil {
		grace = *ps.TerminationGracePeriodSeconds
	}
	if time.Duration(grace)*time.Second <= timeout {
		t.Errorf("terminationGracePeriodSeconds %d does not outlast MCPFED_SHUTDOWN_TIMEOUT %s", grace, timeout)
	}
}

func envOr(c container, name, def string) string {
	if v, ok := c.env(name); ok {
		return v
	}
	return def
}

type kustomization struct {
	Namespace string   `yaml:"namespace"`
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	t.Parallel()
	docs, err := DecodeYAML(filepath.Join("kubernetes", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	node, _ := yaml.Marshal(docs[0])
	if err := yaml.Unmarshal(node, &k); err != nil {
		t.Fatal(err)
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join("kubernetes", r)); err != nil {
			t.Errorf("kustomization lists %s: %v", r, err)
		}
	}
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if name != "kustomization.yaml" && !slices.Contains(k.Resources, name) {
			t.Errorf("%s is not listed in kustomization.yaml resources", name)
		}
	}
	_, _, c := readDeployment(t)
	image, _, _ := strings.Cut(c.Image, ":")
	if len(k.Images) != 1 || k.Images[0].Name != image {
		t.Errorf("kustomization images %+v do not name the Deployment's image %s", k.Images, c.Image)
	}
}

// TestManifestsAgree: the Service, PodDisruptionBudget, ServiceMonitor and
// HorizontalPodAutoscaler point at the Deployment's pods and port.
func TestManifestsAgree(t *testing.T) {
	t.Parallel()
	dep, spec, _ := readDeployment(t)
	podLabels := spec.Template.Metadata.Labels
	selects := func(what string, sel map[string]string, labels map[string]string) {
		t.Helper()
		if len(sel) == 0 {
			t.Errorf("%s: empty selector", what)
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s selects %s=%s, which the target lacks (%v)", what, k, v, labels)
			}
		}
	}
	svc := readManifest(t, "service.yaml")
	svcSpec := decodeSpec[struct {
		Selector map[string]string
		Ports    []struct {
			Name       string
			TargetPort any `yaml:"targetPort"`
		}
	}](t, svc)
	selects("Service", svcSpec.Selector, podLabels)
	if len(svcSpec.Ports) == 0 || svcSpec.Ports[0].TargetPort != "http" {
		t.Errorf("Service ports %+v do not target the container port http", svcSpec.Ports)
	}

	pdb := decodeSpec[struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		}
	}](t, readManifest(t, "pdb.yaml"))
	selects("PodDisruptionBudget", pdb.Selector.MatchLabels, podLabels)

	sm := readManifest(t, "servicemonitor.yaml")
	smSpec := decodeSpec[struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		}
		Endpoints []struct{ Port, Path string }
	}](t, sm)
	if sm.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion %s", sm.APIVersion)
	}
	selects("ServiceMonitor", smSpec.Selector.MatchLabels, svc.Metadata.Labels)
	if len(smSpec.Endpoints) != 1 || smSpec.Endpoints[0].Port != svcSpec.Ports[0].Name || smSpec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want port %s path /metrics", smSpec.Endpoints, svcSpec.Ports[0].Name)
	}

	hpa := readManifest(t, "hpa.yaml")
	hpaSpec := decodeSpec[struct {
		ScaleTargetRef struct{ Kind, Name string } `yaml:"scaleTargetRef"`
		MinReplicas    int                         `yaml:"minReplicas"`
		MaxReplicas    int                         `yaml:"maxReplicas"`
		Metrics        []struct {
			Resource struct{ Name string }
		}
	}](t, hpa)
	if hpa.APIVersion != "autoscaling/v2" || hpaSpec.ScaleTargetRef.Kind != "Deployment" || hpaSpec.ScaleTargetRef.Name != dep.Metadata.Name {
		t.Errorf("HorizontalPodAutoscaler %s targets %+v", hpa.APIVersion, hpaSpec.ScaleTargetRef)
	}
	if hpaSpec.MinReplicas < 2 || hpaSpec.MaxReplicas < hpaSpec.MinReplicas || len(hpaSpec.Metrics) == 0 || hpaSpec.Metrics[0].Resource.Name != "cpu" {
		t.Errorf("HorizontalPodAutoscaler: min %d max %d metrics %+v", hpaSpec.MinReplicas, hpaSpec.MaxReplicas, hpaSpec.Metrics)
	}
	if spec.Replicas != nil {
		t.Error("the Deployment sets replicas, which the HorizontalPodAutoscaler owns")
	}
}

// TestPrometheusRuleMatchesRuleFile: the PrometheusRule manifest carries
// exactly the groups of prometheus/rules.yaml.
func TestPrometheusRuleMatchesRuleFile(t *testing.T) {
	t.Parallel()
	file, err := DecodeYAML(filepath.Join("prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cr, err := DecodeYAML(filepath.Join("kubernetes", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := cr[0].(map[string]any)["spec"].(map[string]any)
	if !reflect.DeepEqual(spec["groups"], file[0].(map[string]any)["groups"]) {
		t.Error("kubernetes/prometheusrule.yaml and prometheus/rules.yaml differ: copy the groups over")
	}
}

// TestKustomizeBuild renders the kustomization when kubectl or kustomize is
// installed.
func TestKustomizeBuild(t *testing.T) {
	t.Parallel()
	var cmd []string
	if p, err := exec.LookPath("kustomize"); err == nil {
		cmd = []string{p, "build", "kubernetes"}
	} else if p, err := exec.LookPath("kubectl"); err == nil {
		cmd = []string{p, "kustomize", "kubernetes"}
	} else {
		t.Skip("neither kustomize nor kubectl on PATH")
	}
	out := run(t, cmd...)
	for _, kind := range []string{"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"} {
		if !strings.Contains(out, "\nkind: "+kind+"\n") {
			t.Errorf("the build lacks a %s", kind)
		}
	}
	if !strings.Contains(out, "image: ghcr.io/mcpfed/mcpfed:") {
		t.Error("the build lacks the mcpfed image")
	}
}

// ---- Prometheus rules

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML[T any](t *testing.T, file string) T {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return v
}

// TestAlertRules: every alert has a severity, a summary and a description,
// and a promtool unit test where it fires and one where it does not.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	rules := readYAML[ruleFile](t, filepath.Join("prometheus", "rules.yaml"))
	tests := readYAML[ruleTests](t, filepath.Join("prometheus", "rules_test.yaml"))
	if !slices.Contains(tests.RuleFiles, "rules.yaml") {
		t.Errorf("rules_test.yaml loads %v, not rules.yaml", tests.RuleFiles)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: no summary or description", r.Alert)
			}
			if r.For == "" {
				t.Errorf("%s: no for: it would fire on one evaluation", r.Alert)
			}
			if !firing[r.Alert] || !quiet[r.Alert] {
				t.Errorf("%s: rules_test.yaml lacks a firing case (%v) or a non-firing case (%v)", r.Alert, firing[r.Alert], quiet[r.Alert])
			}
		}
	}
	for _, want := range []string{"MCPFedSourceSyncFailing", "MCPFedUpstreamErrors", "MCPFedBreakerOpen", "MCPFedSnapshotStale", "MCPFedPartialAnswersHigh", "MCPFedHighErrorRate", "MCPFedSlowRequests"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

// TestPromtool runs promtool on the rules, their unit tests, the compose
// Prometheus configuration, and every dashboard expression (as recording
// rules, with the Grafana variables filled in). Skipped without promtool
// (Debian: apt-get install prometheus).
func TestPromtool(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (Debian/Ubuntu: apt-get install --no-install-recommends prometheus)")
	}
	run(t, promtool, "check", "rules", filepath.Join("prometheus", "rules.yaml"))
	run(t, promtool, "test", "rules", filepath.Join("prometheus", "rules_test.yaml"))
	run(t, promtool, "check", "config", "--syntax-only", filepath.Join("compose", "prometheus.yml"))

	exprs, err := Expressions("grafana")
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h",
		"$datasource", "prometheus", "$job", ".*", "$instance", ".*", "$source", "official")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, e := range exprs {
		if strings.HasPrefix(e.Expr, "label_values(") || e.Expr == "prometheus" {
			continue // Grafana template queries, not PromQL
		}
		n++
		q, _ := json.Marshal(vars.Replace(e.Expr))
		fmt.Fprintf(&b, "      - record: dashboard:expr_%d\n        expr: %s\n", n, q)
	}
	if n < 30 {
		t.Errorf("only %d dashboard expressions", n)
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, promtool, "check", "rules", "--lint=none", f)
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// ---- Grafana

func TestDashboard(t *testing.T) {
	t.Parallel()
	doc, err := DecodeJSON(filepath.Join("grafana", "mcpfed-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	d := doc.(map[string]any)
	if v, _ := d["schemaVersion"].(float64); v < 38 {
		t.Errorf("schemaVersion %v, want at least 38", d["schemaVersion"])
	}
	if d["uid"] == "" || d["title"] == "" {
		t.Error("no uid or title")
	}
	vars := map[string]map[string]any{}
	for _, v := range d["templating"].(map[string]any)["list"].([]any) {
		v := v.(map[string]any)
		vars[v["name"].(string)] = v
	}
	if ds := vars["datasource"]; ds == nil || ds["type"] != "datasource" || ds["query"] != "prometheus" {
		t.Errorf("no datasource variable of type datasource: %v", ds)
	}
	src := vars["source"]
	if src == nil || !strings.Contains(fmt.Sprint(src["query"]), "label_values(mcpfed_source_entries") {
		t.Errorf("no source variable from label_values(mcpfed_source_entries, source): %v", src)
	}
	ids := map[float64]bool{}
	repeated := false
	var walk func(panels []any)
	walk = func(panels []any) {
		for _, p := range panels {
			p := p.(map[string]any)
			id, _ := p["id"].(float64)
			if ids[id] {
				t.Errorf("panel id %v used twice", id)
			}
			ids[id] = true
			if p["type"] == "row" {
				if p["repeat"] == "source" {
					repeated = true
				}
				if sub, ok := p["panels"].([]any); ok {
					walk(sub)
				}
				continue
			}
			if uid := fmt.Sprint(p["datasource"].(map[string]any)["uid"]); uid != "${datasource}" {
				t.Errorf("panel %q: datasource %s, want ${datasource}", p["title"], uid)
			}
			targets, _ := p["targets"].([]any)
			if len(targets) == 0 {
				t.Errorf("panel %q: no queries", p["title"])
			}
			for _, tg := range targets {
				tg := tg.(map[string]any)
				if tg["expr"] == "" || fmt.Sprint(tg["datasource"].(map[string]any)["uid"]) != "${datasource}" {
					t.Errorf("panel %q: a target without expr or ${datasource}", p["title"])
				}
			}
		}
	}
	walk(d["panels"].([]any))
	if !repeated {
		t.Error("no row repeated per source")
	}
}

// ---- Dockerfile

type instruction struct{ cmd, args string }

// dockerStages splits a Dockerfile into stages of instructions, joining
// continuation lines and dropping comments.
func dockerStages(t *testing.T, file string) [][]instruction {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]instruction
	var logical strings.Builder
	for line := range strings.SplitSeq(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || trimmed == "" && logical.Len() == 0 {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(trimmed)
		full := logical.String()
		logical.Reset()
		cmd, args, _ := strings.Cut(full, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s: %s before the first FROM", file, in.cmd)
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	return stages
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	stages := dockerStages(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("%d stages: not a multi-stage build", len(stages))
	}
	cgoOff := false
	for _, st := range stages[:len(stages)-1] {
		for _, in := range st {
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") && strings.Contains(in.args, "CGO_ENABLED=0") {
				cgoOff = true
			}
			if in.cmd == "ENV" && strings.Contains(in.args, "CGO_ENABLED=0") {
				cgoOff = true
			}
		}
	}
	if !cgoOff {
		t.Error("the build does not set CGO_ENABLED=0")
	}
	final := stages[len(stages)-1]
	var user, entrypoint string
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		t.Errorf("final stage USER %q: must be a non-root user", user)
	}
	if uid, err := strconv.Atoi(name); err == nil {
		_, spec, _ := readDeployment(t)
		if ru := spec.Template.Spec.SecurityContext.RunAsUser; ru != nil && *ru != uid {
			t.Errorf("the Deployment runs as %d, the image as %d", *ru, uid)
		}
	}
	if entrypoint == "" {
		t.Error("final stage has no ENTRYPOINT")
	}
}

func TestDockerStagesParser(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "Dockerfile")
	src := "ARG V=1\nFROM a AS b\n# c\nRUN x \\\n  y\nFROM c\nUSER 1:1\n"
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got := dockerStages(t, p)
	want := [][]instruction{{{"FROM", "a AS b"}, {"RUN", "x  y"}}, {{"FROM", "c"}, {"USER", "1:1"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

// ---- compose

func TestComposeReferencesExistingFiles(t *testing.T) {
	t.Parallel()
	dir := "compose"
	c := readYAML[struct {
		Services map[string]struct {
			Image string `yaml:"image"`
			Build *struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}](t, filepath.Join(dir, "compose.yaml"))
	for _, want := range []string{"mcpfed", "prometheus", "grafana"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("no %s service", want)
		}
	}
	mounted := map[string]string{} // host file (cleaned, relative to deploy/) -> container path
	for name, s := range c.Services {
		if b := s.Build; b != nil {
			ctx := filepath.Join(dir, b.Context)
			if fi, err := os.Stat(ctx); err != nil || !fi.IsDir() {
				t.Errorf("%s: build context %s: %v", name, b.Context, err)
			}
			built, err := os.Stat(filepath.Join(ctx, b.Dockerfile))
			if err != nil {
				t.Errorf("%s: dockerfile: %v", name, err)
			} else if ours, err := os.Stat("Dockerfile"); err != nil || !os.SameFile(built, ours) {
				t.Errorf("%s builds %s, not deploy/Dockerfile", name, b.Dockerfile)
			}
			if _, err := os.Stat(filepath.Join(ctx, "go.mod")); err != nil {
				t.Errorf("%s: the build context %s is not the module root", name, b.Context)
			}
		}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("%s: volume %q has no target", name, v)
				continue
			}
			src := parts[0]
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("%s: named volume %s is not declared", name, src)
				}
				continue
			}
			host := filepath.Join(dir, src)
			if _, err := os.Stat(host); err != nil {
				t.Errorf("%s: volume %s: %v", name, v, err)
			}
			mounted[filepath.Clean(host)] = parts[1]
		}
	}
	// Compose builds the image locally (tag dev); Kubernetes pulls the
	// released one from the same repository.
	_, _, dc := readDeployment(t)
	k8sRepo, _, _ := strings.Cut(dc.Image, ":")
	if c.Services["mcpfed"].Image != k8sRepo+":dev" || c.Services["mcpfed"].Build == nil {
		t.Errorf("mcpfed image %q: want %s:dev built from deploy/Dockerfile", c.Services["mcpfed"].Image, k8sRepo)
	}

	// Prometheus loads the rules; Grafana provisions the dashboard.
	prom := readYAML[struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}](t, filepath.Join(dir, "prometheus.yml"))
	rulesAt, ok := mounted[filepath.Join("prometheus", "rules.yaml")]
	if !ok || !slices.ContainsFunc(prom.RuleFiles, func(glob string) bool { m, _ := path.Match(glob, rulesAt); return m }) {
		t.Errorf("prometheus.yml rule_files %v do not load the mounted rules (%q)", prom.RuleFiles, rulesAt)
	}
	if len(prom.ScrapeConfigs) == 0 || prom.ScrapeConfigs[0].JobName != "mcpfed" {
		t.Errorf("the scrape job is not named mcpfed (the alert rules use job=\"mcpfed\")")
	}
	dashAt, ok := mounted[filepath.Join("grafana", "mcpfed-dashboard.json")]
	provider := readYAML[struct {
		Providers []struct {
			Options struct{ Path string }
		}
	}](t, filepath.Join(dir, "grafana", "provisioning", "dashboards", "mcpfed.yaml"))
	if !ok || len(provider.Providers) == 0 || path.Dir(dashAt) != provider.Providers[0].Options.Path {
		t.Errorf("the dashboard is mounted at %q, outside the provisioned path %+v", dashAt, provider.Providers)
	}
}

// ---- metric names

func TestMetricsIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`histogram_quantile(0.99, sum by (le) (rate(mcpfed_http_request_duration_seconds_bucket{handler=~"go_fake_.*"}[$__rate_interval])))`,
			[]string{"mcpfed_http_request_duration_seconds"}},
		{`rate(go_gc_duration_seconds_sum[5m]) / rate(go_gc_duration_seconds_count[5m]) + process_resident_memory_bytes`,
			[]string{"go_gc_duration_seconds", "process_resident_memory_bytes"}},
		{`time() - mcpfed_source_last_success_timestamp_seconds{source='process_x'} > 3600 and up == 0`,
			[]string{"mcpfed_source_last_success_timestamp_seconds"}},
		{`label_values(mcpfed_source_entries{job=~"$job"}, source)`, []string{"mcpfed_source_entries"}},
		{`sum(rate(mcpfed_cache_requests_total[1m])) or vector(0) + $go_var`, []string{"mcpfed_cache_requests_total"}},
	} {
		if got := MetricsIn(tc.expr); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("MetricsIn(%s) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	names, err := MetricNames(".")
	if err != nil {
		t.Fatal(err)
	}
	refs, err := References(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"mcpfed_http_request_duration_seconds", "mcpfed_http_requests_in_flight", "mcpfed_partial_responses_total",
		"mcpfed_upstream_request_duration_seconds", "mcpfed_upstream_breaker_state", "mcpfed_source_last_success_timestamp_seconds",
		"mcpfed_cache_requests_total", "mcpfed_singleflight_shared_total", "mcpfed_merge_duration_seconds",
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("MetricNames lacks %s", want)
		}
	}
	for _, n := range names {
		for _, suf := range histogramSuffixes {
			if strings.HasSuffix(n, suf) {
				t.Errorf("%s keeps its %s suffix", n, suf)
			}
		}
	}
	// Both the dashboard and the rules are read.
	inRules := slices.ContainsFunc(refs["mcpfed_upstream_breaker_state"], func(f string) bool { return strings.HasSuffix(f, "rules.yaml") })
	inDash := slices.ContainsFunc(refs["mcpfed_upstream_breaker_state"], func(f string) bool { return strings.HasSuffix(f, ".json") })
	if !inRules || !inDash {
		t.Errorf("mcpfed_upstream_breaker_state referenced from %v: want the rules and the dashboard", refs["mcpfed_upstream_breaker_state"])
	}
}
