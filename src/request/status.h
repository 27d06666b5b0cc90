/*
 * The ChargingSessionRequest context's consumers: they keep each request's
 * status, decision and callback attempt count current from the decision and
 * delivery events (accepted -> decided -> delivered | delivery_failed).
 */
#ifndef CHARGEGATE_REQUEST_STATUS_H
#define CHARGEGATE_REQUEST_STATUS_H

struct event_base;
struct Transport;
struct QueueSettings;
struct RequestStatus;

struct RequestStatus *request_status_new(struct event_base *base, struct Transport *t, const struct QueueSettings *qs);
void request_status_free(struct RequestStatus *rs);
int request_status_busy(const struct RequestStatus *rs);

#endif
