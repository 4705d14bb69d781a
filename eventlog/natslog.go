package eventlog

import (
	"fmt"
	"log/slog"
)

// natsLogger passes the embedded NATS server's warnings and errors to the
// service's log, so that what the store says about damaged files is seen.
// Notices are logged at debug level: they are routine start-up chatter.
type natsLogger struct{ logger *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) {
	l.logger.Debug(fmt.Sprintf(format, v...), "component", "nats")
}

func (l natsLogger) Warnf(format string, v ...any) {
	l.logger.Warn(fmt.Sprintf(format, v...), "component", "nats")
}

func (l natsLogger) Fatalf(format string, v ...any) {
	l.logger.Error(fmt.Sprintf(format, v...), "component", "nats")
}

func (l natsLogger) Errorf(format string, v ...any) {
	l.logger.Error(fmt.Sprintf(format, v...), "component", "nats")
}

func (l natsLogger) Debugf(format string, v ...any) {}

func (l natsLogger) Tracef(format string, v ...any) {}
