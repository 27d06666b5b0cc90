/*
 * The operators' status page (DESIGN §6, admin.listen): a read-only
 * listener of its own, apart from the public API, serving /ui (HTML, CSS
 * and JavaScript compiled into the binary), the JSON it reads
 * (/ui/api/status, /ui/api/requests, /ui/api/requests/{id}: the results
 * of the SQL functions chargegatectl shows too) and /metrics.  It answers
 * only to a Host that is an IP address, localhost or admin.listen's host
 * (DNS rebinding), with 421 otherwise.
 */
#ifndef CHARGEGATE_ADMIN_H
#define CHARGEGATE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct HttpExchange;
struct PgPool;
struct Admin;

/*
 * Listen on listen; reads go through pool (not consumed: free it before
 * admin_free, so that what it still fails is answered on a live server).
 * NULL with the reason in err when the address cannot be used.
 */
struct Admin *admin_new(struct event_base *base, struct PgPool *pool, const char *listen,
			int64_t request_timeout_ms, char *err, size_t errsize);
/*
 * The page without a listener of its own, for admin.listen = http.listen:
 * the API's listener hands it the paths admin_owns_path() accepts
 * through admin_serve (arg: the Admin).
 */
struct Admin *admin_new_shared(struct PgPool *pool, const char *listen);
bool admin_owns_path(const char *path);
void admin_serve(struct HttpExchange *x, void *arg);
/* Draining: no new connections; what is in progress is still answered. */
void admin_stop_accepting(struct Admin *a);
/* Exchanges not answered yet; draining waits for them. */
int admin_pending(const struct Admin *a);
void admin_free(struct Admin *a);

#endif
