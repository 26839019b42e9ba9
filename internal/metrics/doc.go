// Package metrics writes an engine's counters and gauges in the Prometheus
// text exposition format (version 0.0.4) to a file that is replaced
// atomically, for node_exporter's textfile collector: the watched host
// opens no port.
//
// The format is written here, not with github.com/prometheus/client_golang:
// that library doubled the static binary (5.6 MB to 10.1 MB, stripped)
// and brought eight modules (protobuf among them) for what is a few dozen
// lines of text. The tests check the output with the Prometheus parser
// (prometheus/common/expfmt), which only the tests import.
//
// Engines keep their own counters and hand a snapshot to Encode; they do
// not register anything.
package metrics
