/* libevent's side of the DNS benchmark: N A lookups through evdns against one name server,
 * INFLIGHT at a time (a new lookup starts as each one finishes), names h0.bench.levent,
 * h1.bench.levent, ... Returns the nanoseconds from the first lookup to the last answer, and
 * the process's CPU time (user + system) over the same span in *cpu. */
#include <event2/dns.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

struct dns_state {
    struct event_base *base;
    struct evdns_base *dns;
    int next, total, done, errors;
};

static void dns_start_one(struct dns_state *s);

static void dns_answered(int result, char type, int count, int ttl, void *addresses, void *arg) {
    struct dns_state *s = arg;
    (void)type;
    (void)ttl;
    (void)addresses;
    if (result != DNS_ERR_NONE || count < 1)
        s->errors++;
    s->done++;
    if (s->next < s->total)
        dns_start_one(s);
    else if (s->done == s->total)
        event_base_loopbreak(s->base);
}

static void dns_start_one(struct dns_state *s) {
    char name[64];
    snprintf(name, sizeof name, "h%d.bench.levent", s->next++);
    if (!evdns_base_resolve_ipv4(s->dns, name, DNS_QUERY_NO_SEARCH, dns_answered, s)) {
        s->errors++;
        s->done++;
    }
}

static uint64_t dns_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t dns_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

uint64_t dns_bench(const char *server, int n, int inflight, int *errors, uint64_t *cpu) {
    struct dns_state s = {0};
    char max[16];
    s.base = event_base_new();
    s.dns = evdns_base_new(s.base, 0);
    if (!s.base || !s.dns || evdns_base_nameserver_ip_add(s.dns, server) != 0)
        return 0;
    /* evdns queues lookups beyond max-inflight (64 by default): allow the benchmark's load. */
    snprintf(max, sizeof max, "%d", inflight);
    evdns_base_set_option(s.dns, "max-inflight:", max);
    s.total = n;
    uint64_t start = dns_now();
    uint64_t cpu0 = dns_cpu();
    for (int i = 0; i < inflight && s.next < n; i++)
        dns_start_one(&s);
    event_base_dispatch(s.base);
    uint64_t ns = dns_now() - start;
    *cpu = dns_cpu() - cpu0;
    *errors = s.errors;
    evdns_base_free(s.dns, 0);
    event_base_free(s.base);
    return ns;
}
