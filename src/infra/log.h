/*
 * One logging API for the whole daemon: lines go to stderr (systemd's
 * journal picks them up), as text or as one JSON object per line.
 */
#ifndef CHARGEGATE_LOG_H
#define CHARGEGATE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum LogLevel { LOG_LVL_ERROR = 0, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG };
enum LogFormat { LOG_FMT_TEXT = 0, LOG_FMT_JSON };

void log_setup(enum LogLevel level, enum LogFormat format);
enum LogLevel log_level(void);

/* Parse "error|warning|info|debug" / "text|json"; false when unknown. */
bool log_parse_level(const char *s, enum LogLevel *out);
bool log_parse_format(const char *s, enum LogFormat *out);

void log_msg(enum LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...)                                                     \
	do {                                                              \
		if (log_level() >= LOG_LVL_INFO)                          \
			log_msg(LOG_LVL_INFO, __VA_ARGS__);               \
	} while (0)
#define log_debug(...)                                                    \
	do {                                                              \
		if (log_level() >= LOG_LVL_DEBUG)                         \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);              \
	} while (0)

/*
 * Copy untrusted text into buf for logging: non-printable bytes become
 * "\xNN", and the copy is cut (with "...") to fit.  Returns buf.
 */
const char *log_sanitize(char *buf, size_t bufsize, const char *text, size_t len);

#endif
