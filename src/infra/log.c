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

/* Length of the valid UTF-8 sequence at p (overlongs, surrogates and cut sequences: 0). */
static int utf8_len(const unsigned char *p)
{
	int n;
	unsigned int cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/*
 * JSON-escape s into out: control bytes as \u00NN, bytes that are not
 * UTF-8 as U+FFFD, so that every line parses whatever the text held.
 */
static void json_escape(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		int n = utf8_len(p);

		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else if (n == 0)
			fputs("\\ufffd", out);
		else
			fwrite(p, 1, (size_t)n, out);
		p += n ? n : 1;
	}
}

static void json_member(FILE *out, const char *name, const char *value)
{
	if (!value)
		return;
	fprintf(out, ",\"%s\":\"", name);
	json_escape(out, value);
	fputc('"', out);
}

/* A text field value: printable ASCII as it is, anything else as \xNN, quoted when it has spaces. */
static void text_member(FILE *out, const char *name, const char *value)
{
	bool quote;

	if (!value)
		return;
	quote = !value[0] || strpbrk(value, " \"=") != NULL;
	fprintf(out, " %s=%s", name, quote ? "\"" : "");
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	if (quote)
		fputc('"', out);
}

static void text_msg(FILE *out, const char *msg)
{
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
		fputc(*p == '\n' || *p == '\r' ? ' ' : *p, out);
}

static void write_fields(FILE *out, enum LogFormat format, const struct LogFields *f)
{
	void (*member)(FILE *, const char *, const char *) = format == LOG_FMT_JSON ? json_member : text_member;

	member(out, "request_id", f->request_id);
	member(out, "event_id", f->event_id);
	member(out, "subscription", f->subscription);
	member(out, "destination", f->destination);
	if (f->attempt > 0)
		fprintf(out, format == LOG_FMT_JSON ? ",\"attempt\":%d" : " attempt=%d", f->attempt);
	member(out, "error_class", f->error_class);
}

void log_write(FILE *out, enum LogFormat format, const char *ts, long pid, enum LogLevel level,
	       const struct LogFields *f, const char *msg)
{
	if (format == LOG_FMT_JSON) {
		fprintf(out, "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%ld,\"msg\":\"", ts, level_names[level], pid);
		json_escape(out, msg);
		fputc('"', out);
		if (f)
			write_fields(out, format, f);
		fputs("}\n", out);
	} else {
		fprintf(out, "%s [%ld] %s: ", ts, pid, level_names[level]);
		text_msg(out, msg);
		if (f)
			write_fields(out, format, f);
		fputc('\n', out);
	}
}

static void log_vmsg(enum LogLevel level, const struct LogFields *f, const char *fmt, va_list ap)
{
	char msg[4096];
	char ts[32], tsms[64];
	struct timeval tv;
	struct tm tm;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(tsms, sizeof(tsms), "%s.%03ldZ", ts, (long)(tv.tv_usec / 1000));
	flockfile(stderr);
	log_write(stderr, current_format, tsms, (long)getpid(), level, f, msg);
	funlockfile(stderr);
}

void log_at(enum LogLevel level, const struct LogFields *f, const char *fmt, ...)
{
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	log_vmsg(level, f, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
