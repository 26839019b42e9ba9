package bench

import (
	"context"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// BenchmarkSpoolPath is push's own data path without ssh: reads of
// arbitrary size (a FIFO read ends wherever the writer's data ends, mostly
// inside a line) go through the LineWriter into the spool, and a consumer
// takes 256 KiB batches out and acknowledges them, as push's session does.
// "caught-up" consumes while the data comes in; "behind" appends all of it
// first, so that everything past the memory budget goes through segment
// files, as when ssh is slower than the writer or the link is down.
func BenchmarkSpoolPath(b *testing.B) {
	const lines, size, readSize = 100_000, 124, 256<<10 - 1001
	data := streamLines(size).Range(0, lines)
	for _, name := range []string{"caught-up", "behind"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				sp, err := spool.Open(spool.Options{Dir: b.TempDir(), Max: 256 << 20})
				if err != nil {
					b.Fatal(err)
				}
				c := sp.Consumer("loghost:/x")
				lw := &spool.LineWriter{S: sp}
				consume := func() {
					for got := 0; got < len(data); {
						batch, err := c.Next(context.Background(), 256<<10)
						if err != nil {
							b.Error(err)
							return
						}
						got += len(batch.Data)
						c.Ack(batch.End)
					}
				}
				done := make(chan struct{})
				if name == "caught-up" {
					go func() { defer close(done); consume() }()
				}
				for off := 0; off < len(data); off += readSize {
					if _, err := lw.Write(data[off:min(off+readSize, len(data))]); err != nil {
						b.Fatal(err)
					}
				}
				if name == "behind" {
					go func() { defer close(done); consume() }()
				}
				<-done
				sp.Close()
			}
		})
	}
}
