/*
 * test_metrics: the registry and its exposition. Each event is bumped
 * and the page must show it on exactly the line its labels name:
 * rejections by reply class and RFC 3463 subject, deliveries (a 4.4.7
 * bounce is "expired"), TLS names sanitized and their table bounded,
 * histogram buckets (a value on a bound counts in that bound's bucket).
 * The page's grammar as a whole is checked by test_metrics.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "metrics/metrics.h"

/* The page has this exact line. */
static void
has_line(const char *line)
{
	struct buf page = BUF_INIT, want = BUF_INIT;

	assert_int_equal(metrics_render(&page, NULL, NULL), 0);
	buf_printf(&want, "\n%s\n", line);
	if (strstr(buf_cstr(&page), buf_cstr(&want)) == NULL)
		fail_msg("no line '%s' in:\n%s", line, buf_cstr(&page));
	buf_release(&page);
	buf_release(&want);
}

static void
test_rejections(void **state)
{
	(void)state;
	metrics_reset();
	has_line("tern_smtp_rejections_total{class=\"permanent\",reason=\"address\"} 0");
	metrics_rejection("550 5.1.1 <x@y>: no such user");
	metrics_rejection("550 5.1.1 again");
	metrics_rejection("421 4.4.2 idle timeout");
	metrics_rejection("550-5.7.1 first line of several");
	metrics_rejection("500 unrecognized");              /* no enhanced code */
	metrics_rejection("451 5.3.0 mismatched");          /* class from the reply */
	metrics_rejection("552 5.9.9 no such subject");
	metrics_rejection("354 go ahead");                  /* not a refusal */
	metrics_rejection("250 2.0.0 ok");
	metrics_rejection("55");
	metrics_rejection("550");
	metrics_rejection("");
	metrics_rejection(NULL);
	has_line("tern_smtp_rejections_total{class=\"permanent\",reason=\"address\"} 2");
	has_line("tern_smtp_rejections_total{class=\"transient\",reason=\"network\"} 1");
	has_line("tern_smtp_rejections_total{class=\"permanent\",reason=\"policy\"} 1");
	has_line("tern_smtp_rejections_total{class=\"permanent\",reason=\"other\"} 3");
	has_line("tern_smtp_rejections_total{class=\"transient\",reason=\"other\"} 1");
}

static void
test_deliveries_sessions(void **state)
{
	(void)state;
	metrics_reset();
	metrics_delivery("sent", "2.0.0", "local");
	metrics_delivery("deferred", "4.2.2", "lmtp:unix:/run/dovecot/lmtp");
	metrics_delivery("bounced", "5.1.1", "mx.example.net[192.0.2.1]:25");
	metrics_delivery("bounced", "4.4.7", "mx.example.net[192.0.2.1]:25");
	metrics_delivery("bounced", "4.4.7", "lmtp:127.0.0.1:24");
	metrics_delivery("unknown", "2.0.0", "local");
	has_line("tern_deliveries_total{status=\"sent\",relay=\"local\"} 1");
	has_line("tern_deliveries_total{status=\"deferred\",relay=\"lmtp\"} 1");
	has_line("tern_deliveries_total{status=\"bounced\",relay=\"smtp\"} 1");
	has_line("tern_deliveries_total{status=\"expired\",relay=\"smtp\"} 1");
	has_line("tern_deliveries_total{status=\"expired\",relay=\"lmtp\"} 1");

	metrics_session_open(metrics_service_of("imaps"));
	metrics_session_open(metrics_service_of("imaps"));
	metrics_session_open(metrics_service_of("nonesuch"));
	metrics_session_close(metrics_service_of("imaps"));
	has_line("tern_sessions_active{service=\"imaps\"} 1");
	has_line("tern_sessions_total{service=\"imaps\"} 2");
	has_line("tern_sessions_active{service=\"other\"} 1");

	metrics_auth_failure(NULL);
	metrics_auth_failure("account-locked");
	metrics_auth_failure("client-locked");
	metrics_auth_failure("client-locked");
	has_line("tern_auth_failures_total{reason=\"password\"} 1");
	has_line("tern_auth_failures_total{reason=\"account_locked\"} 1");
	has_line("tern_auth_failures_total{reason=\"client_locked\"} 2");
	metrics_dsn(true);
	metrics_dsn(false);
	metrics_dsn(true);
	has_line("tern_dsns_total{result=\"queued\"} 2");
	has_line("tern_dsns_total{result=\"failed\"} 1");
}

static void
test_tls(void **state)
{
	char info[64];
	int i;

	(void)state;
	metrics_reset();
	metrics_tls_handshake(false, "TLSv1.3 TLS_AES_256_GCM_SHA384");
	metrics_tls_handshake(false, "TLSv1.3 TLS_AES_256_GCM_SHA384");
	metrics_tls_handshake(true, "TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 verified=no");
	metrics_tls_handshake(true, "TLSv1.3 B\"AD\\CI}PHER\n");
	metrics_tls_handshake(true, "");
	has_line("tern_tls_handshakes_total{direction=\"in\",version=\"TLSv1.3\",cipher=\"TLS_AES_256_GCM_SHA384\"} 2");
	has_line("tern_tls_handshakes_total{direction=\"out\",version=\"TLSv1.2\",cipher=\"ECDHE-RSA-AES128-GCM-SHA256\"} 1");
	has_line("tern_tls_handshakes_total{direction=\"out\",version=\"TLSv1.3\",cipher=\"B_AD_CI_PHER_\"} 1");
	has_line("tern_tls_handshakes_total{direction=\"out\",version=\"unknown\",cipher=\"unknown\"} 1");
	/* Past the table's room, further names share one series. */
	for (i = 0; i < 40; i++) {
		snprintf(info, sizeof(info), "TLSv1.3 CIPHER%d", i);
		metrics_tls_handshake(false, info);
	}
	has_line("tern_tls_handshakes_total{direction=\"in\",version=\"other\",cipher=\"other\"} 12");
	metrics_tls_failure(true);
	has_line("tern_tls_handshake_failures_total{direction=\"out\"} 1");
}

static void
test_histograms_queue(void **state)
{
	struct metrics_queue q = { .known = true, .messages = 3, .deferred = 1, .held = 0,
	    .octets = 4096, .oldest_age = 12.5 };
	struct buf page = BUF_INIT;

	(void)state;
	metrics_reset();
	metrics_commit_observe(0.0005);     /* on a bound: in its bucket */
	metrics_commit_observe(0.003);
	metrics_commit_observe(20);         /* past the last bound */
	metrics_commit_observe(-1);         /* a clock step: no time */
	has_line("tern_queue_commit_duration_seconds_bucket{le=\"0.0005\"} 2");
	has_line("tern_queue_commit_duration_seconds_bucket{le=\"0.001\"} 2");
	has_line("tern_queue_commit_duration_seconds_bucket{le=\"0.005\"} 3");
	has_line("tern_queue_commit_duration_seconds_bucket{le=\"10\"} 3");
	has_line("tern_queue_commit_duration_seconds_bucket{le=\"+Inf\"} 4");
	has_line("tern_queue_commit_duration_seconds_count 4");
	has_line("tern_queue_commit_duration_seconds_sum 20.003500000");
	metrics_dns_observe(0.02);
	has_line("tern_dns_query_duration_seconds_bucket{le=\"0.01\"} 0");
	has_line("tern_dns_query_duration_seconds_bucket{le=\"0.025\"} 1");

	/* The queue's gauges only when the queue is known. */
	has_line("tern_messages_accepted_total 0");
	assert_int_equal(metrics_render(&page, NULL, NULL), 0);
	assert_null(strstr(buf_cstr(&page), "tern_queue_messages"));
	buf_reset(&page);
	assert_int_equal(metrics_render(&page, &q, NULL), 0);
	assert_non_null(strstr(buf_cstr(&page), "\ntern_queue_messages 3\n"));
	assert_non_null(strstr(buf_cstr(&page), "\ntern_queue_deferred_messages 1\n"));
	assert_non_null(strstr(buf_cstr(&page), "\ntern_queue_size_bytes 4096\n"));
	assert_non_null(strstr(buf_cstr(&page), "\ntern_queue_oldest_message_age_seconds 12.500\n"));
	assert_null(strstr(buf_cstr(&page), "process_"));

	/* The process's figures only when given. */
	struct metrics_process p = { .known = true, .rss = 15 << 20, .open_fds = 31,
	    .max_fds = 1024, .heap_in_use = 7 << 20, .heap_free = 600 << 10,
	    .cpu_seconds = 1.25 };

	buf_reset(&page);
	assert_int_equal(metrics_render(&page, NULL, &p), 0);
	assert_non_null(strstr(buf_cstr(&page), "\nprocess_resident_memory_bytes 15728640\n"));
	assert_non_null(strstr(buf_cstr(&page), "\nprocess_cpu_seconds_total 1.250\n"));
	assert_non_null(strstr(buf_cstr(&page), "\nprocess_open_fds 31\n"));
	assert_non_null(strstr(buf_cstr(&page), "\nprocess_max_fds 1024\n"));
	assert_non_null(strstr(buf_cstr(&page), "\ntern_heap_in_use_bytes 7340032\n"));
	assert_non_null(strstr(buf_cstr(&page), "\ntern_heap_free_bytes 614400\n"));
	assert_non_null(strstr(buf_cstr(&page), "# TYPE process_cpu_seconds_total counter\n"));
	buf_release(&page);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_deliveries_sessions),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_histograms_queue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
