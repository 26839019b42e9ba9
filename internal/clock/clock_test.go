package clock

import (
	"context"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func TestFakeTimerFiresOnlyWhenAdvancedPastDeadline(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Second)
	f.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("timer fired before its deadline")
	default:
	}
	f.Advance(time.Millisecond)
	select {
	case at := <-tm.C():
		if !at.Equal(t0.Add(time.Second)) {
			t.Fatalf("fired at %v, want %v", at, t0.Add(time.Second))
		}
	default:
		t.Fatal("timer did not fire at its deadline")
	}
	if f.Waiters() != 0 {
		t.Fatalf("a fired timer is still armed: %d waiters", f.Waiters())
	}
}

func TestFakeTimerStopAndReset(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of an armed timer reported false")
	}
	f.Advance(2 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a stopped timer reported it was armed")
	}
	f.Advance(time.Second)
	select {
	case <-tm.C():
	default:
		t.Fatal("a reset timer did not fire")
	}
}

func TestFakeTickerDropsUnreadTicks(t *testing.T) {
	f := NewFake(t0)
	tk := f.NewTicker(time.Second)
	defer tk.Stop()
	f.Advance(5 * time.Second)
	n := 0
	for {
		select {
		case <-tk.C():
			n++
			continue
		default:
		}
		break
	}
	if n != 1 {
		t.Fatalf("got %d ticks queued after 5 periods unread, want 1 (like time.Ticker)", n)
	}
	f.Advance(time.Second)
	select {
	case at := <-tk.C():
		if !at.Equal(t0.Add(6 * time.Second)) {
			t.Fatalf("tick at %v, want %v", at, t0.Add(6*time.Second))
		}
	default:
		t.Fatal("ticker stopped ticking")
	}
}

func TestFakeFiresInDeadlineOrder(t *testing.T) {
	f := NewFake(t0)
	late := f.NewTimer(3 * time.Second)
	early := f.NewTimer(time.Second)
	f.Advance(2 * time.Second)
	select {
	case <-early.C():
	default:
		t.Fatal("early timer did not fire")
	}
	select {
	case <-late.C():
		t.Fatal("late timer fired early")
	default:
	}
	if got := f.Now(); !got.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("Now = %v after Advance(2s)", got)
	}
}

func TestEveryRunsOncePerPeriod(t *testing.T) {
	f := NewFake(t0)
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan time.Time)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, f, time.Minute, func(now time.Time) { calls <- now })
	}()
	for i := 1; i <= 3; i++ {
		f.WaitForWaiters(1)
		f.Advance(time.Minute)
		if at := <-calls; !at.Equal(t0.Add(time.Duration(i) * time.Minute)) {
			t.Fatalf("call %d at %v", i, at)
		}
	}
	cancel()
	<-done
}

func TestSleepEndsWithContext(t *testing.T) {
	f := NewFake(t0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- Sleep(ctx, f, time.Hour) }()
	f.WaitForWaiters(1)
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
	go func() { errc <- Sleep(context.Background(), f, time.Hour) }()
	f.WaitForWaiters(1)
	f.Advance(time.Hour)
	if err := <-errc; err != nil {
		t.Fatalf("Sleep = %v after the hour passed", err)
	}
}
