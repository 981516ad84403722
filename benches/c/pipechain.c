/* The pipe-chain benchmark on libevent: libevent's own test/bench.c method.
 * N socket pairs, each with a persistent read event; A bytes in flight; each callback reads up
 * to 16 bytes with one read(2) and writes one byte into the next pair until W writes are done. Returns nanoseconds of the
 * dispatch loop and, through *events, how many callbacks ran. */
#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int *pipes;
static int num_pipes, writes, count, fired;

static void read_cb(evutil_socket_t fd, short which, void *arg) {
    long idx = (long)arg, widx = idx + 1;
    unsigned char buf[16];
    (void)which;
    /* One read of up to 16 bytes; a short read is taken as drained (level-triggered anyway). */
    count += (int)read(fd, buf, sizeof(buf));
    if (writes) {
        if (widx >= num_pipes) widx -= num_pipes;
        (void)!write(pipes[2 * widx + 1], "e", 1);
        writes--;
        fired++;
    }
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t pipechain(int n, int a, int w, uint64_t *events) {
    struct event_base *base = event_base_new();
    struct event **evs = calloc((size_t)n, sizeof(*evs));
    pipes = calloc((size_t)n * 2, sizeof(int));
    num_pipes = n;
    if (!base || !evs || !pipes) return 0;
    for (int i = 0; i < n; i++) {
        if (evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, &pipes[2 * i]) == -1) return 0;
        evutil_make_socket_nonblocking(pipes[2 * i]);
        evutil_make_socket_nonblocking(pipes[2 * i + 1]);
        evs[i] = event_new(base, pipes[2 * i], EV_READ | EV_PERSIST, read_cb, (void *)(long)i);
        event_add(evs[i], NULL);
    }
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    fired = 0;
    int space = (n / a) * 2;
    for (int i = 0; i < a; i++, fired++) (void)!write(pipes[i * space + 1], "e", 1);
    count = 0;
    writes = w;
    uint64_t t0 = now_ns();
    do {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    } while (count != fired);
    uint64_t t1 = now_ns();
    *events = (uint64_t)count;
    for (int i = 0; i < n; i++) {
        event_free(evs[i]);
        close(pipes[2 * i]);
        close(pipes[2 * i + 1]);
    }
    free(evs);
    free(pipes);
    event_base_free(base);
    return t1 - t0;
}
