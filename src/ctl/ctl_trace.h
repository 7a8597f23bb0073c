/*
 * ctl_trace: "ternctl trace", what happened to a message: every log
 * event of the messages that match a queue id, an address, @domain or a
 * <Message-ID>, with the session that submitted them and the
 * notifications they caused, in time order (docs/trace.md).
 */
#ifndef TERN_CTL_TRACE_H
#define TERN_CTL_TRACE_H

/* argv[0] is the first argument after "trace". Returns the exit status:
 * 0 events shown, 1 none found, 2 usage or a source that cannot be read. */
int ctl_trace(const char *config, int argc, char **argv);

#endif
