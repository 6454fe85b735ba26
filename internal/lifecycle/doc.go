// Package lifecycle runs a connector service the way a container platform
// expects of a process: the first SIGTERM or SIGINT drains it within a
// deadline and the process exits 0, a second signal forces the stop, and
// the exit status tells what happened.
//
//	svc := ... // a sink or source runtime: Run(ctx) error, Force()
//	err := lifecycle.RunWithSignals(ctx, svc, lifecycle.Options{DrainTimeout: cfg.DrainTimeout})
//	if err != nil {
//		logger.Error("connector stopped", "error", err)
//	}
//	os.Exit(lifecycle.ExitCode(err))
//
// A service drains when the context given to Run ends: it stops taking
// messages, finishes what it holds, settles everything and returns. A
// service that can cut the drain short implements Forcer; RunWithSignals
// calls Force on a second signal, or when the drain deadline passes.
//
// Serve adds the operations endpoints of a binary around the same run:
// /metrics, /healthz and /readyz on METRICS_PORT, answering until the
// service has drained.
//
// Both runtimes, sink and source, are such services, and their binaries
// share this package.
package lifecycle
