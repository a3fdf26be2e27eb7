/*
 * sdnotify.h - tells systemd how the service is doing (Type=notify), with
 * the sd_notify datagram protocol and no libsystemd: one "KEY=VALUE\n..."
 * datagram to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an
 * abstract-namespace name written with a leading '@').
 *
 * Every function is a no-op returning 0 when $NOTIFY_SOCKET is unset (not
 * started by systemd). They keep no state and may be called from any thread.
 */
#ifndef WASP_DAEMON_SDNOTIFY_H
#define WASP_DAEMON_SDNOTIFY_H

/*
 * Sends `state` as one datagram, e.g. "READY=1\nSTATUS=serving".
 * @return 1 when sent, 0 when $NOTIFY_SOCKET is unset, -1 on error (errno
 *         set; EINVAL for a $NOTIFY_SOCKET that is not '/...' or '@...').
 */
int sdnotify_send(const char *state);

/* "READY=1": start-up, or a reload, is complete. */
int sdnotify_ready(void);

/* "RELOADING=1" with "MONOTONIC_USEC=" (CLOCK_MONOTONIC now): a reload
 * starts; follow with sdnotify_ready() when it ends, whatever the outcome. */
int sdnotify_reloading(void);

/* "STOPPING=1": shutdown (draining) has begun. */
int sdnotify_stopping(void);

/* "STATUS=<text>": a one-line status shown by `systemctl status`.
 * Newlines in the formatted text are replaced by spaces. */
int sdnotify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* WASP_DAEMON_SDNOTIFY_H */
