#include "autoconfig.h"

#include "infra/log.h"

#include <stdarg.h>
#include <stdint.h>
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
 * A line is built in memory and written with one call: stderr is
 * unbuffered, and a write per byte would cost a system call per byte.
 * Field values longer than this are cut; the message is at most 4095 bytes.
 */
#define FIELD_MAX 512
#define LINE_MAX_BYTES (4096 * 6 + 6 * (FIELD_MAX * 6 + 32) + 256)	/* every byte escaped */

struct Line {
	char *b;
	size_t n, size;
};

static void put(struct Line *l, const char *s, size_t n)
{
	if (n > l->size - l->n)
		n = l->size - l->n;
	memcpy(l->b + l->n, s, n);
	l->n += n;
}

static void put_str(struct Line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void put_fmt(struct Line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(struct Line *l, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(l, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/*
 * JSON-escape at most max bytes of s: control bytes as \u00NN, bytes that
 * are not UTF-8 as U+FFFD, so that every line parses whatever the text held.
 */
static void json_escape(struct Line *l, const char *s, size_t max)
{
	const unsigned char *start = (const unsigned char *)s;

	for (const unsigned char *p = start; *p;) {
		int n = utf8_len(p);

		if ((size_t)(p - start) + (size_t)(n ? n : 1) > max)
			break;
		if (*p == '"' || *p == '\\')
			put_fmt(l, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			put_fmt(l, "\\u%04x", *p);
		else if (n == 0)
			put_str(l, "\\ufffd");
		else
			put(l, (const char *)p, (size_t)n);
		p += n ? n : 1;
	}
}

static void json_member(struct Line *l, const char *name, const char *value)
{
	if (!value)
		return;
	put_fmt(l, ",\"%s\":\"", name);
	json_escape(l, value, FIELD_MAX);
	put_str(l, "\"");
}

/* A text field value: printable ASCII as it is, anything else as \xNN, quoted when it has blanks. */
static void text_member(struct Line *l, const char *name, const char *value)
{
	size_t len;
	bool quote;

	if (!value)
		return;
	len = strnlen(value, FIELD_MAX);
	quote = len == 0 || strcspn(value, " \"=") < len;
	put_fmt(l, " %s=%s", name, quote ? "\"" : "");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c == '"' || c == '\\')
			put_fmt(l, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			put_fmt(l, "\\x%02x", c);
		else
			put(l, (const char *)&c, 1);
	}
	if (quote)
		put_str(l, "\"");
}

static void text_msg(struct Line *l, const char *msg)
{
	for (const char *p = msg; *p; p++)
		put(l, *p == '\n' || *p == '\r' ? " " : p, 1);
}

static void write_fields(struct Line *l, enum LogFormat format, const struct LogFields *f)
{
	void (*member)(struct Line *, const char *, const char *) = format == LOG_FMT_JSON ? json_member : text_member;

	member(l, "request_id", f->request_id);
	member(l, "event_id", f->event_id);
	member(l, "subscription", f->subscription);
	member(l, "destination", f->destination);
	if (f->attempt > 0)
		put_fmt(l, format == LOG_FMT_JSON ? ",\"attempt\":%d" : " attempt=%d", f->attempt);
	member(l, "error_class", f->error_class);
}

static void build_line(struct Line *l, enum LogFormat format, const char *ts, long pid, enum LogLevel level,
		       const struct LogFields *f, const char *msg)
{
	if (format == LOG_FMT_JSON) {
		put_fmt(l, "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%ld,\"msg\":\"", ts, level_names[level], pid);
		json_escape(l, msg, SIZE_MAX);
		put_str(l, "\"");
		if (f)
			write_fields(l, format, f);
		put_str(l, "}");
	} else {
		put_fmt(l, "%s [%ld] %s: ", ts, pid, level_names[level]);
		text_msg(l, msg);
		if (f)
			write_fields(l, format, f);
	}
	/* the newline fits whatever came before: a cut line still ends */
	if (l->n == l->size)
		l->n--;
	l->b[l->n++] = '\n';
}

void log_write(FILE *out, enum LogFormat format, const char *ts, long pid, enum LogLevel level,
	       const struct LogFields *f, const char *msg)
{
	/* static: too large for every stack it may be called on; the lock makes it one writer's */
	static char buf[LINE_MAX_BYTES];
	struct Line l = { buf, 0, sizeof(buf) };

	flockfile(out);
	build_line(&l, format, ts, pid, level, f, msg);
	fwrite(l.b, 1, l.n, out);
	funlockfile(out);
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
	log_write(stderr, current_format, tsms, (long)getpid(), level, f, msg);
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
