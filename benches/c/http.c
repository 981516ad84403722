/* The HTTP hello-world on libevent's evhttp: one thread, one event_base, a generic callback
 * answering every request with "Hello, World!". Prints "listening on IP:PORT" once bound (port 0
 * picks a free one) and runs until SIGTERM or SIGINT. With THREADS above 1, as libevent's users
 * scale out: one event_base and evhttp per thread, each accepting on a listener of its own bound
 * to the same port with SO_REUSEPORT. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>

static void hello(struct evhttp_request *req, void *arg) {
    (void)arg;
    struct evbuffer *body = evhttp_request_get_output_buffer(req);
    evbuffer_add(body, "Hello, World!", 13);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void stop(evutil_socket_t sig, short which, void *base) {
    (void)sig;
    (void)which;
    event_base_loopbreak(base);
}

/* A non-blocking listener on ip:port with SO_REUSEPORT, or -1. */
static int listen_shared(const char *ip, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        listen(fd, 1024) != 0 || evutil_make_socket_nonblocking(fd) != 0) {
        evutil_closesocket(fd);
        return -1;
    }
    return fd;
}

static void *dispatch(void *base) {
    event_base_dispatch(base);
    return NULL;
}

/* THREADS event_bases, each with its evhttp on its own SO_REUSEPORT listener; the first runs on
 * this thread and stops at SIGTERM or SIGINT (the process then ends). */
static int http_serve_threads(const char *ip, int port, int threads) {
    struct event_base *bases[64];
    if (threads > 64) threads = 64;
    for (int i = 0; i < threads; i++) {
        int fd = listen_shared(ip, port);
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);
        if (fd < 0 || getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
            fprintf(stderr, "libevent-bench: cannot bind %s:%d\n", ip, port);
            return 1;
        }
        port = ntohs(sin.sin_port);
        bases[i] = event_base_new();
        struct evhttp *http = bases[i] ? evhttp_new(bases[i]) : NULL;
        if (!http || !evhttp_accept_socket_with_handle(http, fd)) return 1;
        evhttp_set_gencb(http, hello, NULL);
    }
    printf("listening on %s:%d\n", ip, port);
    fflush(stdout);
    for (int i = 1; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, dispatch, bases[i]) != 0) return 1;
    }
    struct event *term = evsignal_new(bases[0], SIGTERM, stop, bases[0]);
    struct event *intr = evsignal_new(bases[0], SIGINT, stop, bases[0]);
    event_add(term, NULL);
    event_add(intr, NULL);
    event_base_dispatch(bases[0]);
    return 0;
}

int http_serve(const char *ip, int port, int threads) {
    if (threads > 1) return http_serve_threads(ip, port, threads);
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    if (!http) return 1;
    evhttp_set_gencb(http, hello, NULL);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, ip, (unsigned short)port);
    if (!bound) {
        fprintf(stderr, "libevent-bench: cannot bind %s:%d\n", ip, port);
        return 1;
    }
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len) != 0) return 1;
    printf("listening on %s:%d\n", ip, ntohs(sin.sin_port));
    fflush(stdout);
    struct event *term = evsignal_new(base, SIGTERM, stop, base);
    struct event *intr = evsignal_new(base, SIGINT, stop, base);
    event_add(term, NULL);
    event_add(intr, NULL);
    event_base_dispatch(base);
    event_free(term);
    event_free(intr);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}
