// Package deploy holds mcpfed's deployment artifacts — the container image
// (Dockerfile), Kubernetes manifests (kubernetes/, kustomize), the Grafana
// dashboard (grafana/), Prometheus alert rules with their promtool unit
// tests (prometheus/) and a compose stack (compose/) — and the code that
// reads them back for tests: [Expressions] and [MetricNames] list what the
// dashboard and the rules query, so a test in cmd/mcpfed can prove that the
// binary exports every metric they use.
package deploy
