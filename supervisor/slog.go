package supervisor

import (
	"context"
	"log/slog"
)

// SlogHook returns a hook, for WithHook, that logs every event to l:
// failures, panics (with their stack), stop timeouts and give-ups at
// level Error, restarts and dropped events at Warn, and starts, stops and
// exits at Info. Each record carries the child's path under "path" and the
// event's fields under snake-case keys ("err", "delay", "attempt", ...).
// A nil l means slog.Default().
func SlogHook(l *slog.Logger) func(Event) {
	if l == nil {
		l = slog.Default()
	}
	return func(ev Event) {
		level, msg, attrs := slogRecord(ev)
		l.LogAttrs(context.Background(), level, msg, append([]slog.Attr{slog.String("path", ev.Path())}, attrs...)...)
	}
}

func slogRecord(ev Event) (slog.Level, string, []slog.Attr) {
	switch e := ev.(type) {
	case ChildStarted:
		return slog.LevelInfo, "child started", []slog.Attr{slog.Int("restarts", e.Restarts)}
	case ChildExited:
		return slog.LevelInfo, "child exited", []slog.Attr{slog.Duration("ran", e.Ran)}
	case ChildStopped:
		return slog.LevelInfo, "child stopped", []slog.Attr{errAttr("cause", e.Cause), errAttr("err", e.Err)}
	case ChildFailed:
		return slog.LevelError, "child failed", []slog.Attr{errAttr("err", e.Err), slog.Duration("ran", e.Ran)}
	case ChildPanicked:
		return slog.LevelError, "child panicked", []slog.Attr{
			slog.Any("panic", e.PanicValue),
			slog.String("stack", string(e.Stack)),
			slog.Duration("ran", e.Ran),
		}
	case ChildRestarting:
		return slog.LevelWarn, "child restarting", []slog.Attr{
			errAttr("err", e.Err),
			slog.Duration("delay", e.Delay),
			slog.Int("attempt", e.Attempt),
		}
	case StopTimedOut:
		return slog.LevelError, "child did not stop in time and was left behind", []slog.Attr{slog.Duration("timeout", e.Timeout)}
	case GaveUp:
		return slog.LevelError, "supervisor gave up: restart intensity exceeded", []slog.Attr{
			slog.Int("max_restarts", e.MaxRestarts),
			slog.Duration("period", e.Period),
			errAttr("err", e.Err),
		}
	case AutoShutdownStarted:
		return slog.LevelInfo, "supervisor shutting down by itself", []slog.Attr{
			slog.String("trigger", e.Trigger),
			slog.String("mode", e.Mode.String()),
		}
	case EventsDropped:
		return slog.LevelWarn, "supervisor events dropped because a hook was slow", []slog.Attr{slog.Uint64("count", e.Count)}
	}
	return slog.LevelInfo, ev.String(), []slog.Attr{slog.String("type", ev.Type().String())}
}

// errAttr logs err's message, or nothing when err is nil.
func errAttr(key string, err error) slog.Attr {
	if err == nil {
		return slog.Attr{}
	}
	return slog.String(key, err.Error())
}
