/*
 * sd_notify(3) without libsystemd: tell the service manager about state
 * changes ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...") through
 * the datagram socket named by $NOTIFY_SOCKET.
 *
 * A no-op when $NOTIFY_SOCKET is unset or empty (not started by systemd, or
 * Type= is not notify).  Failures are logged as warnings and never stop the
 * daemon: a lost notification is the service manager's problem to time out.
 */
#ifndef CHARGEGATE_SDNOTIFY_H
#define CHARGEGATE_SDNOTIFY_H

#include <stdbool.h>

/*
 * Send state (one or more "KEY=value" lines separated by '\n') in one
 * datagram.  True when it was sent or there is nobody to send it to; false
 * (after a log_warning) when sending failed.
 */
bool sdnotify_send(const char *state);

#endif
