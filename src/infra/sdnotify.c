/*
 * The sd_notify datagram protocol, as systemd documents it: one AF_UNIX
 * SOCK_DGRAM datagram per notification, sent to the path in $NOTIFY_SOCKET;
 * a leading '@' names a socket in the abstract namespace (the '@' becomes a
 * NUL byte and the address length counts only the bytes of the name).
 */
#include "autoconfig.h"

#include "infra/sdnotify.h"

#include "infra/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

bool sdnotify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	char name[sizeof(sa.sun_path) * 4 + 8];
	size_t len;
	socklen_t salen;
	ssize_t sent;
	int fd, saved;

	if (!path || !*path)
		return true;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path) || len < 2) {
		log_warning("could not notify the service manager: NOTIFY_SOCKET \"%s\" is not an absolute path "
			    "or an abstract socket name that fits in %zu bytes",
			    log_sanitize(name, sizeof(name), path, len), sizeof(sa.sun_path) - 1);
		return false;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@') {
		sa.sun_path[0] = '\0';
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	}

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warning("could not notify the service manager (%s): socket: %s", state, strerror(errno));
		return false;
	}
	do
		sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen);
	while (sent < 0 && errno == EINTR);
	saved = errno;
	close(fd);
	if (sent < 0) {
		log_warning("could not notify the service manager at \"%s\" (%s): %s",
			    log_sanitize(name, sizeof(name), path, len), state, strerror(saved));
		return false;
	}
	log_debug("notified the service manager: %s", state);
	return true;
}
