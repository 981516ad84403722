/* Timers on libevent: add N timers with random timeouts of 1 to 1000 ms, cancel every second one,
 * let every deadline pass, then fire the rest. Prints nanoseconds per add, cancel and fire. */
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long fired;
static void on_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd; (void)what; (void)arg;
    fired++;
}

/* xorshift64*, seeded, so every run uses the same timeouts for a given seed. */
static uint64_t rng_state;
static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

int timers(int n, uint64_t seed) {
    struct event_base *base = event_base_new();
    struct event **evs = calloc((size_t)n, sizeof(*evs));
    if (!base || !evs) return 1;
    rng_state = seed ? seed : 1;
    for (int i = 0; i < n; i++) evs[i] = evtimer_new(base, on_timer, NULL);
    struct timeval *tvs = calloc((size_t)n, sizeof(*tvs));
    for (int i = 0; i < n; i++) {
        long ms = 1 + (long)(rng() % 1000);
        tvs[i].tv_sec = ms / 1000;
        tvs[i].tv_usec = (ms % 1000) * 1000;
    }
    uint64_t t0 = now_ns();
    for (int i = 0; i < n; i++) evtimer_add(evs[i], &tvs[i]);
    uint64_t t1 = now_ns();
    for (int i = 0; i < n; i += 2) evtimer_del(evs[i]);
    uint64_t t2 = now_ns();
    usleep(1100 * 1000);
    fired = 0;
    long want = n / 2;
    uint64_t t3 = now_ns();
    while (fired < want) event_base_loop(base, EVLOOP_NONBLOCK);
    uint64_t t4 = now_ns();
    int cancelled = (n + 1) / 2;
    printf("%.2f %.2f %.2f\n", (double)(t1 - t0) / n, (double)(t2 - t1) / cancelled,
           (double)(t4 - t3) / (double)fired);
    for (int i = 0; i < n; i++) event_free(evs[i]);
    free(evs);
    free(tvs);
    event_base_free(base);
    return 0;
}
