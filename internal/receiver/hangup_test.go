package receiver

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestServeEndsWhenTheSenderHangsUp: sshd does not kill a forced command
// whose client died, it only closes the pipes; a session that is waiting
// (here for a hello that never comes) must notice that its output has no
// reader any more and end, instead of waiting for its hello timeout.
func TestServeEndsWhenTheSenderHangsUp(t *testing.T) {
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inR.Close()
	defer inW.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outW.Close()
	done := make(chan error, 1)
	go func() {
		done <- Serve(context.Background(), inR, outW, Options{Path: filepath.Join(t.TempDir(), "f.log"),
			HelloTimeout: time.Hour, Logger: testLogger(t)})
	}()
	outR.Close() // the client is gone; stdin stays open, as sshd leaves it
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after a hang-up: %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve still runs 30 s after its output lost its reader (hang)")
	}
}
