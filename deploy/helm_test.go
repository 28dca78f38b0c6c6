package deploy_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/quantumlayer/qlp/internal/cli"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/httpx"
)

const chartDir = "helm/qlp"

// manifests are the objects of one rendering, decoded strictly into
// Kubernetes' own types: an unknown or misspelt field fails the test.
type manifests struct {
	deployments  map[string]*appsv1.Deployment
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	accounts     map[string]*corev1.ServiceAccount
	claims       map[string]*corev1.PersistentVolumeClaim
	jobs         map[string]*batchv1.Job
	pdbs         map[string]*policyv1.PodDisruptionBudget
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
	policies     map[string]*networkingv1.NetworkPolicy
	ingresses    map[string]*networkingv1.Ingress
	notes        string
	objectsCount int
}

func valuesFile(t *testing.T, p string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, p)), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func render(t *testing.T, overrides ...map[string]any) (m *manifests) {
	t.Helper()
	out, err := renderChart(t, chartDir, overrides...)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	defer func() {
		if !t.Failed() {
			checkSchemas(t, out, m.objectsCount)
		}
	}()
	m = &manifests{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, accounts: map[string]*corev1.ServiceAccount{},
		claims: map[string]*corev1.PersistentVolumeClaim{}, jobs: map[string]*batchv1.Job{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, policies: map[string]*networkingv1.NetworkPolicy{},
		ingresses: map[string]*networkingv1.Ingress{}}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, file := range names {
		if strings.HasSuffix(file, "NOTES.txt") {
			m.notes = out[file]
			continue
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(out[file], -1) {
			if strings.TrimSpace(doc) == "" || strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(doc, "")) == "" {
				continue
			}
			where := fmt.Sprintf("%s (document %d)", file, i)
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s: %v\n%s", where, err, doc)
			}
			strict := func(apiVersion string, obj any) {
				if head.APIVersion != apiVersion {
					t.Errorf("%s: %s has apiVersion %s, want %s", where, head.Kind, head.APIVersion, apiVersion)
				}
				if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
					t.Fatalf("%s: not a valid %s: %v\n%s", where, head.Kind, err, doc)
				}
			}
			name := head.Metadata.Name
			if name == "" || len(name) > 63 || !regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`).MatchString(name) {
				t.Errorf("%s: invalid name %q", where, name)
			}
			m.objectsCount++
			switch head.Kind {
			case "Deployment":
				o := &appsv1.Deployment{}
				strict("apps/v1", o)
				m.deployments[name] = o
			case "Service":
				o := &corev1.Service{}
				strict("v1", o)
				m.services[name] = o
			case "ConfigMap":
				o := &corev1.ConfigMap{}
				strict("v1", o)
				m.configMaps[name] = o
			case "Secret":
				o := &corev1.Secret{}
				strict("v1", o)
				m.secrets[name] = o
			case "ServiceAccount":
				o := &corev1.ServiceAccount{}
				strict("v1", o)
				m.accounts[name] = o
			case "PersistentVolumeClaim":
				o := &corev1.PersistentVolumeClaim{}
				strict("v1", o)
				m.claims[name] = o
			case "Job":
				o := &batchv1.Job{}
				strict("batch/v1", o)
				m.jobs[name] = o
			case "PodDisruptionBudget":
				o := &policyv1.PodDisruptionBudget{}
				strict("policy/v1", o)
				m.pdbs[name] = o
			case "HorizontalPodAutoscaler":
				o := &autoscalingv2.HorizontalPodAutoscaler{}
				strict("autoscaling/v2", o)
				m.hpas[name] = o
			case "NetworkPolicy":
				o := &networkingv1.NetworkPolicy{}
				strict("networking.k8s.io/v1", o)
				m.policies[name] = o
			case "Ingress":
				o := &networkingv1.Ingress{}
				strict("networking.k8s.io/v1", o)
				m.ingresses[name] = o
			default:
				t.Errorf("%s: kind %s is not checked by this test; add it", where, head.Kind)
			}
		}
	}
	return m
}

// checkSchemas validates every rendered object with kubeconform against the
// Kubernetes schemas: each one must have a schema and match it.
func checkSchemas(t *testing.T, files map[string]string, objects int) {
	t.Helper()
	res := kubeconform(t, allDocuments(files))
	for _, r := range res.objects() {
		if r.Status != "statusValid" {
			t.Errorf("kubeconform: %s %s: %s %s", r.Kind, r.Name, r.Status, r.Msg)
		}
	}
	if s := res.Summary; s.Valid != objects || s.Invalid+s.Errors+s.Skipped != 0 {
		t.Errorf("kubeconform: %+v for %d rendered objects", s, objects)
	}
}

func renderMode(t *testing.T, mode string) *manifests {
	t.Helper()
	return render(t, valuesFile(t, chartDir+"/ci/"+mode+"-values.yaml"))
}

// qlpFacts is what the binary says about itself: its targets and the port
// each one listens on by default.
type qlpFacts struct {
	targets []string
	ports   map[string]int // target -> default port (HTTP targets only)
	addrEnv map[string]string
	urlEnv  map[string]string
	dump    map[string]setting
}

func facts(t *testing.T) qlpFacts {
	t.Helper()
	f := qlpFacts{targets: binaryTargets(t), dump: configDump(t), ports: map[string]int{}, addrEnv: map[string]string{}, urlEnv: map[string]string{}}
	addrKey := map[string]string{"orchestrator": "api.addr"}
	for _, target := range f.targets {
		key, ok := addrKey[target]
		if !ok {
			key = "services." + target + ".addr"
		}
		s, ok := f.dump[key]
		if !ok {
			// Every target serves HTTP, if only probes and /metrics (the worker).
			t.Fatalf("qlp config dump has no %s for target %s", key, target)
		}
		_, port, err := net.SplitHostPort(s.Value)
		if err != nil {
			t.Fatalf("%s = %q: %v", key, s.Value, err)
		}
		f.ports[target], _ = strconv.Atoi(port)
		f.addrEnv[target] = s.Env
		if u, ok := f.dump["services."+target+".url"]; ok {
			f.urlEnv[target] = u.Env
		}
	}
	if f.ports["orchestrator"] != 8000 {
		t.Fatalf("orchestrator port %d", f.ports["orchestrator"])
	}
	return f
}

// probeRoutes are the paths a real QLP service answers without
// credentials: httpx.Probes mounted on a mux, as every service does.
func probeRoute(t *testing.T, path string) bool {
	t.Helper()
	mux := http.NewServeMux()
	httpx.NewProbes("test", "test").Mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code == http.StatusOK
}

func component(labels map[string]string) string { return labels["app.kubernetes.io/component"] }

func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// podEnv is the environment a container of a rendered pod gets: the
// ConfigMap, the Secret (given values, since an existing Secret is not in
// the chart) and its own env entries. Values from the downward API are
// marked as such.
func podEnv(t *testing.T, m *manifests, c corev1.Container, secretValues map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := m.configMaps[ef.ConfigMapRef.Name]
			if !ok {
				t.Fatalf("container %s: ConfigMap %s is not in the chart", c.Name, ef.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				env[k] = v
			}
		case ef.SecretRef != nil:
			if s, ok := m.secrets[ef.SecretRef.Name]; ok {
				for k, v := range s.StringData {
					env[k] = v
				}
			} else {
				for k, v := range secretValues {
					env[k] = v
				}
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			env[e.Name] = "(downward API)"
			continue
		}
		env[e.Name] = e.Value
	}
	return env
}

// checkEnvNames: every variable the chart sets is a documented QLP setting
// (docs/configuration.md) that the binary knows, or GOMEMLIMIT or HOME.
func checkEnvNames(t *testing.T, where string, env map[string]string, f qlpFacts) {
	t.Helper()
	doc := readFile(t, "../docs/configuration.md")
	known := envNames(f.dump)
	for name := range env {
		if name == "GOMEMLIMIT" || name == "HOME" {
			continue
		}
		if !known[name] {
			t.Errorf("%s: %s is not a setting of qlp (qlp config dump)", where, name)
		}
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("%s: %s is not in docs/configuration.md", where, name)
		}
	}
}

// checkLoads: QLP's own configuration loader accepts the environment and
// the core validation passes, as `qlp serve` would at start-up.
func checkLoads(t *testing.T, where string, env map[string]string) {
	t.Helper()
	lookup := func(k string) (string, bool) {
		v, ok := env[k]
		if v == "(downward API)" {
			return "", false
		}
		return v, ok
	}
	cfg, err := config.Load(config.Source{Environ: lookup})
	if err != nil {
		t.Errorf("%s: qlp cannot load this environment: %v", where, err)
		return
	}
	if err := cfg.ValidateCore(); err != nil {
		t.Errorf("%s: qlp refuses this configuration: %v", where, err)
	}
}

// testSecret stands for the existing Secret the ci values name.
var testSecret = map[string]string{
	"QLP_DATABASE_URL":  "postgres://qlp@postgres:5432/qlp?sslmode=require",
	"QLP_SERVICE_TOKEN": "test-token",
	"QLP_LLM_API_KEY":   "test-key",
}

func checkContainerBasics(t *testing.T, where string, spec corev1.PodSpec, m *manifests, sa string) corev1.Container {
	t.Helper()
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "qlp" {
		t.Fatalf("%s: want one container named qlp (the alerts select container=\"qlp\")", where)
	}
	c := spec.Containers[0]
	if !strings.HasPrefix(c.Image, "ghcr.io/quantumlayer/qlp:") {
		t.Errorf("%s: image %s", where, c.Image)
	}
	if spec.ServiceAccountName != sa {
		t.Errorf("%s: service account %q, want %q", where, spec.ServiceAccountName, sa)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a service account token; QLP does not call the Kubernetes API", where)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if c.Resources.Requests.Name(r, "").IsZero() || c.Resources.Limits.Name(r, "").IsZero() {
			t.Errorf("%s: no %s request or limit", where, r)
		}
	}
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm.MountPath
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	for name := range mounts {
		if _, ok := volumes[name]; !ok {
			t.Errorf("%s: mounts volume %s, which the pod does not have", where, name)
		}
	}
	var dataDir string
	for _, e := range c.Env {
		if e.Name == "QLP_DATA_DIR" {
			dataDir = e.Value
		}
	}
	if dataDir == "" || mounts["data"] != dataDir {
		t.Errorf("%s: QLP_DATA_DIR %q is not the data volume's mount %q", where, dataDir, mounts["data"])
	}
	if mounts["tmp"] != "/tmp" {
		t.Errorf("%s: no writable /tmp", where)
	}
	return c
}

func TestHelmSingle(t *testing.T) {
	f := facts(t)
	m := renderMode(t, "single")
	if len(m.deployments) != 1 {
		t.Fatalf("single mode: %d Deployments, want 1", len(m.deployments))
	}
	var d *appsv1.Deployment
	for _, x := range m.deployments {
		d = x
	}
	where := "Deployment " + d.Name
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("%s: want 1 replica replaced by Recreate (one process owns the embedded Temporal and the RWO volume)", where)
	}
	if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("%s: selector does not select its own pods", where)
	}
	c := checkContainerBasics(t, where, d.Spec.Template.Spec, m, "qlp")
	if strings.Join(c.Args, " ") != "up" {
		t.Errorf("%s: args %q, want [up]", where, c.Args)
	}
	// The data volume is the claim.
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "data" && (v.PersistentVolumeClaim == nil || m.claims[v.PersistentVolumeClaim.ClaimName] == nil) {
			t.Errorf("%s: the data volume is not the chart's PersistentVolumeClaim", where)
		}
	}
	// `qlp up` serves every HTTP target: one named port each, on the
	// binary's port, with its listen address on all interfaces.
	env := podEnv(t, m, c, nil)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for target, port := range f.ports {
		if ports[target] != int32(port) {
			t.Errorf("%s: port %s = %d, want %d", where, target, ports[target], port)
		}
		if env[f.addrEnv[target]] != fmt.Sprintf("0.0.0.0:%d", port) {
			t.Errorf("%s: %s = %q", where, f.addrEnv[target], env[f.addrEnv[target]])
		}
	}
	if len(ports) != len(f.ports) {
		t.Errorf("%s: ports %v, binary serves %v", where, ports, f.ports)
	}
	checkProbes(t, where, c, "orchestrator")
	checkEnvNames(t, where, env, f)
	checkLoads(t, where, env)
	// One Service with every port, selecting the pod.
	if len(m.services) != 1 {
		t.Fatalf("single mode: %d Services", len(m.services))
	}
	for _, s := range m.services {
		if !selects(s.Spec.Selector, d.Spec.Template.Labels) || len(s.Spec.Ports) != len(f.ports) {
			t.Errorf("Service %s: selector %v, %d ports", s.Name, s.Spec.Selector, len(s.Spec.Ports))
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.StrVal != p.Name || ports[p.Name] != p.Port {
				t.Errorf("Service %s: port %s %d -> %s", s.Name, p.Name, p.Port, p.TargetPort.String())
			}
		}
	}
	// The sandbox runs in this pod.
	checkSandboxSecurity(t, where, d.Spec.Template.Spec, true)
	if len(m.jobs) != 0 {
		t.Errorf("single mode migrates at start-up; no Job expected")
	}
	if len(m.policies) != 1 {
		t.Errorf("single mode: %d NetworkPolicies, want 1", len(m.policies))
	}
	// Clients reach the public ports (the API and the Agent Factory);
	// Prometheus every port.
	for name, np := range m.policies {
		for i, r := range np.Spec.Ingress {
			var opened []string
			for _, p := range r.Ports {
				opened = append(opened, p.Port.StrVal)
			}
			sort.Strings(opened)
			monitoring := len(r.From) == 1 && r.From[0].NamespaceSelector != nil &&
				r.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "qlp-monitoring"
			want := "agents,orchestrator"
			if monitoring {
				want = strings.Join(keysOfInt(f.ports), ",")
			}
			if len(r.From) == 0 || strings.Join(opened, ",") != want {
				t.Errorf("NetworkPolicy %s: rule %d (from %d peers) opens %v, want %s", name, i, len(r.From), opened, want)
			}
		}
	}
	for _, s := range m.secrets {
		if s.StringData["QLP_LLM_API_KEY"] != "placeholder-not-a-key" || len(s.StringData) != 1 {
			t.Errorf("Secret %s: %v (empty values must be left out)", s.Name, keysOf(s.StringData))
		}
	}
}

func keysOfInt(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func checkProbes(t *testing.T, where string, c corev1.Container, port string) {
	t.Helper()
	probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
	want := map[string]string{"startup": "/healthz", "liveness": "/healthz", "readiness": "/readyz"}
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", where, kind)
			continue
		}
		if p.HTTPGet.Path != want[kind] || p.HTTPGet.Port.StrVal != port {
			t.Errorf("%s: %s probe %s on port %s, want %s on %s", where, kind, p.HTTPGet.Path, p.HTTPGet.Port.String(), want[kind], port)
		}
		if !probeRoute(t, p.HTTPGet.Path) {
			t.Errorf("%s: %s probe path %s is not served by QLP's probes", where, kind, p.HTTPGet.Path)
		}
		declared := false
		for _, cp := range c.Ports {
			declared = declared || cp.Name == p.HTTPGet.Port.StrVal
		}
		if !declared {
			t.Errorf("%s: %s probe uses port %s, which the container does not declare", where, kind, p.HTTPGet.Port.String())
		}
	}
	// /readyz runs the checks with a 3 s timeout (httpx.Probes.Ready).
	if c.ReadinessProbe != nil && c.ReadinessProbe.TimeoutSeconds <= 3 {
		t.Errorf("%s: readiness timeout %ds, but /readyz may take 3 s", where, c.ReadinessProbe.TimeoutSeconds)
	}
}

func checkSandboxSecurity(t *testing.T, where string, spec corev1.PodSpec, sandbox bool) {
	t.Helper()
	sc := spec.Containers[0].SecurityContext
	psc := spec.SecurityContext
	if sc == nil || psc == nil {
		t.Fatalf("%s: no security context", where)
	}
	privileged := sc.Privileged != nil && *sc.Privileged
	if sandbox != privileged {
		t.Errorf("%s: privileged %v, want %v (only the sandbox needs it for bubblewrap)", where, privileged, sandbox)
	}
	if !sandbox {
		if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || len(sc.Capabilities.Drop) == 0 || psc.SeccompProfile == nil {
			t.Errorf("%s: want non-root, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp", where)
		}
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: root file system is writable", where)
	}
}

// The resources of the deployment strategy (orchestrator; the Agent Factory's
// for agents and for the worker, where a job's agents run) and of the
// earlier AKS manifests.
var wantResources = map[string][4]string{
	"orchestrator": {"250m", "512Mi", "1", "2Gi"},
	"agents":       {"500m", "1Gi", "2", "4Gi"},
	"worker":       {"500m", "1Gi", "2", "4Gi"},
	"memory":       {"500m", "1Gi", "1", "2Gi"},
	"validation":   {"500m", "1Gi", "1", "2Gi"},
	"sandbox":      {"1", "2Gi", "2", "4Gi"},
	// The strategy names the marketing worker without sizing it: model
	// calls and webhooks, light on CPU.
	"marketing": {"100m", "256Mi", "500m", "1Gi"},
}

func TestHelmDistributed(t *testing.T) {
	f := facts(t)
	m := renderMode(t, "distributed")
	byTarget := map[string]*appsv1.Deployment{}
	for name, d := range m.deployments {
		target := component(d.Labels)
		if target == "" || name != "qlp-"+target {
			t.Errorf("Deployment %s: component label %q", name, target)
		}
		byTarget[target] = d
	}
	// Every target of the binary has its Deployment, and every Deployment
	// runs a target of the binary.
	for _, target := range f.targets {
		if byTarget[target] == nil {
			t.Errorf("qlp serve %s has no Deployment", target)
		}
	}
	for target := range byTarget {
		if !contains(f.targets, target) {
			t.Errorf("Deployment for %s, which qlp serve does not accept (%v)", target, f.targets)
		}
	}
	// The image of the ServiceAccount all pods use is the chart's.
	if len(m.accounts) != 1 || m.accounts["qlp"] == nil {
		t.Fatalf("ServiceAccounts %v", m.accounts)
	}
	signing := ""
	for target, d := range byTarget {
		where := "Deployment " + d.Name
		if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("%s: selector does not select its own pods", where)
		}
		c := checkContainerBasics(t, where, d.Spec.Template.Spec, m, "qlp")
		if strings.Join(c.Args, " ") != "serve "+target {
			t.Errorf("%s: args %q, want [serve %s]", where, c.Args, target)
		}
		// Resources.
		want := wantResources[target]
		got := [4]string{c.Resources.Requests.Cpu().String(), c.Resources.Requests.Memory().String(),
			c.Resources.Limits.Cpu().String(), c.Resources.Limits.Memory().String()}
		if got != want {
			t.Errorf("%s: resources %v, want %v", where, got, want)
		}
		env := podEnv(t, m, c, testSecret)
		checkEnvNames(t, where, env, f)
		checkLoads(t, where, env)
		if env["QLP_TEMPORAL_ADDRESS"] == "" || env["QLP_DATABASE_URL"] == "" || env["QLP_SERVICE_TOKEN"] == "" {
			t.Errorf("%s: split mode needs QLP_TEMPORAL_ADDRESS, QLP_DATABASE_URL and QLP_SERVICE_TOKEN", where)
		}
		// Ports and probes: every target serves HTTP (the worker only its
		// probes and /metrics), so every one is probed and has a Service
		// (Prometheus finds the pods by port name; the Service is for callers).
		port, serves := f.ports[target]
		if !serves {
			t.Fatalf("%s: the binary names no port for %s", where, target)
		}
		if len(c.Ports) != 1 || c.Ports[0].Name != target || c.Ports[0].ContainerPort != int32(port) {
			t.Errorf("%s: ports %v, want %s:%d", where, c.Ports, target, port)
		}
		if env[f.addrEnv[target]] != fmt.Sprintf("0.0.0.0:%d", port) {
			t.Errorf("%s: %s = %q", where, f.addrEnv[target], env[f.addrEnv[target]])
		}
		checkProbes(t, where, c, target)
		svc := m.services["qlp-"+target]
		if svc == nil || !selects(svc.Spec.Selector, d.Spec.Template.Labels) || len(svc.Spec.Ports) != 1 ||
			svc.Spec.Ports[0].Port != int32(port) || svc.Spec.Ports[0].TargetPort.StrVal != target {
			t.Errorf("%s: no Service qlp-%s on port %d selecting it", where, target, port)
		}
		// Service URLs point at the chart's Services on the right ports.
		for _, e := range c.Env {
			if !strings.HasSuffix(e.Name, "_URL") {
				continue
			}
			for dep, u := range f.urlEnv {
				if e.Name == u && e.Value != fmt.Sprintf("http://qlp-%s:%d", dep, f.ports[dep]) {
					t.Errorf("%s: %s = %s", where, e.Name, e.Value)
				}
			}
		}
		// The worker reaches memory and validation (which runs the sandbox)
		// in their pods.
		if target == "worker" {
			for _, dep := range []string{"memory", "validation"} {
				if env[f.urlEnv[dep]] == "" {
					t.Errorf("%s: %s not set: the worker would run %s in-process", where, f.urlEnv[dep], dep)
				}
			}
		}
		if target == "memory" && env["QLP_MEMORY_URL"] != "" {
			t.Errorf("%s: QLP_MEMORY_URL set on the memory service itself", where)
		}
		// The Agent Factory calls no other service: it needs only the
		// database and the LLM settings, which every pod gets.
		if target == "agents" {
			for _, e := range c.Env {
				if strings.HasSuffix(e.Name, "_URL") {
					t.Errorf("%s: %s set; the Agent Factory calls no other service", where, e.Name)
				}
			}
			if env["QLP_LLM_PROVIDER"] == "" {
				t.Errorf("%s: no QLP_LLM_PROVIDER; qlp serve agents refuses to start without LLM settings", where)
			}
		}
		// The same signing key on every pod, at DATA_DIR/keys.
		key := ""
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret != nil && v.Name == "signing-key" {
				key = v.Secret.SecretName
				if len(v.Secret.Items) != 1 || v.Secret.Items[0].Path != "capsule-signing.pem" {
					t.Errorf("%s: signing key items %v", where, v.Secret.Items)
				}
			}
		}
		for _, vm := range c.VolumeMounts {
			if vm.Name == "signing-key" && (vm.MountPath != env["QLP_DATA_DIR"]+"/keys" || !vm.ReadOnly) {
				t.Errorf("%s: signing key mounted at %s", where, vm.MountPath)
			}
		}
		if key == "" || (signing != "" && key != signing) {
			t.Errorf("%s: signing key Secret %q, others use %q", where, key, signing)
		}
		signing = key
		checkSandboxSecurity(t, where, d.Spec.Template.Spec, target == "sandbox")
		// A PodDisruptionBudget for each target.
		pdb := m.pdbs["qlp-"+target]
		if pdb == nil || !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) || pdb.Spec.MaxUnavailable == nil {
			t.Errorf("%s: no PodDisruptionBudget selecting it", where)
		}
		// Every pod is selected by a NetworkPolicy.
		covered := false
		for _, np := range m.policies {
			covered = covered || selects(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels)
		}
		if !covered {
			t.Errorf("%s: no NetworkPolicy selects it", where)
		}
	}
	// HPAs for the API and the workers, scaling existing Deployments.
	for _, target := range []string{"orchestrator", "worker"} {
		h := m.hpas["qlp-"+target]
		if h == nil || h.Spec.ScaleTargetRef.Kind != "Deployment" || m.deployments[h.Spec.ScaleTargetRef.Name] == nil {
			t.Errorf("no HorizontalPodAutoscaler for %s", target)
		} else if m.deployments[h.Spec.ScaleTargetRef.Name].Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas although an HPA scales it (every upgrade would reset them)", h.Spec.ScaleTargetRef.Name)
		}
	}
	checkPolicies(t, m)
	// The sandbox talks to nobody; its one caller is the validation mesh.
	sp := m.policies["qlp-sandbox"]
	if sp == nil || !contains(policyTypes(sp), "Egress") || len(sp.Spec.Egress) != 0 {
		t.Errorf("the sandbox's NetworkPolicy must deny all egress")
	} else {
		var callers []string
		for _, r := range sp.Spec.Ingress {
			for _, p := range r.From {
				if p.PodSelector != nil {
					callers = append(callers, component(p.PodSelector.MatchLabels))
				}
			}
		}
		sort.Strings(callers)
		if strings.Join(callers, ",") != "validation" {
			t.Errorf("sandbox callers %v, want validation", callers)
		}
	}
	// The migration: `qlp migrate` before install and upgrade, with the same
	// configuration as the servers, from a ConfigMap and Secret that exist by
	// then (hooks of an earlier weight).
	job := m.jobs["qlp-migrate"]
	if job == nil {
		t.Fatal("no migration Job")
	}
	if job.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" || strings.Join(job.Spec.Template.Spec.Containers[0].Args, " ") != "migrate" {
		t.Errorf("migration Job: hook %q, args %v", job.Annotations["helm.sh/hook"], job.Spec.Template.Spec.Containers[0].Args)
	}
	jobWeight, _ := strconv.Atoi(job.Annotations["helm.sh/hook-weight"])
	for _, cm := range m.configMaps {
		w, _ := strconv.Atoi(cm.Annotations["helm.sh/hook-weight"])
		if !strings.Contains(cm.Annotations["helm.sh/hook"], "pre-install") || w >= jobWeight {
			t.Errorf("ConfigMap %s is not created before the migration hook", cm.Name)
		}
	}
	jc := job.Spec.Template.Spec.Containers[0]
	checkLoads(t, "migration Job", podEnv(t, m, jc, testSecret))
	if len(m.ingresses) != 1 {
		t.Errorf("ingress enabled in ci values: %d Ingresses", len(m.ingresses))
	}
	for _, in := range m.ingresses {
		b := in.Spec.Rules[0].HTTP.Paths[0].Backend.Service
		if s := m.services[b.Name]; s == nil || s.Spec.Ports[0].Name != b.Port.Name {
			t.Errorf("Ingress %s: backend %s:%s is not a Service port", in.Name, b.Name, b.Port.Name)
		}
		if in.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"] != "1m" {
			t.Errorf("Ingress: body size %q, want QLP's 1m", in.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"])
		}
	}
	if !strings.Contains(m.notes, "qlp-orchestrator") {
		t.Errorf("NOTES.txt: %s", m.notes)
	}
}

// publicTargets take requests from clients with tenant keys (through the
// ingress controller or from inside the namespace); every other target only
// from the targets that call it, and all of them from Prometheus.
var publicTargets = map[string]bool{"orchestrator": true, "agents": true}

// checkPolicies: no ingress rule of a distributed NetworkPolicy lets
// everyone in (a rule without `from` allows every source), the public
// targets admit the ingress namespace and their own namespace on their
// port, the others only their callers and Prometheus.
func checkPolicies(t *testing.T, m *manifests) {
	t.Helper()
	for name, np := range m.policies {
		target := component(np.Labels)
		sources := map[string]bool{} // "ns:<name>", "namespace", "<component>"
		for i, r := range np.Spec.Ingress {
			if len(r.From) == 0 {
				t.Errorf("NetworkPolicy %s: ingress rule %d has no from: it admits every source", name, i)
			}
			for _, p := range r.Ports {
				if p.Port == nil || p.Port.StrVal != target {
					t.Errorf("NetworkPolicy %s: rule %d opens port %v, want only %s", name, i, p.Port, target)
				}
			}
			for _, peer := range r.From {
				switch {
				case peer.NamespaceSelector != nil:
					sources["ns:"+peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]] = true
				case peer.PodSelector != nil && len(peer.PodSelector.MatchLabels) == 0:
					sources["namespace"] = true
				case peer.PodSelector != nil:
					sources[component(peer.PodSelector.MatchLabels)] = true
				}
			}
		}
		if !sources["ns:qlp-monitoring"] {
			t.Errorf("NetworkPolicy %s: Prometheus (qlp-monitoring) may not scrape %s", name, target)
		}
		if publicTargets[target] != (sources["ns:qlp-ingress"] && sources["namespace"]) {
			t.Errorf("NetworkPolicy %s: sources %v; public %v", name, keys(sources), publicTargets[target])
		}
		if target == "worker" && len(sources) != 1 {
			t.Errorf("NetworkPolicy %s: the worker serves only probes and /metrics, yet admits %v", name, keys(sources))
		}
	}
}

func policyTypes(np *networkingv1.NetworkPolicy) []string {
	var out []string
	for _, p := range np.Spec.PolicyTypes {
		out = append(out, string(p))
	}
	return out
}

// TestHelmDistributedRequires: distributed mode refuses to render without
// what it cannot run without.
func TestHelmDistributedRequires(t *testing.T) {
	base := valuesFile(t, chartDir+"/ci/distributed-values.yaml")
	cases := []struct {
		name string
		over map[string]any
		want string
	}{
		{"no Temporal", map[string]any{"config": map[string]any{"QLP_TEMPORAL_ADDRESS": ""}}, "QLP_TEMPORAL_ADDRESS"},
		{"no signing key", map[string]any{"signingKey": map[string]any{"existingSecret": ""}}, "signingKey.existingSecret"},
		{"no database", map[string]any{"secrets": map[string]any{"create": true, "existingSecret": ""}}, "QLP_DATABASE_URL"},
		{"not a QLP setting", map[string]any{"config": map[string]any{"LOG_LEVEL": "info"}}, "only QLP_* settings"},
	}
	for _, c := range cases {
		_, err := renderChart(t, chartDir, base, c.over)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: render error %v, want one naming %s", c.name, err, c.want)
		}
	}
	// The chart's defaults render (single mode).
	if _, err := renderChart(t, chartDir); err != nil {
		t.Errorf("default values: %v", err)
	}
}

// TestHelmLint runs `helm lint --strict` on the chart with its default
// values, each CI values file and the AKS example.
func TestHelmLint(t *testing.T) {
	_, kubeVersion := kubeSchemas(t)
	for _, values := range []string{"", chartDir + "/ci/single-values.yaml", chartDir + "/ci/distributed-values.yaml", "helm/values-aks.example.yaml"} {
		name := filepath.Base(values)
		if values == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", "--namespace", "qlp-production", "--kube-version", kubeVersion, chartDir}
			if values != "" {
				args = append(args, "--values", values)
			}
			out, err := helmCmd(t, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(string(out), "0 chart(s) failed") {
				t.Fatalf("helm lint: %s", out)
			}
		})
	}
}

// TestSchemaCheckCatchesMistakes: the schema check is not a formality. Each
// of these objects decodes into Kubernetes' Go types, yet the API server
// would refuse it, and kubeconform must say so.
func TestSchemaCheckCatchesMistakes(t *testing.T) {
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers:
      - {name: qlp, image: "ghcr.io/quantumlayer/qlp:0.1.0"}
`
	tests := []struct{ name, doc, want string }{
		{"a container without its required name", strings.Replace(deployment, "name: qlp, ", "", 1), "name"},
		{"an unknown field", strings.Replace(deployment, "spec:\n  selector", "spec:\n  replica: 2\n  selector", 1), "replica"},
		{"a string where a number belongs", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: http}]\n", "port"},
		{"a Deployment without its required selector", strings.Replace(deployment, "  selector: {matchLabels: {app: x}}\n", "", 1), "selector"},
		{"an API version the cluster no longer serves", "apiVersion: autoscaling/v2beta1\nkind: HorizontalPodAutoscaler\nmetadata: {name: x}\nspec: {}\n", "schema"},
	}
	if res := kubeconform(t, deployment); res.Summary.Valid != 1 {
		t.Fatalf("the valid Deployment: %+v", res)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := kubeconform(t, tt.doc)
			if objs := res.objects(); res.Summary.Valid != 0 || len(objs) != 1 || !strings.Contains(objs[0].Msg, tt.want) {
				t.Fatalf("kubeconform did not refuse it for %q: %+v", tt.want, res)
			}
		})
	}
}

// TestHelmTargetsTable: the chart's table of targets (templates/_helpers.tpl)
// says what the binary says about ports and settings.
func TestHelmTargetsTable(t *testing.T) {
	f := facts(t)
	src := readFile(t, chartDir+"/templates/_helpers.tpl")
	m := regexp.MustCompile(`(?s)define "qlp.targets" -\}\}\n(.*?)\{\{- end`).FindStringSubmatch(src)
	if m == nil {
		t.Fatal("no qlp.targets in _helpers.tpl")
	}
	var table map[string]struct {
		Port    int    `json:"port"`
		AddrEnv string `json:"addrEnv"`
		URLEnv  string `json:"urlEnv"`
	}
	if err := yaml.UnmarshalStrict([]byte(m[1]), &table); err != nil {
		t.Fatal(err)
	}
	for _, target := range f.targets {
		if _, ok := table[target]; !ok {
			t.Errorf("target %s missing from qlp.targets", target)
		}
	}
	for target, row := range table {
		if !contains(f.targets, target) {
			t.Errorf("qlp.targets lists %s, which qlp serve does not accept", target)
		}
		if row.Port != f.ports[target] || row.AddrEnv != f.addrEnv[target] || row.URLEnv != f.urlEnv[target] {
			t.Errorf("qlp.targets %s: %+v, binary: port %d, %q, %q", target, row, f.ports[target], f.addrEnv[target], f.urlEnv[target])
		}
	}
}

// TestHelmMigrationJobRuns runs the migration Job's command with the Job's
// environment against the real PostgreSQL of the test services.
func TestHelmMigrationJobRuns(t *testing.T) {
	dbURL := os.Getenv("QLP_TEST_POSTGRES_URL")
	if dbURL == "" {
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("QLP_TEST_POSTGRES_URL is not set (QLP_TEST_REQUIRE_SERVICES=1)")
		}
		t.Skip("QLP_TEST_POSTGRES_URL is not set; run make test")
	}
	m := renderMode(t, "distributed")
	job := m.jobs["qlp-migrate"]
	c := job.Spec.Template.Spec.Containers[0]
	secret := map[string]string{"QLP_DATABASE_URL": dbURL, "QLP_SERVICE_TOKEN": "t"}
	env := podEnv(t, m, c, secret)
	for _, k := range []string{"QLP_DATABASE_URL", "QLP_SERVICE_TOKEN", "QLP_TEMPORAL_ADDRESS", "QLP_LLM_PROVIDER", "QLP_LOG_FORMAT"} {
		if v, ok := env[k]; ok {
			t.Setenv(k, v)
		}
	}
	t.Setenv("QLP_DATA_DIR", t.TempDir()) // the Job's emptyDir
	var out, errb strings.Builder
	code := cli.Execute(context.Background(), "test", c.Args, &out, &errb)
	if code != 0 {
		t.Fatalf("qlp %v: exit %d: %s", c.Args, code, errb.String())
	}
	if !strings.Contains(out.String(), "postgres store at schema version") {
		t.Errorf("qlp migrate printed %q", out.String())
	}
}

// TestHelmAKSExample renders the AKS example values: the sandbox lands on
// the tainted pool Terraform creates, and every pod's configuration loads.
func TestHelmAKSExample(t *testing.T) {
	f := facts(t)
	m := render(t, valuesFile(t, "helm/values-aks.example.yaml"))
	if len(m.deployments) < len(f.targets) {
		t.Fatalf("%d Deployments", len(m.deployments))
	}
	tf := readFile(t, "terraform/azure/main.tf")
	for _, d := range m.deployments {
		spec := d.Spec.Template.Spec
		c := spec.Containers[0]
		env := podEnv(t, m, c, testSecret)
		checkEnvNames(t, "AKS "+d.Name, env, f)
		checkLoads(t, "AKS "+d.Name, env)
		if !strings.HasPrefix(c.Image, "qlpregistry.azurecr.io/qlp:") || !strings.Contains(tf, `"${var.prefix}registry"`) {
			t.Errorf("%s: image %s is not from the registry Terraform creates", d.Name, c.Image)
		}
		if component(d.Labels) != "sandbox" {
			continue
		}
		if spec.NodeSelector["qlp.dev/pool"] != "sandbox" || len(spec.Tolerations) != 1 || spec.Tolerations[0].Key != "qlp.dev/sandbox" {
			t.Errorf("%s: not scheduled on the sandbox pool: %v %v", d.Name, spec.NodeSelector, spec.Tolerations)
		}
		if !strings.Contains(tf, `"qlp.dev/pool" = "sandbox"`) || !strings.Contains(tf, `"qlp.dev/sandbox=true:NoSchedule"`) {
			t.Error("terraform/azure/main.tf no longer labels and taints the sandbox pool as the example expects")
		}
	}
}

// TestHelmTracing: the otel values become the standard OTEL_* variables of
// every container, and nothing is set while the endpoint is empty.
func TestHelmTracing(t *testing.T) {
	tests := []struct {
		name string
		otel map[string]any
		want map[string]string // "" = absent
	}{
		{"off by default", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_TRACES_SAMPLER": ""}},
		{"to a collector", map[string]any{"endpoint": "http://otel-collector.observability:4318", "sampler": "parentbased_traceidratio", "samplerArg": 0.25},
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
				"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}},
		{"over gRPC", map[string]any{"endpoint": "otel-collector:4317", "protocol": "grpc"},
			map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_TRACES_SAMPLER": "parentbased_always_on", "OTEL_TRACES_SAMPLER_ARG": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m *manifests
			if tc.otel == nil {
				m = render(t)
			} else {
				m = render(t, map[string]any{"otel": tc.otel})
			}
			for _, d := range m.deployments {
				for _, c := range d.Spec.Template.Spec.Containers {
					env := podEnv(t, m, c, nil)
					for k, want := range tc.want {
						if got := env[k]; got != want {
							t.Errorf("Deployment %s container %s: %s=%q, want %q", d.Name, c.Name, k, got, want)
						}
					}
				}
			}
		})
	}
}
