#include "autoconfig.h"

#include "infra/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum LogLevel current_level = LOG_LVL_INFO;
static enum LogFormat current_format = LOG_FMT_TEXT;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_setup(enum LogLevel level, enum LogFormat format)
{
	current_level = level;
	current_format = format;
}

enum LogLevel log_level(void)
{
	return current_level;
}

bool log_parse_level(const char *s, enum LogLevel *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum LogLevel)i;
			return true;
		}
	}
	return false;
}

bool log_parse_format(const char *s, enum LogFormat *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_FMT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FMT_JSON;
	else
		return false;
	return true;
}

const char *log_sanitize(char *buf, size_t bufsize, const char *text, size_t len)
{
	size_t o = 0;

	if (bufsize < 8) {
		if (bufsize)
			buf[0] = '\0';
		return buf;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;

		if (o + need + 4 > bufsize) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (need == 1)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, bufsize - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

/* JSON-escape msg into out; the log line stays one line whatever msg holds. */
static void json_escape(FILE *out, const char *msg)
{
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
}

static void log_vmsg(enum LogLevel level, const char *fmt, va_list ap)
{
	char msg[4096];
	char ts[64];
	struct timeval tv;
	struct tm tm;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

	flockfile(stderr);
	if (current_format == LOG_FMT_JSON) {
		fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"pid\":%ld,\"msg\":\"",
			ts, (long)(tv.tv_usec / 1000), level_names[level], (long)getpid());
		json_escape(stderr, msg);
		fputs("\"}\n", stderr);
	} else {
		for (char *p = msg; *p; p++) {
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		}
		fprintf(stderr, "%s.%03ldZ [%ld] %s: %s\n", ts, (long)(tv.tv_usec / 1000),
			(long)getpid(), level_names[level], msg);
	}
	funlockfile(stderr);
}

void log_msg(enum LogLevel level, const char *fmt, ...)
{
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
