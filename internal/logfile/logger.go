package logfile

import (
	"io"
	"log/slog"
)

// NewLogger is our diagnostics' logger on w: format "json" or text (any
// other), level one of debug, info, warn, error (an unknown one is info).
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
