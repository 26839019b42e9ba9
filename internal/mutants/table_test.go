package mutants

// site is one place a fault can be put: in file (relative to the module
// root), old must occur exactly once and is replaced by new.
type site struct {
	file, old, new string
}

// check is a package's tests that must catch a mutant; run is a list of
// test names joined by "|". An end-to-end check (slow) only runs from
// scripts/mutants.sh.
type check struct {
	pkg, run string
	slow     bool
}

// mutant is one deliberate fault. Its sites are alternatives, tried in
// order: the first whose snippet is in the tree is used (code being moved
// between packages may be found at either place); none found fails.
type mutant struct {
	name   string
	fault  string
	sites  []site
	checks []check
}

// mutants are the faults the suite must catch.
var mutants = []mutant{
	{
		name:  "receive-acks-before-fsync",
		fault: "receive acknowledges what it wrote, not what is fsynced",
		sites: []site{{"internal/receiver/file.go",
			"	return a.stream, a.synced\n",
			"	return a.stream, a.pos\n"}},
		checks: []check{{pkg: "./internal/receiver", run: "TestAcksOnlyWhatIsOnDisk"}},
	},
	{
		name:  "sender-no-rewind",
		fault: "the sender does not rewind to the receiver's offset after a reconnect",
		sites: []site{{"internal/push/sender.go",
			"		s.d.ack(s.sent)\n		s.d.consumer.Rewind(s.sent)\n",
			"		s.d.ack(s.sent)\n"}},
		checks: []check{
			{pkg: "./internal/push", run: "TestSenderResendsWhatWasNotAcknowledged"},
			{pkg: "./e2e", run: "TestReliableSSHKilled", slow: true},
		},
	},
	{
		name:  "spool-drop-without-gap",
		fault: "the spool drops its oldest segment at the bound without a gap notice",
		sites: []site{{"internal/spool/spool.go",
			"				c.gapLines += n\n				c.gapBytes += g.end() - max(c.read, g.start)\n",
			"				_ = n\n"}},
		checks: []check{
			{pkg: "./internal/spool", run: "TestBoundDropsOldestAndReportsGap"},
			{pkg: "./internal/push", run: "TestSenderGapNoticeCountsDroppedLines"},
			{pkg: "./e2e", run: "TestSpoolBoundMarker|TestReliableSpoolBound", slow: true},
		},
	},
	{
		name:  "pull-cursor-before-data",
		fault: "pull saves the cursor before it writes the data",
		sites: []site{
			// The engine in internal/pull.
			{"internal/pull/sink.go",
				"	now, rest := s.fit(f)\n	n, err := s.put(now.Data)\n",
				"	now, rest := s.fit(f)\n	if now.Type != 0 {\n		s.cursor, s.dirty = now.Cursor, true\n		if err := s.saveLocked(true); err != nil {\n			return 0, f, err\n		}\n	}\n	n, err := s.put(now.Data)\n"},
			// Before the engine moved out of cmd.
			{"cmd/sshlogfwd/pull.go",
				"		if err := s.write(f.Data); err != nil {\n			return 0, err\n		}\n",
				"		s.cursor, s.dirty = f.Cursor, true\n		if err := s.saveLocked(true); err != nil {\n			return 0, err\n		}\n		if err := s.write(f.Data); err != nil {\n			return 0, err\n		}\n"},
		},
		// The end-to-end test runs through the spliced path (the next
		// mutant) now; frames read into memory are caught here.
		checks: []check{
			{pkg: "./internal/pull", run: "TestCrashBetweenWriteAndSave"},
		},
	},
	{
		name:  "pull-piped-cursor-before-data",
		fault: "pull saves the cursor before it splices a payload into the output",
		sites: []site{{"internal/pull/sink.go",
			"	s.warnGap(f, n)\n	s.writing.Store(true)\n	err := s.out.spliceIn(head, r, rest)\n",
			"	s.warnGap(f, n)\n	if f.Type == stream.Data {\n		s.cursor, s.dirty = f.Cursor, true\n		if err := s.saveLocked(true); err != nil {\n			return 0, err\n		}\n	}\n	s.writing.Store(true)\n	err := s.out.spliceIn(head, r, rest)\n"}},
		checks: []check{
			{pkg: "./internal/pull", run: "TestReliablePipedFrameCutByEnd"},
			{pkg: "./e2e", run: "TestPullRestartedKill9", slow: true},
		},
	},
	{
		name:  "tailer-skips-old-tail",
		fault: "serve's tailer leaves the old file's tail unread once a new file is at the name",
		sites: []site{{"internal/tailer/tailer.go",
			"	if size > c.off {\n		return nil, true, nil\n	}\n",
			"	if size > c.off && len(t.next) == 0 {\n		return nil, true, nil\n	}\n"}},
		// The end-to-end rotations do not catch it: there serve has read
		// the old file's tail before the new file gets data.
		checks: []check{{pkg: "./internal/tailer", run: "TestRenameRotation"}},
	},
	{
		name:  "fifo-rdonly",
		fault: "the FIFO is opened O_RDONLY: EOF whenever the last writer closes",
		sites: []site{{"internal/pipe/fifo.go",
			"os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0)",
			"os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)"}},
		checks: []check{
			{pkg: "./internal/pipe", run: "TestNoEOFWhenWritersLeave"},
			{pkg: "./e2e", run: "TestFIFONoBusyLoop", slow: true},
		},
	},
	{
		name:  "forcedcmd-second-path",
		fault: "a forced command's request may name the path twice",
		sites: []site{{"internal/forcedcmd/forcedcmd.go",
			`return fmt.Errorf("unexpected extra argument %q", w)`,
			`_ = w`}},
		checks: []check{
			{pkg: "./internal/forcedcmd", run: "TestParse"},
			{pkg: "./e2e", run: "TestReliableReceiveRefusesRequests", slow: true},
		},
	},
	{
		name:  "receive-races-logrotate-create",
		fault: "after a rotation receive creates the file at once instead of waiting for logrotate's create",
		sites: []site{{"internal/receiver/file.go",
			"	deadline := a.clock.Now().Add(recreateWait)\n",
			"	deadline := a.clock.Now()\n"}},
		checks: []check{
			{pkg: "./internal/receiver", run: "TestRotationWaitsForLogrotatesCreate|TestRotationWithoutCreate|TestStartWaitsForLogrotatesCreate"},
			{pkg: "./e2e", run: "TestReceiveLogrotate", slow: true},
		},
	},
	{
		name:  "authkeys-doubles-backslashes",
		fault: "authorized-key escapes backslashes in command=\"...\", which sshd keeps as they are",
		sites: []site{{"internal/authkeys/authkeys.go",
			"	return `\"` + strings.ReplaceAll(s, `\"`, `\\\"`) + `\"`, nil\n",
			"	return `\"` + strings.ReplaceAll(strings.ReplaceAll(s, `\\`, `\\\\`), `\"`, `\\\"`) + `\"`, nil\n"}},
		checks: []check{
			{pkg: "./internal/authkeys", run: "TestQuoteOption"},
			{pkg: "./e2e", run: "TestAuthorizedKeyReliableRoundTrip|TestAuthorizedKeyPushThroughSSHD", slow: true},
		},
	},
	{
		name:  "connect-gate-bypassed",
		fault: "compatible push writes into ssh before it is connected",
		sites: []site{{"internal/push/compat.go",
			"func (s *appendSession) ready() bool {\n",
			"func (s *appendSession) ready() bool {\n	return true\n"}},
		checks: []check{
			{pkg: "./internal/push", run: "TestAppendSessionWritesNothingBeforeConnected"},
			{pkg: "./e2e", run: "TestPushWritesNothingBeforeConnected", slow: true},
		},
	},
}
