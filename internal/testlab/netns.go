package testlab

import (
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
)

const ipPath = "/usr/sbin/ip"

var netnsSeq atomic.Int64

// CreateNetNS creates a network namespace with only loopback, up, and
// deletes it when the test ends. Its name is unique to this test process.
// Use it for SSHDOptions.NetNS and run clients in it with
// `ip netns exec NAME …`, or wire it to the test's namespace with a veth
// pair to cut the link later.
func CreateNetNS(t testing.TB) string {
	t.Helper()
	RequireBinary(t, ipPath)
	name := fmt.Sprintf("testlab-%d-%d", os.Getpid(), netnsSeq.Add(1))
	if out, err := exec.Command(ipPath, "netns", "add", name).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("create network namespace %s: %v\n%s", name, err, out)
		}
		t.Skipf("create network namespace %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(ipPath, "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete network namespace %s: %v\n%s", name, err, out)
		}
	})
	if out, err := exec.Command(ipPath, "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("network namespace %s: set lo up: %v\n%s", name, err, out)
	}
	return name
}
