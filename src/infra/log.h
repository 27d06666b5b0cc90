/*
 * One logging API for the whole daemon: lines go to stderr (systemd's
 * journal picks them up), as text or as one JSON object per line.
 */
#ifndef CHARGEGATE_LOG_H
#define CHARGEGATE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum LogLevel { LOG_LVL_ERROR = 0, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG };
enum LogFormat { LOG_FMT_TEXT = 0, LOG_FMT_JSON };

void log_setup(enum LogLevel level, enum LogFormat format);
enum LogLevel log_level(void);

/* Parse "error|warning|info|debug" / "text|json"; false when unknown. */
bool log_parse_level(const char *s, enum LogLevel *out);
bool log_parse_format(const char *s, enum LogFormat *out);

/*
 * What a line is about, as fields rather than words in the message, so that
 * jq 'select(.request_id == "...")' follows one request across daemons.
 * NULL (or attempt 0) leaves a field out.  Borrowed, never copied: a caller
 * passes a compound literal, nothing is allocated.
 */
struct LogFields {
	const char *request_id;
	const char *event_id;
	const char *subscription;
	const char *destination;	/* a callback destination's key, "scheme://host:port" */
	const char *error_class;
	int attempt;
};

/* The fields of one call: log_info_f(LOG_F(.request_id = id, .attempt = n), "..."). */
#define LOG_F(...) (&(const struct LogFields){ __VA_ARGS__ })

void log_at(enum LogLevel level, const struct LogFields *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * One line as it is written: ts is the timestamp text, msg the formatted
 * message.  JSON lines are valid JSON whatever bytes msg or a field holds;
 * text lines are one printable line.  Exposed for the unit test.
 */
void log_write(FILE *out, enum LogFormat format, const char *ts, long pid, enum LogLevel level,
	       const struct LogFields *f, const char *msg);

#define log_msg(level, ...) log_at(level, NULL, __VA_ARGS__)

#define log_error_f(f, ...) log_at(LOG_LVL_ERROR, f, __VA_ARGS__)
#define log_warning_f(f, ...) log_at(LOG_LVL_WARNING, f, __VA_ARGS__)
#define log_info_f(f, ...)                                                \
	do {                                                              \
		if (log_level() >= LOG_LVL_INFO)                          \
			log_at(LOG_LVL_INFO, f, __VA_ARGS__);             \
	} while (0)
#define log_debug_f(f, ...)                                               \
	do {                                                              \
		if (log_level() >= LOG_LVL_DEBUG)                         \
			log_at(LOG_LVL_DEBUG, f, __VA_ARGS__);            \
	} while (0)

#define log_error(...) log_error_f(NULL, __VA_ARGS__)
#define log_warning(...) log_warning_f(NULL, __VA_ARGS__)
#define log_info(...) log_info_f(NULL, __VA_ARGS__)
#define log_debug(...) log_debug_f(NULL, __VA_ARGS__)

/*
 * Copy untrusted text into buf for logging: non-printable bytes become
 * "\xNN", and the copy is cut (with "...") to fit.  Returns buf.
 */
const char *log_sanitize(char *buf, size_t bufsize, const char *text, size_t len);

#endif
